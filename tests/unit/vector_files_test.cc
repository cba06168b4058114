// The files `vecmesh import` reads: each format read back record by record from files of known
// content, float16's edge values, the errors that name the file and the row or line, resuming
// with SkipTo, and reading in chunks.
#include "api/cli/vector_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>

namespace vecmesh::cli {

// Every field, exactly: the tests compare whole records.
bool operator==(const ImportRecord& a, const ImportRecord& b) {
  return a.number == b.number && a.id == b.id && a.vector == b.vector && a.payload == b.payload &&
         a.error == b.error;
}

void PrintTo(const ImportRecord& record, std::ostream* out) {
  *out << "{number " << record.number << ", id ";
  if (const auto* n = std::get_if<uint64_t>(&record.id)) {
    *out << *n;
  } else {
    *out << '"' << std::get<std::string>(record.id) << '"';
  }
  *out << ", vector [";
  for (float v : record.vector) *out << v << " ";
  *out << "], payload " << record.payload.dump() << ", error \"" << record.error << "\"}";
}

namespace {

namespace fs = std::filesystem;
using engine::StatusCode;
using nlohmann::json;

ImportRecord Record(uint64_t number, engine::PointId id, std::vector<float> vector,
                    json payload = nullptr) {
  ImportRecord record;
  record.number = number;
  record.id = std::move(id);
  record.vector = std::move(vector);
  record.payload = std::move(payload);
  return record;
}

ImportRecord BadLine(uint64_t line, std::string error) {
  ImportRecord record;
  record.number = line;
  record.error = std::move(error);
  return record;
}

// Little-endian, as the files are (and as the machines the tests run on are).
template <typename T>
void Put(std::string* out, T value) {
  char bytes[sizeof value];
  std::memcpy(bytes, &value, sizeof value);
  out->append(bytes, sizeof value);
}

// .fvecs for float, .bvecs for uint8_t: each row its int32 dimension, then its values.
template <typename T>
std::string Vecs(const std::vector<std::vector<T>>& rows) {
  std::string out;
  for (const auto& row : rows) {
    Put<int32_t>(&out, static_cast<int32_t>(row.size()));
    for (T v : row) Put(&out, v);
  }
  return out;
}

std::string Ivecs(const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    Put<int32_t>(&out, 1);
    Put(&out, id);
  }
  return out;
}

// A .npy file of format `major`.0 whose header holds `dict`, padded as NumPy pads it (to a
// multiple of 64 bytes, ending in '\n'), followed by `data`.
std::string Npy(int major, const std::string& dict, const std::string& data) {
  const size_t length_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((6 + 2 + length_bytes + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  if (major == 1) {
    Put<uint16_t>(&out, static_cast<uint16_t>(header.size()));
  } else {
    Put<uint32_t>(&out, static_cast<uint32_t>(header.size()));
  }
  return out + header + data;
}

std::string Float32Data(const std::vector<std::vector<float>>& rows) {
  std::string out;
  for (const auto& row : rows) {
    for (float v : row) Put(&out, v);
  }
  return out;
}

const std::vector<std::vector<float>> kRows = {{1.5f, -2.25f, 0.0f, 1e-30f},
                                               {3.0f, 4.0f, -5.5f, 6.0f},
                                               {-7.0f, 8.125f, 9.0f, 1e30f},
                                               {0.5f, 0.25f, 0.125f, 0.0625f},
                                               {10.0f, 20.0f, 30.0f, 40.0f}};

// A header's dict as NumPy writes it, with these Python literals for values.
std::string NpyDict(const std::string& descr, const std::string& fortran_order,
                    const std::string& shape) {
  return "{'descr': " + descr + ", 'fortran_order': " + fortran_order + ", 'shape': " + shape +
         ", }";
}

std::string NpyFloat32(int major, const std::vector<std::vector<float>>& rows) {
  // Appended, not "(" + std::to_string(...): GCC 12 warns falsely (-Wrestrict) about that.
  std::string shape = "(";
  shape += std::to_string(rows.size()) + ", " + std::to_string(rows[0].size()) + ")";
  return Npy(major, NpyDict("'<f4'", "False", shape), Float32Data(rows));
}

class VectorFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vecmesh_vector_files_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }

  static std::unique_ptr<VectorFile> Open(const std::string& path,
                                          const std::string& ids_path = "") {
    auto file = VectorFile::Open(path, ids_path);
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    return file.ok() ? std::move(*file) : nullptr;
  }

  // Every record, `chunk` at a time; checks that the read ends with none and OK.
  static std::vector<ImportRecord> ReadAll(VectorFile& file, size_t chunk = 1000) {
    std::vector<ImportRecord> records;
    for (;;) {
      const size_t before = records.size();
      const engine::Status s = file.Next(chunk, &records);
      EXPECT_TRUE(s.ok()) << s.ToString();
      EXPECT_LE(records.size() - before, chunk);
      if (!s.ok() || records.size() == before) return records;
    }
  }

  // The error of reading `path` to its end, and the records read before it.
  static engine::Status ReadError(const std::string& path, std::vector<ImportRecord>* records,
                                  const std::string& ids_path = "") {
    auto file = Open(path, ids_path);
    if (!file) return engine::Status::Internal("did not open");
    engine::Status s;
    size_t before = 0;
    do {
      before = records->size();
      s = file->Next(1000, records);
    } while (s.ok() && records->size() > before);
    return s;
  }

  // The error of opening `path`.
  static engine::Status OpenError(const std::string& path, const std::string& ids_path = "") {
    auto file = VectorFile::Open(path, ids_path);
    EXPECT_FALSE(file.ok()) << path << " opened";
    return file.status();
  }

  // Resuming after each number of records gives the records after it; past the end, an error.
  static void ExpectResumesEverywhere(const std::string& path, const std::string& ids_path = "") {
    auto whole = Open(path, ids_path);
    const std::vector<ImportRecord> all = ReadAll(*whole);
    ASSERT_FALSE(all.empty());
    for (uint64_t skip = 0; skip <= all.size(); ++skip) {
      auto file = Open(path, ids_path);
      ASSERT_TRUE(file->SkipTo(skip).ok()) << skip;
      EXPECT_EQ(file->records_read(), skip);
      const std::vector<ImportRecord> rest = ReadAll(*file);
      EXPECT_EQ(rest, std::vector<ImportRecord>(all.begin() + skip, all.end())) << "after " << skip;
      EXPECT_EQ(file->records_read(), all.size());
      EXPECT_EQ(file->bytes_read(), file->total_bytes());
    }
    auto file = Open(path, ids_path);
    const engine::Status past = file->SkipTo(all.size() + 1);
    EXPECT_EQ(past.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(past.message().find(path + " holds " + std::to_string(all.size()) + " record"),
              std::string::npos)
        << past.message();
  }

  // Reading 1, 2 or 3 records at a time gives what one read of all of them gives.
  static void ExpectChunksEqualOneRead(const std::string& path, const std::string& ids_path = "") {
    auto whole = Open(path, ids_path);
    const std::vector<ImportRecord> all = ReadAll(*whole);
    for (size_t chunk : {1, 2, 3}) {
      auto file = Open(path, ids_path);
      EXPECT_EQ(ReadAll(*file, chunk), all) << "chunks of " << chunk;
    }
  }

  fs::path dir_;
};

std::vector<ImportRecord> Numbered(const std::vector<std::vector<float>>& rows) {
  std::vector<ImportRecord> records;
  for (size_t i = 0; i < rows.size(); ++i) records.push_back(Record(i, uint64_t{i}, rows[i]));
  return records;
}

TEST_F(VectorFilesTest, FvecsRecordsAreNumberedFromZero) {
  const std::string path = Write("base.fvecs", Vecs<float>(kRows));
  auto file = Open(path);
  EXPECT_EQ(file->total_records(), 5u);
  EXPECT_EQ(file->dimension(), 4u);
  EXPECT_EQ(file->total_bytes(), 5u * (4 + 4 * 4));
  EXPECT_EQ(file->bytes_read(), 0u);
  EXPECT_EQ(ReadAll(*file), Numbered(kRows));
  EXPECT_EQ(file->records_read(), 5u);
  EXPECT_EQ(file->bytes_read(), file->total_bytes());
}

TEST_F(VectorFilesTest, BvecsBytesBecomeFloats) {
  const std::string path = Write("base.bvecs", Vecs<uint8_t>({{0, 255, 7}, {128, 1, 254}}));
  auto file = Open(path);
  EXPECT_EQ(file->total_records(), 2u);
  EXPECT_EQ(file->dimension(), 3u);
  EXPECT_EQ(ReadAll(*file), (std::vector<ImportRecord>{Record(0, uint64_t{0}, {0, 255, 7}),
                                                       Record(1, uint64_t{1}, {128, 1, 254})}));
  EXPECT_EQ(file->bytes_read(), file->total_bytes());
}

TEST_F(VectorFilesTest, AnEmptyFvecsFileHasNoRecords) {
  auto file = Open(Write("empty.fvecs", ""));
  EXPECT_EQ(file->total_records(), 0u);
  EXPECT_EQ(file->dimension(), std::nullopt);
  EXPECT_TRUE(ReadAll(*file).empty());
}

TEST_F(VectorFilesTest, NpyFloat32OfEveryFormatVersion) {
  for (int major : {1, 2, 3}) {
    const std::string path = Write(std::to_string(major) + ".0.npy", NpyFloat32(major, kRows));
    auto file = Open(path);
    EXPECT_EQ(file->total_records(), 5u) << major;
    EXPECT_EQ(file->dimension(), 4u);
    EXPECT_EQ(file->bytes_read(), file->total_bytes() - 5 * 4 * 4) << "the header is read";
    EXPECT_EQ(ReadAll(*file), Numbered(kRows)) << "version " << major;
    EXPECT_EQ(file->bytes_read(), file->total_bytes());
  }
}

TEST_F(VectorFilesTest, NpyHeadersAsOtherWritersSpellThem) {
  // Double quotes, no trailing comma, keys in another order, a trailing comma in the shape.
  const std::string path =
      Write("spelled.npy", Npy(1, R"({"shape": (2, 4,), "fortran_order": False, "descr": "<f4"})",
                               Float32Data({kRows[0], kRows[1]})));
  auto file = Open(path);
  EXPECT_EQ(ReadAll(*file), Numbered({kRows[0], kRows[1]}));
}

TEST_F(VectorFilesTest, NpyFloat16IsConvertedExactly) {
  const std::vector<uint16_t> halves = {
      0x3C00, 0xC000, 0x0001, 0x7BFF,  // 1, -2, the smallest subnormal 2^-24, the largest 65504
      0x8000, 0x03FF, 0x0400, 0x3555,  // -0, the largest subnormal, the smallest normal, ~1/3
  };
  std::string data;
  for (uint16_t h : halves) Put(&data, h);
  const std::string path = Write("half.npy", Npy(1, NpyDict("'<f2'", "False", "(2, 4)"), data));
  auto file = Open(path);
  const std::vector<ImportRecord> records = ReadAll(*file);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].vector, (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24), 65504.0f}));
  EXPECT_EQ(records[1].vector, (std::vector<float>{-0.0f, 1023 * std::ldexp(1.0f, -24),
                                                   std::ldexp(1.0f, -14), 0.333251953125f}));
  EXPECT_TRUE(std::signbit(records[1].vector[0])) << "-0 keeps its sign";
}

