#include "api/cli/import_command.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <regex>
#include <thread>

#include "api/cli/import_state.h"
#include "api/cli/output.h"
#include "api/cli/progress.h"
#include "api/cli/vector_files.h"

namespace vecmesh::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kMaxAttempts = 8;  // of one batch, over transient failures
constexpr auto kFirstBackoff = std::chrono::milliseconds(200);
constexpr auto kMaxBackoff = std::chrono::seconds(5);

json PointToJson(const ImportRecord& record) {
  json point = {{"vector", record.vector}};
  std::visit([&](const auto& id) { point["id"] = id; }, record.id);
  if (record.payload.is_object()) point["payload"] = record.payload;
  return point;
}

// A failure worth another try of the same call, after a wait.
bool Transient(const Reply& reply) {
  if (reply.outcome == Reply::Outcome::kUnreachable) return true;
  if (reply.outcome != Reply::Outcome::kRefused) return false;
  return reply.code == "UNAVAILABLE" || reply.code == "DEADLINE_EXCEEDED" ||
         reply.code == "ABORTED" ||
         (reply.code == "RESOURCE_EXHAUSTED" && reply.message.find("larger") == std::string::npos);
}

// The server's limit on points per call, when `reply` refused a batch for passing it.
std::optional<size_t> PointsLimit(const Reply& reply) {
  static const std::regex kLimit("points has [0-9]+ entries; the limit is ([0-9]+)");
  std::smatch match;
  if (reply.outcome == Reply::Outcome::kRefused && reply.code == "INVALID_ARGUMENT" &&
      std::regex_search(reply.message, match, kLimit)) {
    return std::stoull(match[1].str());
  }
  return std::nullopt;
}

// Whether `reply` refused a request for its size in bytes (REST's 413, gRPC's message limit).
bool TooLarge(const Reply& reply) {
  return reply.outcome == Reply::Outcome::kRefused &&
         (reply.code == "HTTP_413" || (reply.code == "RESOURCE_EXHAUSTED" &&
                                       reply.message.find("larger") != std::string::npos));
}

// Writes `points` in calls of at most *batch points: a call refused for its size is split (and
// *batch shrinks for the rest of the import), a transient failure is tried again after a
// jittered, growing wait. Job ids, with --via-jobs, are appended to *jobs. The last failure, or
// Ok.
Reply Deliver(Connection& connection, const std::string& collection, const json& points,
              bool via_jobs, size_t* batch, std::vector<std::string>* jobs) {
  std::mt19937 random(std::random_device{}());
  size_t at = 0;
  int attempts = 0;
  while (at < points.size()) {
    const size_t n = std::min(*batch, points.size() - at);
    const json chunk(points.begin() + static_cast<std::ptrdiff_t>(at),
                     points.begin() + static_cast<std::ptrdiff_t>(at + n));
    const Reply reply = via_jobs ? connection.SubmitImport(collection, chunk)
                                 : connection.Upsert(collection, chunk);
    if (reply.outcome == Reply::Outcome::kOk) {
      if (via_jobs) jobs->push_back(reply.body.value("job_id", ""));
      at += n;
      attempts = 0;
      continue;
    }
    if (const auto limit = PointsLimit(reply); limit && *limit > 0 && *limit < n) {
      *batch = *limit;
      continue;
    }
    if (TooLarge(reply) && n > 1) {
      *batch = n / 2;
      continue;
    }
    if (!Transient(reply) || ++attempts >= kMaxAttempts) return reply;
    auto wait =
        std::min<std::chrono::milliseconds>(kFirstBackoff * (1 << (attempts - 1)), kMaxBackoff);
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int64_t>(wait.count() / 2, wait.count())(random)));
  }
  return Reply::Ok(nullptr);
}

