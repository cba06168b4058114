// Where an import got to, kept on disk so that `vecmesh import --resume` continues after the
// client was stopped or killed: the records of the file the server has acknowledged, and the
// jobs submitted. One file per (file, ids file, collection, server, way), under the state
// directory: VECMESH_STATE_DIR, else $XDG_STATE_HOME/vecmesh, else ~/.local/state/vecmesh.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/status.h"

namespace vecmesh::cli {

// --via-jobs: a job submitted, and where its points are in the file, so that a failed job's
// records can be sent again.
struct SubmittedJob {
  std::string id;
  uint64_t first_record = 0;    // the record its batch began at
  uint64_t skipped_before = 0;  // bad records skipped before that one
  uint64_t points = 0;
};

struct ImportProgress {
  uint64_t records = 0;            // the file's first records, acknowledged (or skipped as bad)
  uint64_t points = 0;             // of them, points written (or submitted as jobs)
  uint64_t skipped = 0;            // of them, bad lines skipped
  std::vector<SubmittedJob> jobs;  // --via-jobs: the jobs submitted, to wait for
};

class ImportState {
 public:
  // `identity` says which import this is (the file's path, size and modification time among
  // it): a state written for another identity is not resumed. `env` looks up the environment.
  static engine::StatusOr<ImportState> For(const nlohmann::json& identity,
                                           const char* (*env)(const char*));

  // The progress saved for this import, if any.
  engine::StatusOr<std::optional<ImportProgress>> Load() const;
  // Saves `progress` (written to a temporary file, fsynced and renamed over the last one).
  engine::Status Save(const ImportProgress& progress) const;
  // The import is complete: its state goes.
  void Remove() const;

 private:
  ImportState(nlohmann::json identity, std::string path)
      : identity_(std::move(identity)), path_(std::move(path)) {}

  nlohmann::json identity_;
  std::string path_;
};

}  // namespace vecmesh::cli