TEST_F(VectorFilesTest, NonFiniteValuesAreRefusedNamingTheRow) {
  std::string halves;
  for (uint16_t h : {0x3C00, 0x3C00, 0x3C00, 0x7C00}) Put(&halves, h);  // row 1: 1, inf
  const std::string inf_path =
      Write("inf.npy", Npy(1, NpyDict("'<f2'", "False", "(2, 2)"), halves));
  std::vector<ImportRecord> records;
  engine::Status s = ReadError(inf_path, &records);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), inf_path + ", row 1: value 1 is inf; vectors must be finite");
  EXPECT_EQ(records, (std::vector<ImportRecord>{Record(0, uint64_t{0}, {1.0f, 1.0f})}));

  const std::string nan_path = Write("nan.fvecs", Vecs<float>({{1, 2}, {3, 4}, {NAN, 5}}));
  records.clear();
  s = ReadError(nan_path, &records);
  EXPECT_EQ(s.message(), nan_path + ", row 2: value 0 is NaN; vectors must be finite");
  EXPECT_EQ(records.size(), 2u);
}

TEST_F(VectorFilesTest, NpyHeadersOutsideWhatIsReadAreRefusedNamingWhat) {
  const std::string data = Float32Data({kRows[0], kRows[1]});
  const struct {
    std::string bytes;
    std::string message;  // after "PATH"
  } cases[] = {
      {Npy(1, NpyDict("'<f8'", "False", "(1, 4)"), data),
       ": dtype '<f8' is not read: only '<f4' (float32) and '<f2' (float16) are"},
      {Npy(1, NpyDict("'>f4'", "False", "(2, 4)"), data),
       ": dtype '>f4' is not read: only '<f4' (float32) and '<f2' (float16) are"},
      {Npy(1, "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }", data),
       ": its dtype is structured: only '<f4' (float32) and '<f2' (float16) are read"},
      {Npy(1, NpyDict("'<f4'", "True", "(2, 4)"), data),
       ": fortran_order is True: only C-order arrays are read"},
      {Npy(1, NpyDict("'<f4'", "False", "(8,)"), data), ": shape (8,) is not (rows, dimension)"},
      {Npy(1, NpyDict("'<f4'", "False", "(1, 2, 4)"), data),
       ": shape (1, 2, 4) is not (rows, dimension)"},
      {Npy(1, NpyDict("'<f4'", "False", "(8, 0)"), data),
       ": shape (8, 0): dimension 0 is not between 1 and 65536"},
      {Npy(1, NpyDict("'<f4'", "False", "(3, 4)"), data),
       ", row 2: truncated: the file ends before the 3 rows of shape (3, 4)"},
      {Npy(1, NpyDict("'<f4'", "False", "(1, 4)"), data),
       ": 16 bytes follow the 1 row of shape (1, 4)"},
      {Npy(1, "{'descr': '<f4', 'shape': (2, 4), }", data), ": its header has no 'fortran_order'"},
      {Npy(1, NpyDict("'<f4'", "0", "(2, 4)"), data),
       ": its header is not a dict as NumPy writes them (at byte 34 of {'descr': '<f4', "
       "'fortran_order': 0, 'shape': (2, 4), }"},
      {Npy(4, NpyDict("'<f4'", "False", "(2, 4)"), data),
       ": NumPy format version 4.0 is not read (1.0, 2.0 and 3.0 are)"},
      {"\x93NUMPZ\x01", " is not a NumPy file: it does not start with \\x93NUMPY"},
      {Npy(2, NpyDict("'<f4'", "False", "(2, 4)"), data).substr(0, 30),
       ": truncated: the file ends in its header"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const std::string path = Write("bad" + std::to_string(n++) + ".npy", c.bytes);
    const engine::Status s = OpenError(path);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(s.message().starts_with(path + c.message)) << s.message();
  }
}

TEST_F(VectorFilesTest, IvecsGivesTheIdOfEachRecord) {
  const std::vector<int32_t> ids = {70, 0, 12345, 2147483647, 3};
  const std::string ids_path = Write("ids.ivecs", Ivecs(ids));
  for (const std::string& path :
       {Write("base.fvecs", Vecs<float>(kRows)), Write("base.npy", NpyFloat32(1, kRows))}) {
    auto file = Open(path, ids_path);
    std::vector<ImportRecord> expected = Numbered(kRows);
    for (size_t i = 0; i < ids.size(); ++i) expected[i].id = static_cast<uint64_t>(ids[i]);
    EXPECT_EQ(ReadAll(*file), expected) << path;
  }
}

TEST_F(VectorFilesTest, IdsFilesThatDoNotFitAreRefused) {
  const std::string vectors = Write("base.fvecs", Vecs<float>(kRows));
  const std::string four_ids = Write("four.ivecs", Ivecs({1, 2, 3, 4}));
  engine::Status s = OpenError(vectors, four_ids);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            four_ids + " holds 4 ids; " + vectors + " holds 5 vectors (one id per vector)");

  const std::string ragged = Write("ragged.ivecs", Ivecs({1, 2, 3, 4, 5}) + "xyz");
  EXPECT_EQ(
      OpenError(vectors, ragged).message(),
      ragged + ": 43 bytes are not a whole number of ids (8 bytes each: int32 1, then the id)");

  std::vector<ImportRecord> records;
  const std::string negative = Write("negative.ivecs", Ivecs({1, 2, -3, 4, 5}));
  EXPECT_EQ(ReadError(vectors, &records, negative).message(),
            negative + ", row 2: id -3 is negative");
  EXPECT_EQ(records.size(), 2u);

  std::string wide = Ivecs({1, 2, 3, 4, 5});
  wide[8] = 2;  // row 1 claims dimension 2
  const std::string wide_path = Write("wide.ivecs", wide);
  records.clear();
  EXPECT_EQ(ReadError(vectors, &records, wide_path).message(),
            wide_path + ", row 1: dimension 2: an ids file holds one id a row");

  EXPECT_EQ(OpenError(vectors, Write("ids.fvecs", Ivecs({1}))).message(),
            "ids file " + (dir_ / "ids.fvecs").string() + " is not an .ivecs file");
  EXPECT_EQ(OpenError(Write("points.jsonl", ""), four_ids).code(), StatusCode::kInvalidArgument);
}

