#include "api/cli/vector_files.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "engine/types.h"

namespace vecmesh::cli {
namespace {

namespace fs = std::filesystem;
using engine::Status;
using engine::StatusOr;
using nlohmann::json;

// float32 values are copied from the file as they are: the files are little-endian.
static_assert(std::endian::native == std::endian::little);

const size_t kMaxDimension = engine::Limits{}.max_dimension;
const size_t kMaxIdBytes = engine::Limits{}.max_id_bytes;
// NumPy writes headers of a few hundred bytes; a larger one is not a vector file.
constexpr uint32_t kMaxNpyHeaderBytes = 1 << 20;

uint16_t GetU16(const char* p) {
  return static_cast<uint16_t>(static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[1])
                                                                      << 8);
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

int32_t GetI32(const char* p) { return static_cast<int32_t>(GetU32(p)); }

// Every half-precision value is exactly a float: the exponent is rebiased and the mantissa
// widened; subnormals (exponent 0) are mantissa * 2^-24; infinities and NaNs stay what they are.
float HalfToFloat(uint16_t half) {
  const bool negative = (half & 0x8000u) != 0;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return negative ? -magnitude : magnitude;
  }
  const uint32_t sign = negative ? 0x80000000u : 0u;
  const uint32_t float_exponent = exponent == 0x1fu ? 0xffu : exponent - 15 + 127;
  return std::bit_cast<float>(sign | float_exponent << 23 | mantissa << 13);
}

std::string Plural(uint64_t n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

Status RowError(const std::string& path, uint64_t row, const std::string& what) {
  return Status::InvalidArgument(path + ", row " + std::to_string(row) + ": " + what);
}

Status ReadFailed(const std::string& path) {
  return Status::Unavailable("reading " + path + " failed: " + std::strerror(errno));
}

// "" for a dimension a vector may have; otherwise what is wrong with it.
template <typename Integer>
std::string DimensionProblem(Integer dimension) {
  if (dimension >= 1 && static_cast<uint64_t>(dimension) <= kMaxDimension) return "";
  return "dimension " + std::to_string(dimension) + " is not between 1 and " +
         std::to_string(kMaxDimension);
}

// Opens `path` for reading and says how large it is.
Status OpenInput(const std::string& path, std::ifstream* in, uint64_t* size) {
  std::error_code error;
  *size = fs::file_size(path, error);
  if (error == std::errc::no_such_file_or_directory) {
    return Status::NotFound("cannot open " + path + ": " + error.message());
  }
  if (error) return Status::InvalidArgument("cannot read " + path + ": " + error.message());
  in->open(path, std::ios::binary);
  if (!*in) return Status::InvalidArgument("cannot open " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

// Reads up to `n` bytes (fewer only at the end of the file) and says how many it read.
StatusOr<size_t> ReadUpTo(std::ifstream& in, const std::string& path, char* out, size_t n) {
  in.read(out, static_cast<std::streamsize>(n));
  if (in.bad()) return ReadFailed(path);
  return static_cast<size_t>(in.gcount());
}

Status SeekTo(std::ifstream& in, const std::string& path, uint64_t offset) {
  in.clear();  // the end of the file may have been reached
  in.seekg(static_cast<std::streamoff>(offset));
  return in ? Status::Ok() : ReadFailed(path);
}

// The ids of an .ivecs file, read alongside the vectors: its record i holds the id of vector i.
class IdsFile {
 public:
  static constexpr size_t kRecordBytes = 8;  // int32 1, then the id

  static StatusOr<std::unique_ptr<IdsFile>> Open(const std::string& path,
                                                 const std::string& vectors_path) {
    if (fs::path(path).extension() != ".ivecs") {
      return Status::InvalidArgument("ids file " + path + " is not an .ivecs file");
    }
    auto ids = std::unique_ptr<IdsFile>(new IdsFile(path, vectors_path));
    uint64_t size = 0;
    if (Status s = OpenInput(path, &ids->in_, &size); !s.ok()) return s;
    if (size % kRecordBytes != 0) {
      return Status::InvalidArgument(
          path + ": " + Plural(size, "byte") +
          " are not a whole number of ids (8 bytes each: int32 1, then the id)");
    }
    ids->count_ = size / kRecordBytes;
    return ids;
  }

  const std::string& path() const { return path_; }
  uint64_t count() const { return count_; }

  // The id of vector `row`, the next one in the file.
  StatusOr<uint64_t> Next(uint64_t row) {
    char record[kRecordBytes];
    auto got = ReadUpTo(in_, path_, record, sizeof record);
    if (!got.ok()) return got.status();
    if (*got == 0) {
      return Status::InvalidArgument(path_ + " holds " + Plural(count_, "id") + "; " +
                                     vectors_path_ + " has more vectors");
    }
    if (const int32_t dimension = GetI32(record); dimension != 1) {
      return RowError(
          path_, row,
          "dimension " + std::to_string(dimension) + ": an ids file holds one id a row");
    }
    const int32_t id = GetI32(record + 4);
    if (id < 0) return RowError(path_, row, "id " + std::to_string(id) + " is negative");
    return static_cast<uint64_t>(id);
  }

  Status Seek(uint64_t row) { return SeekTo(in_, path_, row * kRecordBytes); }

 private:
  IdsFile(std::string path, std::string vectors_path)
      : path_(std::move(path)), vectors_path_(std::move(vectors_path)) {}

  const std::string path_;
  const std::string vectors_path_;  // for messages
  std::ifstream in_;
  uint64_t count_ = 0;
};

enum class Element { kFloat32, kFloat16, kUint8 };

size_t ElementBytes(Element element) {
  switch (element) {
    case Element::kFloat32:
      return 4;
    case Element::kFloat16:
      return 2;
    case Element::kUint8:
      return 1;
  }
  return 0;
}

void DecodeValues(const char* data, Element element, std::span<float> out) {
  switch (element) {
    case Element::kFloat32:
      std::memcpy(out.data(), data, out.size_bytes());
      return;
    case Element::kFloat16:
      for (size_t i = 0; i < out.size(); ++i) out[i] = HalfToFloat(GetU16(data + 2 * i));
      return;
    case Element::kUint8:
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<unsigned char>(data[i]);
      return;
  }
}

// Where the records of a binary file are, and what they hold.
struct BinaryLayout {
  uint64_t data_offset = 0;       // where the first record starts
  bool dimension_prefix = false;  // .fvecs and .bvecs: each record starts with its int32 dimension
  Element element = Element::kFloat32;
  size_t dimension = 0;  // 0 only for an empty .fvecs or .bvecs file

  size_t record_bytes() const {
    return (dimension_prefix ? 4 : 0) + dimension * ElementBytes(element);
  }
};

// .fvecs, .bvecs and .npy: records of one size after a header, so that a record's place in the
// file is known without reading those before it.
class BinaryVectorFile final : public VectorFile {
 public:
  BinaryVectorFile(std::string path, std::ifstream in, uint64_t size, const BinaryLayout& layout,
                   std::optional<uint64_t> total_records, std::unique_ptr<IdsFile> ids)
      : VectorFile(size, total_records,
                   layout.dimension == 0 ? std::nullopt : std::optional(layout.dimension)),
        path_(std::move(path)),
        in_(std::move(in)),
        layout_(layout),
        record_(layout.record_bytes()),
        ids_(std::move(ids)) {
    bytes_read_ = layout.data_offset;
  }

 private:
  StatusOr<bool> ReadRecord(ImportRecord* record) override {
    const uint64_t row = records_read();
    auto got = ReadUpTo(in_, path_, record_.data(), record_.size());
    if (!got.ok()) return got.status();
    if (*got == 0) return false;
    if (layout_.dimension_prefix && *got >= 4) {
      if (const int32_t dimension = GetI32(record_.data());
          dimension != static_cast<int64_t>(layout_.dimension)) {
        return RowError(path_, row,
                        "dimension " + std::to_string(dimension) + ", unlike row 0's " +
                            std::to_string(layout_.dimension) +
                            " (every record of a file has one dimension)");
      }
    }
    if (*got < record_.size()) {
      return RowError(path_, row,
                      "truncated: the file ends " + Plural(*got, "byte") + " into its " +
                          std::to_string(record_.size()));
    }
    bytes_read_ += *got;
    record->number = row;
    record->vector.resize(layout_.dimension);
    DecodeValues(record_.data() + (layout_.dimension_prefix ? 4 : 0), layout_.element,
                 record->vector);
    const auto bad = std::find_if(record->vector.begin(), record->vector.end(),
                                  [](float v) { return !std::isfinite(v); });
    if (bad != record->vector.end()) {
      return RowError(path_, row,
                      "value " + std::to_string(bad - record->vector.begin()) + " is " +
                          (std::isnan(*bad) ? "NaN"
                           : *bad > 0       ? "inf"
                                            : "-inf") +
                          "; vectors must be finite");
    }
    if (!ids_) {
      record->id = row;
      return true;
    }
    auto id = ids_->Next(row);
    if (!id.ok()) return id.status();
    record->id = *id;
    return true;
  }

  Status Seek(uint64_t records) override {
    const uint64_t room = (total_bytes_ - layout_.data_offset) / record_.size();
    if (records > room) {
      return Status::InvalidArgument(path_ + " holds " + Plural(room, "record") + "; cannot skip " +
                                     std::to_string(records));
    }
    const uint64_t offset = layout_.data_offset + records * record_.size();
    if (Status s = SeekTo(in_, path_, offset); !s.ok()) return s;
    bytes_read_ = offset;
    return ids_ ? ids_->Seek(records) : Status::Ok();
  }

  const std::string path_;
  std::ifstream in_;
  const BinaryLayout layout_;
  std::vector<char> record_;  // the bytes of the record being read
  const std::unique_ptr<IdsFile> ids_;
};

StatusOr<std::unique_ptr<VectorFile>> MakeBinaryFile(const std::string& path, std::ifstream in,
                                                     uint64_t size, const BinaryLayout& layout,
                                                     std::optional<uint64_t> total_records,
                                                     std::unique_ptr<IdsFile> ids) {
  if (ids && total_records && ids->count() != *total_records) {
    return Status::InvalidArgument(ids->path() + " holds " + Plural(ids->count(), "id") + "; " +
                                   path + " holds " + Plural(*total_records, "vector") +
                                   " (one id per vector)");
  }
  return std::unique_ptr<VectorFile>(std::make_unique<BinaryVectorFile>(
      path, std::move(in), size, layout, total_records, std::move(ids)));
}

StatusOr<std::unique_ptr<VectorFile>> OpenVecs(const std::string& path, Element element,
                                               std::unique_ptr<IdsFile> ids) {
  std::ifstream in;
  uint64_t size = 0;
  if (Status s = OpenInput(path, &in, &size); !s.ok()) return s;
  BinaryLayout layout;
  layout.dimension_prefix = true;
  layout.element = element;
  // The first record's dimension is the file's; an empty file has none, and no records.
  if (size > 0) {
    char prefix[4];
    auto got = ReadUpTo(in, path, prefix, sizeof prefix);
    if (!got.ok()) return got.status();
    if (*got < sizeof prefix) {
      return RowError(path, 0,
                      "truncated: the file ends " + Plural(*got, "byte") + " into its dimension");
    }
    const int32_t dimension = GetI32(prefix);
    if (std::string problem = DimensionProblem(dimension); !problem.empty()) {
      return RowError(path, 0, problem);
    }
    layout.dimension = static_cast<size_t>(dimension);
    if (Status s = SeekTo(in, path, 0); !s.ok()) return s;
  }
  // A size that is not a whole number of records means a truncated record or another dimension
  // further on: reading finds which, and where.
  std::optional<uint64_t> total_records;
  if (size % layout.record_bytes() == 0) total_records = size / layout.record_bytes();
  return MakeBinaryFile(path, std::move(in), size, layout, total_records, std::move(ids));
}

struct NpyHeader {
  std::string descr;
  std::optional<bool> fortran_order;
  std::optional<std::vector<uint64_t>> shape;
};

// Reads the Python literals of a .npy header: the forms NumPy writes, and no others.
class PythonLiteralReader {
 public:
  explicit PythonLiteralReader(std::string_view text) : text_(text) {}

  size_t at() const { return at_; }
  bool Peek(char c) {
    SkipSpace();
    return at_ < text_.size() && text_[at_] == c;
  }
  bool Take(char c) {
    if (!Peek(c)) return false;
    ++at_;
    return true;
  }
  bool TakeWord(std::string_view word) {
    SkipSpace();
    if (!text_.substr(at_).starts_with(word)) return false;
    at_ += word.size();
    return true;
  }
  // 'text' or "text". NumPy's keys and dtype names have no escapes.
  std::optional<std::string> String() {
    SkipSpace();
    if (at_ >= text_.size() || (text_[at_] != '\'' && text_[at_] != '"')) return std::nullopt;
    const size_t end = text_.find(text_[at_], at_ + 1);
    if (end == std::string_view::npos) return std::nullopt;
    std::string value(text_.substr(at_ + 1, end - at_ - 1));
    at_ = end + 1;
    return value;
  }
  std::optional<uint64_t> Integer() {
    SkipSpace();
    uint64_t value = 0;
    const auto [end, error] =
        std::from_chars(text_.data() + at_, text_.data() + text_.size(), value);
    if (error != std::errc()) return std::nullopt;
    at_ = end - text_.data();
    return value;
  }

 private:
  void SkipSpace() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }

  std::string_view text_;
  size_t at_ = 0;
};

// Reads the header's dict, such as {'descr': '<f4', 'fortran_order': False, 'shape': (10, 4), }
// into *header; returns what is wrong with it, or "".
std::string ParseNpyHeader(std::string_view text, NpyHeader* header) {
  PythonLiteralReader reader(text);
  auto malformed = [&] {
    return "its header is not a dict as NumPy writes them (at byte " + std::to_string(reader.at()) +
           " of " + std::string(text.substr(0, 200)) + ")";
  };
  if (!reader.Take('{')) return malformed();
  while (!reader.Take('}')) {
    const auto key = reader.String();
    if (!key || !reader.Take(':')) return malformed();
    if (*key == "descr") {
      auto descr = reader.String();
      if (!descr) {
        return "its dtype is structured: only '<f4' (float32) and '<f2' (float16) are read";
      }
      header->descr = std::move(*descr);
    } else if (*key == "fortran_order") {
      if (reader.TakeWord("True")) {
        header->fortran_order = true;
      } else if (reader.TakeWord("False")) {
        header->fortran_order = false;
      } else {
        return malformed();
      }
    } else if (*key == "shape") {
      if (!reader.Take('(')) return malformed();
      header->shape.emplace();
      while (!reader.Take(')')) {
        const auto extent = reader.Integer();
        if (!extent) return malformed();
        header->shape->push_back(*extent);
        if (!reader.Take(',') && !reader.Peek(')')) return malformed();
      }
    } else {
      return "its header has a key NumPy does not write: '" + *key + "'";
    }
    if (!reader.Take(',') && !reader.Peek('}')) return malformed();
  }
  if (header->descr.empty()) return "its header has no 'descr'";
  if (!header->fortran_order) return "its header has no 'fortran_order'";
  if (!header->shape) return "its header has no 'shape'";
  return "";
}

// As Python writes a tuple: (10, 4), (10,).
std::string ShapeText(const std::vector<uint64_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

StatusOr<std::unique_ptr<VectorFile>> OpenNpy(const std::string& path,
                                              std::unique_ptr<IdsFile> ids) {
  std::ifstream in;
  uint64_t size = 0;
  if (Status s = OpenInput(path, &in, &size); !s.ok()) return s;
  char preamble[8];  // the magic \x93NUMPY, then the major and minor version
  auto got = ReadUpTo(in, path, preamble, sizeof preamble);
  if (!got.ok()) return got.status();
  if (*got < sizeof preamble || std::string_view(preamble, 6) != "\x93NUMPY") {
    return Status::InvalidArgument(path +
                                   " is not a NumPy file: it does not start with \\x93NUMPY");
  }
  const int major = static_cast<unsigned char>(preamble[6]);
  const int minor = static_cast<unsigned char>(preamble[7]);
  if (major < 1 || major > 3 || minor != 0) {
    return Status::InvalidArgument(path + ": NumPy format version " + std::to_string(major) + "." +
                                   std::to_string(minor) + " is not read (1.0, 2.0 and 3.0 are)");
  }
  // Version 1.0 gives the header's length in 2 bytes; 2.0 in 4; 3.0 as 2.0, its header in UTF-8.
  const size_t length_bytes = major == 1 ? 2 : 4;
  char length_field[4];
  got = ReadUpTo(in, path, length_field, length_bytes);
  if (!got.ok()) return got.status();
  const uint32_t header_bytes = *got < length_bytes ? 0
                                : major == 1        ? GetU16(length_field)
                                                    : GetU32(length_field);
  if (header_bytes > kMaxNpyHeaderBytes) {
    return Status::InvalidArgument(path + ": its header of " + Plural(header_bytes, "byte") +
                                   " is not one NumPy writes");
  }
  std::string text(header_bytes, '\0');
  if (got = ReadUpTo(in, path, text.data(), text.size()); !got.ok()) return got.status();
  if (header_bytes == 0 || *got < header_bytes) {
    return Status::InvalidArgument(path + ": truncated: the file ends in its header");
  }
  NpyHeader header;
  if (std::string problem = ParseNpyHeader(text, &header); !problem.empty()) {
    return Status::InvalidArgument(path + ": " + problem);
  }
  BinaryLayout layout;
  if (header.descr == "<f4") {
    layout.element = Element::kFloat32;
  } else if (header.descr == "<f2") {
    layout.element = Element::kFloat16;
  } else {
    return Status::InvalidArgument(path + ": dtype '" + header.descr +
                                   "' is not read: only '<f4' (float32) and '<f2' (float16) are");
  }
  if (*header.fortran_order) {
    return Status::InvalidArgument(path + ": fortran_order is True: only C-order arrays are read");
  }
  const std::string shape = ShapeText(*header.shape);
  if (header.shape->size() != 2) {
    return Status::InvalidArgument(path + ": shape " + shape + " is not (rows, dimension)");
  }
  const uint64_t rows = (*header.shape)[0];
  const uint64_t dimension = (*header.shape)[1];
  if (std::string problem = DimensionProblem(dimension); !problem.empty()) {
    return Status::InvalidArgument(path + ": shape " + shape + ": " + problem);
  }
  layout.dimension = dimension;
  layout.data_offset = sizeof preamble + length_bytes + header_bytes;
  // The shape says how large the file is: a mismatch is found now, before any row is imported.
  const uint64_t data_bytes = size - layout.data_offset;
  const uint64_t whole_rows = data_bytes / layout.record_bytes();
  if (rows > whole_rows) {
    return RowError(
        path, whole_rows,
        "truncated: the file ends before the " + Plural(rows, "row") + " of shape " + shape);
  }
  if (const uint64_t extra = data_bytes - rows * layout.record_bytes(); extra != 0) {
    return Status::InvalidArgument(path + ": " + Plural(extra, "byte") + " follow the " +
                                   Plural(rows, "row") + " of shape " + shape);
  }
  return MakeBinaryFile(path, std::move(in), size, layout, rows, std::move(ids));
}

bool IsBlank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

// Fills *record from one line of a .jsonl file; returns what is wrong with the line, or "".
// *dimension is the file's (set by its first valid line).
std::string DecodeJsonLine(const std::string& line, std::optional<size_t>* dimension,
                           ImportRecord* record) {
  // Deeper JSON is refused before it is parsed, as the server refuses it: copying or destroying
  // a JSON tree recurses once per level.
  if (engine::JsonNestingDepth(line) > engine::kMaxJsonDepth) {
    return "it nests deeper than " + std::to_string(engine::kMaxJsonDepth) + " levels";
  }
  json object;
  try {
    object = json::parse(line);
  } catch (const json::parse_error& e) {
    return "not JSON (a syntax error at column " + std::to_string(e.byte) + ")";
  }
  if (!object.is_object()) return "not a JSON object";
  for (const auto& field : object.items()) {
    if (field.key() != "id" && field.key() != "vector" && field.key() != "payload") {
      return "\"" + field.key() + "\" is not a field of a record (id, vector, payload)";
    }
  }

  const auto id = object.find("id");
  if (id == object.end()) return "\"id\" is missing";
  if (id->is_number_unsigned()) {
    record->id = id->get<uint64_t>();
  } else if (id->is_string()) {
    if (id->get_ref<const std::string&>().size() > kMaxIdBytes) {
      return "\"id\" is longer than " + std::to_string(kMaxIdBytes) + " bytes";
    }
    record->id = id->get<std::string>();
  } else {
    return "\"id\" is not a non-negative integer or a string";
  }

  const auto vector = object.find("vector");
  if (vector == object.end()) return "\"vector\" is missing";
  if (!vector->is_array() ||
      !std::all_of(vector->begin(), vector->end(), [](const json& v) { return v.is_number(); })) {
    return "\"vector\" is not an array of numbers";
  }
  if (std::string problem = DimensionProblem(vector->size()); !problem.empty()) {
    return "\"vector\" has " + Plural(vector->size(), "value") + ": " + problem;
  }
  if (*dimension && vector->size() != **dimension) {
    return "\"vector\" has " + Plural(vector->size(), "value") + ", unlike the " +
           std::to_string(**dimension) + " of the lines before (a file has one dimension)";
  }
  record->vector.resize(vector->size());
  for (size_t i = 0; i < vector->size(); ++i) {
    const double value = (*vector)[i].get<double>();
    if (!(std::fabs(value) <= std::numeric_limits<float>::max())) {
      return "\"vector\"[" + std::to_string(i) + "] is " + (*vector)[i].dump() +
             ", not a finite float32";
    }
    record->vector[i] = static_cast<float>(value);
  }

  if (const auto payload = object.find("payload"); payload != object.end()) {
    if (!payload->is_object() && !payload->is_null()) return "\"payload\" is not an object";
    record->payload = std::move(*payload);
  }
  *dimension = vector->size();
  return "";
}

class JsonlVectorFile final : public VectorFile {
 public:
  JsonlVectorFile(std::string path, std::ifstream in, uint64_t size)
      : VectorFile(size, std::nullopt, std::nullopt), path_(std::move(path)), in_(std::move(in)) {}

 private:
  StatusOr<bool> ReadRecord(ImportRecord* record) override {
    for (;;) {
      auto more = ReadLine();
      if (!more.ok() || !*more) return more;
      if (IsBlank(line_)) continue;
      if (std::string problem = DecodeJsonLine(line_, &dimension_, record); !problem.empty()) {
        *record = ImportRecord();
        record->error = path_ + ", line " + std::to_string(line_number_) + ": " + problem;
      }
      record->number = line_number_;
      return true;
    }
  }

  Status Seek(uint64_t records) override {
    uint64_t at = records_read();
    if (records < at) {
      if (Status s = SeekTo(in_, path_, 0); !s.ok()) return s;
      line_number_ = 0;
      bytes_read_ = 0;
      at = 0;
    }
    while (at < records) {
      auto more = ReadLine();
      if (!more.ok()) return more.status();
      if (!*more) {
        return Status::InvalidArgument(path_ + " holds " + Plural(at, "record") +
                                       " (non-blank lines); cannot skip " +
                                       std::to_string(records));
      }
      if (IsBlank(line_)) continue;
      // Until a valid line is seen the file's dimension is not known: the lines skipped set it,
      // as reading them would (a later line of another dimension is bad either way).
      if (!dimension_) {
        ImportRecord skipped;
        (void)DecodeJsonLine(line_, &dimension_, &skipped);
      }
      ++at;
    }
    return Status::Ok();
  }

  // The next line into line_: false at the end of the file.
  StatusOr<bool> ReadLine() {
    if (!std::getline(in_, line_)) {
      if (in_.bad()) return ReadFailed(path_);
      return false;
    }
    ++line_number_;
    bytes_read_ += line_.size() + (in_.eof() ? 0 : 1);  // the last line may lack its '\n'
    return true;
  }

  const std::string path_;
  std::ifstream in_;
  std::string line_;
  uint64_t line_number_ = 0;  // of line_, from 1
};

StatusOr<std::unique_ptr<VectorFile>> OpenJsonl(const std::string& path) {
  std::ifstream in;
  uint64_t size = 0;
  if (Status s = OpenInput(path, &in, &size); !s.ok()) return s;
  return std::unique_ptr<VectorFile>(std::make_unique<JsonlVectorFile>(path, std::move(in), size));
}

}  // namespace

StatusOr<std::unique_ptr<VectorFile>> VectorFile::Open(const std::string& path,
                                                       const std::string& ids_path) {
  const std::string extension = fs::path(path).extension().string();
  if (extension == ".jsonl") {
    if (!ids_path.empty()) {
      return Status::InvalidArgument("an ids file (" + ids_path +
                                     ") goes with .fvecs, .bvecs and .npy files; the lines of " +
                                     path + " carry their ids");
    }
    return OpenJsonl(path);
  }
  if (extension != ".fvecs" && extension != ".bvecs" && extension != ".npy") {
    return Status::InvalidArgument(path + ": the format of '" + extension +
                                   "' files is not known (.fvecs, .bvecs, .npy and .jsonl are)");
  }
  std::unique_ptr<IdsFile> ids;
  if (!ids_path.empty()) {
    auto opened = IdsFile::Open(ids_path, path);
    if (!opened.ok()) return opened.status();
    ids = std::move(*opened);
  }
  if (extension == ".npy") return OpenNpy(path, std::move(ids));
  return OpenVecs(path, extension == ".fvecs" ? Element::kFloat32 : Element::kUint8,
                  std::move(ids));
}

Status VectorFile::Next(size_t max, std::vector<ImportRecord>* out) {
  for (size_t i = 0; i < max && failed_.ok(); ++i) {
    ImportRecord record;
    auto more = ReadRecord(&record);
    if (!more.ok()) {
      failed_ = more.status();
    } else if (!*more) {
      break;
    } else {
      out->push_back(std::move(record));
      ++records_read_;
    }
  }
  return failed_;
}

Status VectorFile::SkipTo(uint64_t records) {
  if (!failed_.ok()) return failed_;
  failed_ = Seek(records);
  if (failed_.ok()) records_read_ = records;
  return failed_;
}

}  // namespace vecmesh::cli
