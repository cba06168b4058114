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

constexpr int kMaxAttempts = 8;  // of one call, over transient failures
constexpr auto kFirstBackoff = std::chrono::milliseconds(200);
constexpr auto kMaxBackoff = std::chrono::seconds(5);
// What one call's points are kept under, estimated: half the server's default body limit (32
// MiB), so that the estimate's error never reaches it.
constexpr size_t kMaxRequestBytes = 16u << 20;
// Calls below this size that fail with no answer are outages, not bodies past a limit.
constexpr size_t kMaxResetProneBytes = 1u << 20;

struct ImportOptions {
  std::string path;
  std::string ids;
  std::string collection;
  size_t batch = 1000;
  uint64_t skip_bad = 0;
  bool via_jobs = false;
  bool resume = false;
};

engine::StatusOr<ImportOptions> ParseImportOptions(const CommandLine& line) {
  if (auto s = CheckFlags(line, "import",
                          {"collection", "ids", "batch", "resume", "via-jobs", "skip-bad"});
      !s.ok()) {
    return s;
  }
  if (line.words.size() != 2) return engine::Status::InvalidArgument("import takes one FILE");
  ImportOptions options;
  options.path = line.words[1];
  const auto collection = line.Flag("collection");
  if (!collection) return engine::Status::InvalidArgument("import needs --collection");
  options.collection = *collection;
  if (const auto value = line.Flag("batch")) {
    auto n = PositiveNumber("batch", *value);
    if (!n.ok()) return n.status();
    options.batch = static_cast<size_t>(*n);
  }
  if (const auto value = line.Flag("skip-bad"); value && *value != "0") {
    auto n = PositiveNumber("skip-bad", *value);
    if (!n.ok()) return n.status();
    options.skip_bad = static_cast<uint64_t>(*n);
  }
  options.via_jobs = line.Flag("via-jobs").has_value();
  options.resume = line.Flag("resume").has_value();
  options.ids = line.Flag("ids").value_or("");
  return options;
}

json PointToJson(const ImportRecord& record) {
  json point = {{"vector", record.vector}};
  std::visit([&](const auto& id) { point["id"] = id; }, record.id);
  if (record.payload.is_object()) point["payload"] = record.payload;
  return point;
}