TEST_F(VectorFilesTest, IdsThatRunOutBeforeABrokenVectorFileAreNamed) {
  // The vector file's size is no whole number of records, so the ids are counted as they go.
  const std::string vectors = Write("broken.fvecs", Vecs<float>(kRows) + "x");
  const std::string ids = Write("ids.ivecs", Ivecs({1, 2}));
  std::vector<ImportRecord> records;
  EXPECT_EQ(ReadError(vectors, &records, ids).message(),
            ids + " holds 2 ids; " + vectors + " has more vectors");
  EXPECT_EQ(records.size(), 2u);
}

TEST_F(VectorFilesTest, ATruncatedFvecsRecordIsNamedAndWhatPrecedesItIsRead) {
  const std::string bytes = Vecs<float>(kRows);
  const std::string path = Write("cut.fvecs", bytes.substr(0, bytes.size() - 6));
  auto file = Open(path);
  EXPECT_EQ(file->total_records(), std::nullopt) << "not a whole number of records";
  std::vector<ImportRecord> records;
  const engine::Status s = file->Next(100, &records);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), path + ", row 4: truncated: the file ends 14 bytes into its 20");
  EXPECT_EQ(records, Numbered({kRows[0], kRows[1], kRows[2], kRows[3]}));
  EXPECT_EQ(file->records_read(), 4u);
  // The reader is done: it says so again rather than reading on.
  EXPECT_EQ(file->Next(100, &records).message(), s.message());
  EXPECT_EQ(file->SkipTo(0).message(), s.message());
  EXPECT_EQ(records.size(), 4u);

  EXPECT_EQ(OpenError(Write("short.fvecs", std::string("\x04\x00", 2))).message(),
            (dir_ / "short.fvecs").string() +
                ", row 0: truncated: the file ends 2 bytes into its "
                "dimension");
}

