// JobBook: the status of every job this vecmeshd published or consumed (GET /v1/jobs/{id}), kept
// across restarts in one file of JSON lines, a line per change (the last line of an id wins).
// Open reads it back and rewrites it (fsynced, renamed into place) without the lines later ones
// replaced and without the jobs that finished more than `retention` ago; so does Record once the
// file holds about twice the lines it needs. A line is written (not fsynced) before Record
// returns: a status survives a crash of the process; a power loss may take the last ones, which
// only a status, never a job's writes, can lose (those are durable in the engine's log). A
// finished job (done or failed) keeps its status: a later record of the same id is ignored.
//
// Thread safety: every method is safe for concurrent calls.
#pragma once

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/service/jobs.h"

namespace vecmesh::api {

class JobBook {
 public:
  static engine::StatusOr<std::unique_ptr<JobBook>> Open(const std::string& path,
                                                         std::chrono::seconds retention);

  void Record(const Job& job);
  // NotFound naming the id when this vecmeshd knows no such job.
  engine::StatusOr<Job> Get(const std::string& id) const;
  // Jobs queued or running.
  size_t unfinished() const;

 private:
  struct Entry {
    Job job;
    int64_t at_unix_ms = 0;  // of its last change
  };
  JobBook(std::string path, std::chrono::seconds retention, std::map<std::string, Entry> jobs);
  // Drops the expired jobs and rewrites the file from jobs_ (mu_ held).
  engine::Status CompactLocked();

  const std::string path_;
  const std::chrono::seconds retention_;
  mutable std::mutex mu_;  // guards the three below
  std::map<std::string, Entry> jobs_;
  std::ofstream out_;
  size_t lines_ = 0;  // in the file
};

}  // namespace vecmesh::api