// The most a point's JSON can take: a float needs at most 23 characters and a comma
// ("-1.2345678397923335e-05,").
size_t MaxJsonBytes(const ImportRecord& record, const json& point) {
  size_t bytes = 64 + 24 * record.vector.size();
  if (const auto* id = std::get_if<std::string>(&record.id)) bytes += 6 * id->size();
  if (point.contains("payload")) {
    bytes += point["payload"].dump(-1, ' ', false, json::error_handler_t::replace).size();
  }
  return bytes;
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
  // An upsert's limit, or a job's on RabbitMQ.
  static const std::regex kLimit(
      "points has [0-9]+ entries; (?:the limit is|a job on RabbitMQ takes at most) ([0-9]+)");
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

// What identifies an import for --resume: the file as it is now, and where it goes.
json Identity(const ImportOptions& options, const std::string& url) {
  std::error_code ec;
  const auto canonical = [&](const std::string& path) {
    return path.empty() ? std::string() : fs::weakly_canonical(path, ec).string();
  };
  const auto modified = fs::last_write_time(options.path, ec).time_since_epoch().count();
  return {{"file", canonical(options.path)},
          {"size", fs::file_size(options.path, ec)},
          {"modified", static_cast<int64_t>(modified)},
          {"ids", canonical(options.ids)},
          {"collection", options.collection},
          {"url", url},
          {"via_jobs", options.via_jobs}};
}

// One import, from its first unsent record to the end of the file.
class Importer {
 public:
  Importer(const ImportOptions& options, const CommandLine& line, Connection& connection,
           VectorFile& file, std::optional<ImportState> state, ImportProgress done,
           std::ostream& out, std::ostream& err, bool terminal)
      : options_(options),
        json_output_(line.json_output),
        connection_(connection),
        file_(file),
        state_(std::move(state)),
        done_(std::move(done)),
        out_(out),
        err_(err),
        batch_(options.batch),
        progress_(err, terminal, "import " + fs::path(options.path).filename().string(),
                  done_.points, Fraction()) {}

  int Run() {
    std::vector<ImportRecord> records;
    while (true) {
      records.clear();
      const engine::Status read = file_.Next(options_.batch, &records);
      json points = json::array();
      const uint64_t skipped_before = done_.skipped;
      size_t max_point_bytes = 0;
      size_t used = 0;  // records of this read that are done once `points` are written
      bool too_many_bad = false;
      for (const ImportRecord& record : records) {
        if (!record.error.empty()) {
          Message("vecmesh: " + record.error);
          if (done_.skipped + 1 > options_.skip_bad) {
            too_many_bad = true;
            break;
          }
          ++done_.skipped;
        } else {
          points.push_back(PointToJson(record));
          max_point_bytes = std::max(max_point_bytes, MaxJsonBytes(record, points.back()));
        }
        ++used;
      }
      if (!points.empty()) {
        const Reply written = Deliver(points, max_point_bytes, done_.records, skipped_before);
        if (written.outcome != Reply::Outcome::kOk) return Fail(written);
        done_.points += points.size();
      }
      done_.records += used;
      Save();
      progress_.Update(done_.points, file_.total_records(), Fraction());
      if (too_many_bad) {
        return Stop("stopped at a bad record: more than " + std::to_string(options_.skip_bad) +
                    " bad (--skip-bad N allows N)");
      }
      if (!read.ok()) return Stop(read.message());
      if (records.empty()) break;
    }
    if (options_.via_jobs) {
      Message("vecmesh: waiting for " + std::to_string(done_.jobs.size()) + " jobs");
      const Reply jobs = AwaitJobs();
      if (jobs.outcome != Reply::Outcome::kOk) return Fail(jobs);
    }
    progress_.Finish(done_.points, true);
    if (state_) state_->Remove();
    PrintSummary();
    return kExitOk;
  }

 private:
  // The fraction of the file done: its records where their count is known, else its bytes.
  double Fraction() const {
    if (const auto total = file_.total_records()) {
      return *total == 0 ? 1.0 : static_cast<double>(done_.records) / *total;
    }
    return file_.total_bytes() == 0 ? 1.0
                                    : static_cast<double>(file_.bytes_read()) / file_.total_bytes();
  }

  // A line on err_, clear of the progress bar.
  void Message(const std::string& text) {
    progress_.Clear();
    err_ << text << '\n';
  }

  void Save() {
    if (!state_) return;
    if (auto s = state_->Save(done_); !s.ok()) Message("vecmesh: " + s.message());
  }

  // A bad file or a bad record: the import stops, its state kept for --resume. Exit 1.
  int Stop(const std::string& why) {
    progress_.Finish(done_.points, false);
    err_ << "vecmesh: " << why << '\n';
    return kExitUsage;
  }

  // The server refused, or could not be reached: the import stops, its state kept.
  int Fail(const Reply& reply) {
    progress_.Finish(done_.points, false);
    const int code = ReportFailure(reply, json_output_, out_, err_);
    err_ << "vecmesh: " << done_.records << " records of " << options_.path
         << " are done; --resume continues after them\n";
    return code;
  }

  // Writes `points` (the records from `first_record` on) in calls of at most batch_ points and
  // about kMaxRequestBytes: a call refused for its size is split (and batch_ shrinks for the
  // rest of the import), a transient failure is tried again after a jittered, growing wait.
  // With --via-jobs each call is a job, noted in done_.jobs. The last failure, or Ok.
  Reply Deliver(const json& points, size_t max_point_bytes, uint64_t first_record,
                uint64_t skipped_before) {
    std::mt19937 random(std::random_device{}());
    const size_t byte_cap =
        std::max<size_t>(1, kMaxRequestBytes / std::max<size_t>(1, max_point_bytes));
    size_t at = 0;
    int attempts = 0;
    while (at < points.size()) {
      const size_t n = std::min({batch_, byte_cap, points.size() - at});
      const json chunk(points.begin() + static_cast<std::ptrdiff_t>(at),
                       points.begin() + static_cast<std::ptrdiff_t>(at + n));
      const Reply reply = options_.via_jobs ? connection_.SubmitImport(options_.collection, chunk)
                                            : connection_.Upsert(options_.collection, chunk);
      if (reply.outcome == Reply::Outcome::kOk) {
        if (options_.via_jobs) {
          const json& id = reply.body.value("job_id", json());
          done_.jobs.push_back(
              {id.is_string() ? id.get<std::string>() : Dump(id), first_record, skipped_before, n});
        }
        at += n;
        attempts = 0;
        continue;
      }
      if (const auto limit = PointsLimit(reply); limit && *limit > 0 && *limit < n) {
        batch_ = *limit;
        continue;
      }
      if (TooLarge(reply) && n > 1) {
        batch_ = n / 2;
        continue;
      }
      if (!Transient(reply) || ++attempts >= kMaxAttempts) return reply;
      // A server with a smaller body limit answers 413 as soon as it has read the headers and
      // closes while the body is still being sent, so the client sees a reset, not the 413:
      // after two resets in a row, a large call is halved as a refused one would be.
      if (reply.outcome == Reply::Outcome::kUnreachable && attempts % 2 == 0 && n > 1 &&
          n * max_point_bytes > kMaxResetProneBytes) {
        batch_ = n / 2;
      }
      const auto wait =
          std::min<std::chrono::milliseconds>(kFirstBackoff * (1 << (attempts - 1)), kMaxBackoff);
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::uniform_int_distribution<int64_t>(wait.count() / 2, wait.count())(random)));
    }
    return Reply::Ok(nullptr);
  }

  // Waits until every job is done or failed. A failed job's records, and every one after them,
  // are no longer done: the state is saved so that --resume sends them again. The first
  // failure, or Ok.
  Reply AwaitJobs() {
    std::optional<SubmittedJob> failed_from;  // the failed job whose records come first
    Reply failure = Reply::Ok(nullptr);
    for (const SubmittedJob& job : done_.jobs) {
      int attempts = 0;
      while (true) {
        const Reply reply = connection_.GetJob(job.id);
        if (reply.outcome != Reply::Outcome::kOk) {
          if (!Transient(reply) || ++attempts >= kMaxAttempts) return reply;
          std::this_thread::sleep_for(kFirstBackoff * attempts);
          continue;
        }
        const json& state = reply.body.value("state", json());
        if (state == "done") break;
        if (state == "failed") {
          const std::string why = Cell(reply.body.value("error", json()));
          Message("vecmesh: job " + job.id + " failed: " + why);
          if (failure.outcome == Reply::Outcome::kOk) {
            failure = Reply::Refused("FAILED_PRECONDITION", "job " + job.id + " failed: " + why);
          }
          if (!failed_from || job.first_record < failed_from->first_record) failed_from = job;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    if (failed_from) {
      // The jobs from the failed one's records on are to be sent again, and not counted.
      std::erase_if(done_.jobs, [&](const SubmittedJob& job) {
        if (job.first_record < failed_from->first_record) return false;
        done_.points -= job.points;
        return true;
      });
      done_.records = failed_from->first_record;
      done_.skipped = failed_from->skipped_before;  // the bad lines after it are read again
      Save();
    }
    return failure;
  }

  void PrintSummary() {
    json summary = {{"collection", options_.collection},
                    {"file", options_.path},
                    {"points", done_.points},
                    {"skipped", done_.skipped}};
    if (options_.via_jobs) summary["jobs"] = done_.jobs.size();
    if (json_output_) {
      out_ << summary.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
      return;
    }
    out_ << "imported " << done_.points << " points from " << options_.path << " into "
         << options_.collection;
    if (done_.skipped > 0) out_ << " (" << done_.skipped << " bad records skipped)";
    if (options_.via_jobs) out_ << " through " << done_.jobs.size() << " jobs";
    out_ << '\n';
  }

  const ImportOptions& options_;
  const bool json_output_;
  Connection& connection_;
  VectorFile& file_;
  const std::optional<ImportState> state_;  // none: progress is not saved (no --resume then)
  ImportProgress done_;
  std::ostream& out_;
  std::ostream& err_;
  size_t batch_;  // points per call: --batch, or less once the server refused a call's size
  Progress progress_;
};

}  // namespace

int RunImport(const CommandLine& line, Connection& connection, std::ostream& out, std::ostream& err,
              bool err_is_terminal) {
  auto options = ParseImportOptions(line);
  if (!options.ok()) return ReportUsage(err, options.status().message());
  auto file = VectorFile::Open(options->path, options->ids);
  if (!file.ok()) return ReportUsage(err, file.status().message());

  // The state: required to resume; without --resume, an import that cannot save it goes on
  // (and says so), since only a later --resume would read it.
  std::optional<ImportState> state;
  auto found = ImportState::For(Identity(*options, line.connection.url),
                                [](const char* name) -> const char* { return std::getenv(name); });
  if (found.ok()) {
    state = std::move(*found);
  } else if (options->resume) {
    return ReportUsage(err, found.status().message());
  } else {
    err << "vecmesh: " << found.status().message() << "; this import cannot be resumed\n";
  }
  ImportProgress done;
  if (options->resume) {
    auto saved = state->Load();
    if (!saved.ok()) return ReportUsage(err, saved.status().message());
    if (*saved) {
      done = std::move(**saved);
      if (auto s = (*file)->SkipTo(done.records); !s.ok()) return ReportUsage(err, s.message());
      err << "vecmesh: resuming " << options->path << " after " << done.records << " records\n";
    } else {
      err << "vecmesh: nothing to resume for " << options->path << " into " << options->collection
          << ": starting from its first record\n";
    }
  } else if (state) {
    state->Remove();
  }
  Importer importer(*options, line, connection, **file, std::move(state), std::move(done), out, err,
                    err_is_terminal);
  return importer.Run();
}

}  // namespace vecmesh::cli