TEST_F(VectorFilesTest, ADimensionChangeIsNamed) {
  const std::string path = Write(
      "mixed.bvecs", Vecs<uint8_t>({{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11}, {12, 13, 14, 15}}));
  std::vector<ImportRecord> records;
  const engine::Status s = ReadError(path, &records);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      s.message(),
      path + ", row 2: dimension 3, unlike row 0's 4 (every record of a file has one dimension)");
  EXPECT_EQ(records.size(), 2u);

  // At the end of the file, a smaller record is a change of dimension, not a truncation.
  const std::string last = Write("last.fvecs", Vecs<float>({kRows[0], {1.0f, 2.0f}}));
  records.clear();
  EXPECT_EQ(
      ReadError(last, &records).message(),
      last + ", row 1: dimension 2, unlike row 0's 4 (every record of a file has one dimension)");
}

TEST_F(VectorFilesTest, AFirstDimensionOutOfRangeIsRefused) {
  EXPECT_EQ(OpenError(Write("zero.fvecs", Vecs<float>({{}}))).message(),
            (dir_ / "zero.fvecs").string() + ", row 0: dimension 0 is not between 1 and 65536");
  std::string huge;
  Put<int32_t>(&huge, 65537);
  EXPECT_EQ(OpenError(Write("huge.bvecs", huge)).message(),
            (dir_ / "huge.bvecs").string() + ", row 0: dimension 65537 is not between 1 and 65536");
  std::string negative;
  Put<int32_t>(&negative, -4);
  EXPECT_EQ(
      OpenError(Write("negative.fvecs", negative)).message(),
      (dir_ / "negative.fvecs").string() + ", row 0: dimension -4 is not between 1 and 65536");
}