// Waits until every job is done or failed: the first failure, or Ok.
Reply AwaitJobs(Connection& connection, const std::vector<std::string>& jobs, std::ostream& err) {
  Reply failed = Reply::Ok(nullptr);
  for (const std::string& id : jobs) {
    int attempts = 0;
    while (true) {
      const Reply job = connection.GetJob(id);
      if (job.outcome != Reply::Outcome::kOk) {
        if (!Transient(job) || ++attempts >= kMaxAttempts) return job;
        std::this_thread::sleep_for(kFirstBackoff * attempts);
        continue;
      }
      const std::string state = job.body.value("state", "");
      if (state == "done") break;
      if (state == "failed") {
        err << "vecmesh: job " << id << " failed: " << Cell(job.body.value("error", json()))
            << '\n';
        if (failed.outcome == Reply::Outcome::kOk) {
          failed =
              Reply::Refused("FAILED_PRECONDITION",
                             "job " + id + " failed: " + Cell(job.body.value("error", json())));
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return failed;
}

// What identifies an import for --resume: the file as it is now, and where it goes.
json Identity(const std::string& file, const std::string& ids, const CommandLine& line,
              const std::string& collection, bool via_jobs) {
  std::error_code ec;
  const auto canonical = [&](const std::string& path) {
    return path.empty() ? std::string() : fs::weakly_canonical(path, ec).string();
  };
  const auto modified = fs::last_write_time(file, ec).time_since_epoch().count();
  return {{"file", canonical(file)},
          {"size", fs::file_size(file, ec)},
          {"modified", static_cast<int64_t>(modified)},
          {"ids", canonical(ids)},
          {"collection", collection},
          {"url", line.connection.url},
          {"via_jobs", via_jobs}};
}

}  // namespace

int RunImport(const CommandLine& line, Connection& connection, std::ostream& out, std::ostream& err,
              bool err_is_terminal) {
  if (auto s = CheckFlags(line, "import",
                          {"collection", "ids", "batch", "resume", "via-jobs", "skip-bad"});
      !s.ok()) {
    return ReportUsage(err, s.message());
  }
  if (line.words.size() != 2) return ReportUsage(err, "import takes one FILE");
  const std::string& path = line.words[1];
  const auto collection = line.Flag("collection");
  if (!collection) return ReportUsage(err, "import needs --collection");
  size_t batch = 1000;
  if (const auto value = line.Flag("batch")) {
    auto n = PositiveNumber("batch", *value);
    if (!n.ok()) return ReportUsage(err, n.status().message());
    batch = static_cast<size_t>(*n);
  }
  uint64_t skip_bad = 0;
  if (const auto value = line.Flag("skip-bad"); value && *value != "0") {
    auto n = PositiveNumber("skip-bad", *value);
    if (!n.ok()) return ReportUsage(err, n.status().message());
    skip_bad = static_cast<uint64_t>(*n);
  }
  const bool via_jobs = line.Flag("via-jobs").has_value();
  const std::string ids = line.Flag("ids").value_or("");

  auto file = VectorFile::Open(path, ids);
  if (!file.ok()) return ReportUsage(err, file.status().message());
  auto state = ImportState::For(Identity(path, ids, line, *collection, via_jobs),
                                [](const char* name) -> const char* { return std::getenv(name); });
  if (!state.ok()) return ReportUsage(err, state.status().message());
  ImportProgress done;
  if (line.Flag("resume")) {
    auto saved = state->Load();
    if (!saved.ok()) return ReportUsage(err, saved.status().message());
    if (*saved) {
      done = std::move(**saved);
      if (auto s = (*file)->SkipTo(done.records); !s.ok()) return ReportUsage(err, s.message());
      err << "vecmesh: resuming " << path << " after " << done.records << " records\n";
    } else {
      err << "vecmesh: nothing to resume for " << path << " into " << *collection
          << ": starting from its first record\n";
    }
  } else {
    state->Remove();
  }

  Progress progress(err, err_is_terminal, "import " + fs::path(path).filename().string(),
                    done.points);
  const auto total = (*file)->total_records();
  auto report = [&] {
    const double fraction =
        total ? (*total == 0 ? 1.0 : static_cast<double>(done.records) / *total)
              : ((*file)->total_bytes() == 0
                     ? 1.0
                     : static_cast<double>((*file)->bytes_read()) / (*file)->total_bytes());
    // Points, against the file's records where they are known (binary files: one point each).
    progress.Update(done.points, total, fraction);
  };
  // Stops the import where it is: its state kept for --resume, the exit code returned.
  auto stop = [&](int code) {
    progress.Finish(done.points, false);
    return code;
  };
  std::vector<ImportRecord> records;
  while (true) {
    records.clear();
    const engine::Status read = (*file)->Next(batch, &records);
    json points = json::array();
    size_t used = 0;  // records of this read that count as done once `points` are written
    std::string too_many_bad;
    for (const ImportRecord& record : records) {
      if (!record.error.empty()) {
        err << "vecmesh: " << record.error << '\n';
        if (done.skipped + 1 > skip_bad) {
          too_many_bad = record.error;
          break;
        }
        ++done.skipped;
      } else {
        points.push_back(PointToJson(record));
      }
      ++used;
    }
    if (!points.empty()) {
      const Reply written = Deliver(connection, *collection, points, via_jobs, &batch, &done.jobs);
      if (written.outcome != Reply::Outcome::kOk) {
        const int code = stop(ReportFailure(written, line.json_output, out, err));
        err << "vecmesh: " << done.records << " records of " << path
            << " are in; --resume continues after them\n";
        return code;
      }
      done.points += points.size();
    }
    done.records += used;
    if (auto s = state->Save(done); !s.ok()) err << "vecmesh: " << s.message() << '\n';
    report();
    if (!too_many_bad.empty()) {
      const int code = stop(kExitUsage);
      err << "vecmesh: stopped at a bad record: more than " << skip_bad
          << " bad (--skip-bad N allows N)\n";
      return code;
    }
    if (!read.ok()) {
      const int code = stop(kExitUsage);
      err << "vecmesh: " << read.message() << '\n';
      return code;
    }
    if (records.empty()) break;
  }
  if (via_jobs) {
    err << "vecmesh: waiting for " << done.jobs.size() << " jobs\n";
    const Reply jobs = AwaitJobs(connection, done.jobs, err);
    if (jobs.outcome != Reply::Outcome::kOk) {
      return stop(ReportFailure(jobs, line.json_output, out, err));
    }
  }
  progress.Finish(done.points, true);
  state->Remove();
  json summary = {{"collection", *collection},
                  {"file", path},
                  {"points", done.points},
                  {"skipped", done.skipped}};
  if (via_jobs) summary["jobs"] = done.jobs.size();
  if (line.json_output) {
    out << summary.dump() << '\n';
  } else {
    out << "imported " << done.points << " points from " << path << " into " << *collection;
    if (done.skipped > 0) out << " (" << done.skipped << " bad records skipped)";
    if (via_jobs) out << " through " << done.jobs.size() << " jobs";
    out << '\n';
  }
  return kExitOk;
}

}  // namespace vecmesh::cli
