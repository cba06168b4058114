// The files `vecmesh import` reads: a streaming reader of vectors, their ids and payloads, one
// format per extension.
//
//   .fvecs  per record: int32 dimension d, then d float32
//   .bvecs  per record: int32 dimension d, then d uint8 (read as floats 0 to 255)
//   .npy    NumPy format 1.0, 2.0 or 3.0: dtype '<f4' or '<f2' (float16, converted exactly),
//           C order, shape (rows, dimension)
//   .jsonl  one JSON object per line: {"id": 7 or "seven", "vector": [...], "payload": {...}},
//           payload optional (or null); blank lines are skipped but counted in line numbers
//   .ivecs  ids for the three binary formats (which otherwise number their records 0, 1, ...):
//           per record int32 1, then one int32 id >= 0; one record per vector
//
// Every value is little-endian. Every record of a file has the same dimension, from 1 to 65,536,
// and finite values. Files are read front to back through a small buffer: a file of any size
// takes the memory of one record (and one line of a .jsonl file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/point_id.h"
#include "engine/status.h"

namespace vecmesh::cli {

struct ImportRecord {
  // The binary formats: the row, from 0. A .jsonl file: the line, from 1.
  uint64_t number = 0;
  engine::PointId id;
  std::vector<float> vector;  // the file's dimension, every value finite
  nlohmann::json payload;     // an object, or null for none
  // Non-empty: a .jsonl line that is not a valid record, and why, naming the file and the line
  // ("data.jsonl: line 12: \"vector\" is not an array of numbers"). id, vector and payload are
  // then left empty. The binary formats never set it: what is wrong there is an error of Next.
  std::string error;
};

// Not thread-safe: one thread reads a file.
class VectorFile {
 public:
  // Opens `path`, its format chosen by its extension, and `ids_path` (an .ivecs file, or "" for
  // none; only with a binary format), whose number of ids must equal the number of vectors.
  // Errors (InvalidArgument, or NotFound for a missing file) name the file and what is wrong: an
  // unknown extension, a NumPy header other than the above, a first record of a bad dimension.
  static engine::StatusOr<std::unique_ptr<VectorFile>> Open(const std::string& path,
                                                            const std::string& ids_path = "");
  virtual ~VectorFile() = default;

  // Appends up to `max` records to *out, in file order; none once the file is read. An error
  // names the file and the row or line: a truncated record, a dimension unlike the first
  // record's, a value that is not finite, an ids file that runs out or holds a bad id. The
  // records before the failing one are still appended and counted; after an error the reader is
  // done, and every later call returns that error. A bad .jsonl line is not an error of Next but
  // a record with `error` set, so that the importer decides how many to skip.
  engine::Status Next(size_t max, std::vector<ImportRecord>* out);

  // For resuming: the next record read is the one that follows the first `records` records of
  // the file (records, not lines: a bad .jsonl line is a record, a blank one is not).
  // Binary formats seek there without reading what they skip; a .jsonl file reads its lines.
  // Skipping past the last record is an InvalidArgument naming how many the file holds.
  engine::Status SkipTo(uint64_t records);

  // Records read or skipped so far: what to give SkipTo to resume after them.
  uint64_t records_read() const { return records_read_; }
  // Progress through the vector file, in bytes, for a progress bar.
  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t total_bytes() const { return total_bytes_; }
  // Known up front for the binary formats whose size is a whole number of records; unknown
  // for .jsonl (and for a binary file that is not: reading it ends in an error).
  std::optional<uint64_t> total_records() const { return total_records_; }
  // Known once a record is read: up front for the binary formats (except an empty .fvecs or
  // .bvecs file), at the first valid line for .jsonl.
  std::optional<size_t> dimension() const { return dimension_; }

 protected:
  VectorFile(uint64_t total_bytes, std::optional<uint64_t> total_records,
             std::optional<size_t> dimension)
      : total_bytes_(total_bytes), total_records_(total_records), dimension_(dimension) {}

  // Reads the next record into *record: false at the end of the file.
  virtual engine::StatusOr<bool> ReadRecord(ImportRecord* record) = 0;
  // Positions the file at the start of record `records` (records_read() is the current one).
  virtual engine::Status Seek(uint64_t records) = 0;

  uint64_t bytes_read_ = 0;
  const uint64_t total_bytes_;
  const std::optional<uint64_t> total_records_;
  std::optional<size_t> dimension_;

 private:
  uint64_t records_read_ = 0;
  engine::Status failed_;  // sticky: the first error of Next or SkipTo
};

}  // namespace vecmesh::cli