TEST_F(VectorFilesTest, FilesThatAreNotReadAreRefused) {
  const engine::Status missing = OpenError((dir_ / "missing.fvecs").string());
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_TRUE(missing.message().starts_with("cannot open " + (dir_ / "missing.fvecs").string()))
      << missing.message();
  const std::string csv = Write("points.csv", "1,2,3\n");
  EXPECT_EQ(
      OpenError(csv).message(),
      csv + ": the format of '.csv' files is not known (.fvecs, .bvecs, .npy and .jsonl are)");
}

const char kJsonl[] =
    "{\"id\": 7, \"vector\": [1, 2.5, -3], \"payload\": {\"tag\": \"a\", \"n\": [1, 2]}}\n"
    "\n"
    "{\"id\": \"seven\", \"vector\": [0.5, 0, 1e-3]}\n"
    "   \t\n"
    "{\"vector\": [4, 5, 6], \"id\": 18446744073709551615, \"payload\": null}\r\n"
    "{\"id\": \"7\", \"vector\": [1, 1, 1], \"payload\": {}}";  // no '\n' at the end

TEST_F(VectorFilesTest, JsonlLinesCarryTheirIdsAndPayloads) {
  const std::string path = Write("points.jsonl", kJsonl);
  auto file = Open(path);
  EXPECT_EQ(file->total_records(), std::nullopt);
  EXPECT_EQ(file->dimension(), std::nullopt);
  EXPECT_EQ(ReadAll(*file),
            (std::vector<ImportRecord>{
                Record(1, uint64_t{7}, {1.0f, 2.5f, -3.0f}, {{"tag", "a"}, {"n", {1, 2}}}),
                Record(3, "seven", {0.5f, 0.0f, 1e-3f}),
                Record(5, uint64_t{18446744073709551615u}, {4.0f, 5.0f, 6.0f}),
                Record(6, "7", {1.0f, 1.0f, 1.0f}, json::object()),
            }));
  EXPECT_EQ(file->dimension(), 3u);
  EXPECT_EQ(file->records_read(), 4u);
  EXPECT_EQ(file->bytes_read(), file->total_bytes());
  EXPECT_EQ(file->total_bytes(), sizeof kJsonl - 1);
}

TEST_F(VectorFilesTest, BadJsonlLinesComeBackWithTheirLineNumbers) {
  const std::string lines[] = {
      R"({"id": 1, "vector": [1, 2]})",  // line 1: sets the dimension
      "",
      R"({"id": 2, "vector": [1, 2)",
      R"([1, 2])",
      R"({"vector": [1, 2]})",
      R"({"id": -1, "vector": [1, 2]})",
      R"({"id": 1.5, "vector": [1, 2]})",
      R"({"id": true, "vector": [1, 2]})",
      R"({"id": 3})",
      "",
      R"({"id": 4, "vector": "1, 2"})",
      R"({"id": 5, "vector": [1, "2"]})",
      R"({"id": 6, "vector": []})",
      R"({"id": 7, "vector": [1, 2, 3]})",
      R"({"id": 8, "vector": [1, 1e39]})",
      R"({"id": 9, "vector": [1, 2], "payload": [1]})",
      R"({"id": 10, "vector": [1, 2], "paylod": {}})",
      R"({"id": ")" + std::string(257, 'x') + R"(", "vector": [1, 2]})",
      std::string(65, '[') + std::string(65, ']'),
      R"({"id": 11, "vector": [3, 4]})",  // line 20: still good
  };
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  const std::string path = Write("bad.jsonl", text);
  auto file = Open(path);
  const std::string at = path + ", line ";
  EXPECT_EQ(ReadAll(*file),
            (std::vector<ImportRecord>{
                Record(1, uint64_t{1}, {1.0f, 2.0f}),
                BadLine(3, at + "3: not JSON (a syntax error at column 26)"),
                BadLine(4, at + "4: not a JSON object"),
                BadLine(5, at + "5: \"id\" is missing"),
                BadLine(6, at + "6: \"id\" is not a non-negative integer or a string"),
                BadLine(7, at + "7: \"id\" is not a non-negative integer or a string"),
                BadLine(8, at + "8: \"id\" is not a non-negative integer or a string"),
                BadLine(9, at + "9: \"vector\" is missing"),
                BadLine(11, at + "11: \"vector\" is not an array of numbers"),
                BadLine(12, at + "12: \"vector\" is not an array of numbers"),
                BadLine(13, at + "13: \"vector\" has 0 values: dimension 0 is not between 1 and "
                                 "65536"),
                BadLine(14, at + "14: \"vector\" has 3 values, unlike the 2 of the lines before (a "
                                 "file has one dimension)"),
                BadLine(15, at + "15: \"vector\"[1] is 1e+39, not a finite float32"),
                BadLine(16, at + "16: \"payload\" is not an object"),
                BadLine(17, at + "17: \"paylod\" is not a field of a record (id, vector, payload)"),
                BadLine(18, at + "18: \"id\" is longer than 256 bytes"),
                BadLine(19, at + "19: it nests deeper than 64 levels"),
                Record(20, uint64_t{11}, {3.0f, 4.0f}),
            }));
  EXPECT_EQ(file->records_read(), 18u) << "a bad line is a record, a blank one is not";
}

TEST_F(VectorFilesTest, TheFirstValidJsonlLineSetsTheDimension) {
  const std::string path = Write("first.jsonl",
                                 "{\"id\": 1, \"vector\": [1, 2, 3], \"payload\": 5}\n"
                                 "{\"id\": 2, \"vector\": [1, 2]}\n"
                                 "{\"id\": 3, \"vector\": [1, 2, 3]}\n");
  auto file = Open(path);
  const std::vector<ImportRecord> records = ReadAll(*file);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_FALSE(records[0].error.empty());
  EXPECT_EQ(records[1], Record(2, uint64_t{2}, {1.0f, 2.0f}));
  EXPECT_EQ(records[2].error, path +
                                  ", line 3: \"vector\" has 3 values, unlike the 2 of the lines "
                                  "before (a file has one dimension)");
}

TEST_F(VectorFilesTest, SkipToResumesAfterAnyNumberOfRecords) {
  ExpectResumesEverywhere(Write("base.fvecs", Vecs<float>(kRows)));
  ExpectResumesEverywhere(Write("base.bvecs", Vecs<uint8_t>({{1, 2}, {3, 4}, {5, 6}})),
                          Write("ids.ivecs", Ivecs({30, 20, 10})));
  ExpectResumesEverywhere(Write("v1.npy", NpyFloat32(1, kRows)));
  ExpectResumesEverywhere(Write("v2.npy", NpyFloat32(2, kRows)));
  ExpectResumesEverywhere(Write("points.jsonl", kJsonl));
  ExpectResumesEverywhere(Write("bad.jsonl", std::string("\n{\"id\": 1, \"vector\": [1]}\n") +
                                                 "not json\n\n{\"id\": 2, \"vector\": [2]}\n\n"));
  // The lines skipped still set the dimension: after a resume, the line of another dimension is
  // the bad one, as in a whole read.
  ExpectResumesEverywhere(Write("dims.jsonl", "{\"id\": 1, \"vector\": [1, 2, 3]}\n"
                                              "{\"id\": 2, \"vector\": [1, 2]}\n"
                                              "{\"id\": 3, \"vector\": [1, 2, 3]}\n"));
}

TEST_F(VectorFilesTest, SkipToCanGoBack) {
  for (const std::string& path :
       {Write("base.fvecs", Vecs<float>(kRows)), Write("points.jsonl", kJsonl)}) {
    auto file = Open(path);
    const std::vector<ImportRecord> all = ReadAll(*file);
    ASSERT_TRUE(file->SkipTo(1).ok());
    EXPECT_EQ(ReadAll(*file), std::vector<ImportRecord>(all.begin() + 1, all.end())) << path;
  }
}

TEST_F(VectorFilesTest, ReadingInChunksEqualsOneRead) {
  ExpectChunksEqualOneRead(Write("base.fvecs", Vecs<float>(kRows)));
  ExpectChunksEqualOneRead(Write("base.bvecs", Vecs<uint8_t>({{1, 2}, {3, 4}, {5, 6}, {7, 8}})));
  ExpectChunksEqualOneRead(Write("base.npy", NpyFloat32(3, kRows)),
                           Write("ids.ivecs", Ivecs({9, 8, 7, 6, 5})));
  ExpectChunksEqualOneRead(Write("points.jsonl", kJsonl));
}

}  // namespace
}  // namespace vecmesh::cli
