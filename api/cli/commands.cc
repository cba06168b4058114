#include "api/cli/commands.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>

#include "api/cli/import_command.h"
#include "api/cli/output.h"
#include "api/cli/search_command.h"

namespace vecmesh::cli {
namespace {

using nlohmann::json;

// "hnsw m=16 ef_construction=200 ef_search=64"
std::string IndexCell(const json& index) {
  if (!index.is_object()) return Cell(index);
  std::string out = index.value("type", "?");
  for (const auto& [name, value] : index.items()) {
    if (name != "type") out += " " + name + "=" + Cell(value);
  }
  return out;
}

std::string BackendsCell(const json& backends) {
  std::string out;
  for (const json& backend : backends) {
    if (!out.empty()) out += ',';
    out += Cell(backend);
  }
  return out;
}

void PrintStores(std::ostream& out, const json& stores) {
  std::vector<std::vector<std::string>> rows = {{"STORE", "STATUS", "PENDING", "MESSAGE"}};
  for (const auto& [name, state] : stores.items()) {
    rows.push_back({name, Cell(state.value("status", json())), Cell(state.value("pending", json())),
                    Cell(state.value("message", json()))});
  }
  PrintTable(out, rows);
}

void PrintCollection(std::ostream& out, const json& info) {
  PrintTable(out, {{"name", Cell(info.value("name", json()))},
                   {"dimension", Cell(info.value("dimension", json()))},
                   {"metric", Cell(info.value("metric", json()))},
                   {"index", IndexCell(info.value("index", json()))},
                   {"backends", BackendsCell(info.value("backends", json::array()))},
                   {"points", Cell(info.value("points", json()))},
                   {"indexed_points", Cell(info.value("indexed_points", json()))},
                   {"status", Cell(info.value("status", json()))}});
  if (info.contains("stores")) {
    out << '\n';
    PrintStores(out, info["stores"]);
  }
}

// PUT /v1/collections/{name}'s body from the create command's flags.
engine::StatusOr<json> CreateConfig(const CommandLine& line) {
  const std::vector<std::string> index_params = {"m",     "ef-construction", "ef-search",
                                                 "nlist", "nprobe",          "nbits"};
  std::vector<std::string> allowed = {"dimension", "metric", "index", "backends"};
  allowed.insert(allowed.end(), index_params.begin(), index_params.end());
  if (auto s = CheckFlags(line, "collections create", allowed); !s.ok()) return s;
  const auto dimension = line.Flag("dimension");
  if (!dimension) return engine::Status::InvalidArgument("collections create needs --dimension");
  auto dim = PositiveNumber("dimension", *dimension);
  if (!dim.ok()) return dim.status();
  json config = {{"dimension", *dim}};
  if (auto metric = line.Flag("metric")) config["metric"] = *metric;
  json index = {{"type", line.Flag("index").value_or("flat")}};
  for (const std::string& param : index_params) {
    const auto value = line.Flag(param);
    if (!value) continue;
    auto number = PositiveNumber(param, *value);
    if (!number.ok()) return number.status();
    std::string field = param;
    std::replace(field.begin(), field.end(), '-', '_');
    index[field] = *number;
  }
  if (line.Flag("index") || index.size() > 1) config["index"] = index;
  if (auto backends = line.Flag("backends")) {
    json list = json::array();
    size_t from = 0;
    while (from <= backends->size()) {
      const size_t comma = std::min(backends->find(',', from), backends->size());
      list.push_back(backends->substr(from, comma - from));
      from = comma + 1;
    }
    config["backends"] = list;
  }
  return config;
}

int Health(const CommandLine& line, Connection& connection, std::ostream& out, std::ostream& err) {
  if (auto s = CheckFlags(line, "health", {}); !s.ok()) return ReportUsage(err, s.message());
  const Reply reply = connection.Health();
  const json& report = reply.body;
  if (!line.json_output && report.is_object()) {
    out << "status  " << Cell(report.value("status", json())) << '\n';
    if (report.contains("dependencies")) {
      std::vector<std::vector<std::string>> rows = {{"DEPENDENCY", "STATUS", "MESSAGE"}};
      for (const auto& [name, dependency] : report["dependencies"].items()) {
        rows.push_back({name, Cell(dependency.value("status", json())),
                        Cell(dependency.value("message", json()))});
      }
      out << '\n';
      PrintTable(out, rows);
    }
  }
  if (reply.outcome != Reply::Outcome::kOk) {
    return ReportFailure(reply, line.json_output, out, err);
  }
  if (line.json_output) out << Dump(report) << '\n';
  return kExitOk;
}

int Collections(const CommandLine& line, Connection& connection, std::ostream& out,
                std::ostream& err) {
  const std::string verb = line.words.size() > 1 ? line.words[1] : "";
  const size_t operands = line.words.size() - std::min<size_t>(line.words.size(), 2);
  auto done = [&](const Reply& reply, auto print) {
    return Answer(reply, line.json_output, out, err, print);
  };
  if (verb == "list") {
    if (operands != 0) return ReportUsage(err, "collections list takes no operand");
    if (auto s = CheckFlags(line, "collections list", {}); !s.ok())
      return ReportUsage(err, s.message());
    return done(connection.ListCollections(), [&](const json& body) {
      std::vector<std::vector<std::string>> rows = {
          {"NAME", "DIMENSION", "METRIC", "INDEX", "POINTS", "STATUS", "BACKENDS"}};
      for (const json& info : body.value("collections", json::array())) {
        rows.push_back({Cell(info.value("name", json())), Cell(info.value("dimension", json())),
                        Cell(info.value("metric", json())), IndexCell(info.value("index", json())),
                        Cell(info.value("points", json())), Cell(info.value("status", json())),
                        BackendsCell(info.value("backends", json::array()))});
      }
      PrintTable(out, rows);
    });
  }
  if (verb != "info" && verb != "create" && verb != "drop") {
    return ReportUsage(err, "collections takes list, info, create or drop, not '" + verb + "'");
  }
  if (operands != 1) return ReportUsage(err, "collections " + verb + " takes one NAME");
  const std::string& name = line.words[2];
  if (verb == "info") {
    if (auto s = CheckFlags(line, "collections info", {}); !s.ok())
      return ReportUsage(err, s.message());
    return done(connection.GetCollection(name),
                [&](const json& info) { PrintCollection(out, info); });
  }
  if (verb == "create") {
    auto config = CreateConfig(line);
    if (!config.ok()) return ReportUsage(err, config.status().message());
    return done(connection.CreateCollection(name, *config), [&](const json& body) {
      out << (body.value("created", false)
                  ? "created collection " + name
                  : "collection " + name + " already exists with this configuration")
          << "\n\n";
      PrintCollection(out, body.value("collection", json::object()));
    });
  }
  if (auto s = CheckFlags(line, "collections drop", {}); !s.ok())
    return ReportUsage(err, s.message());
  return done(connection.DropCollection(name),
              [&](const json&) { out << "dropped collection " << name << '\n'; });
}

int Jobs(const CommandLine& line, Connection& connection, std::ostream& out, std::ostream& err) {
  if (line.words.size() != 3 || line.words[1] != "status") {
    return ReportUsage(err, "jobs takes: status JOB_ID");
  }
  if (auto s = CheckFlags(line, "jobs status", {}); !s.ok()) return ReportUsage(err, s.message());
  return Answer(connection.GetJob(line.words[2]), line.json_output, out, err, [&](const json& job) {
    PrintTable(out, {{"job_id", Cell(job.value("job_id", json()))},
                     {"collection", Cell(job.value("collection", json()))},
                     {"state", Cell(job.value("state", json()))},
                     {"points", Cell(job.value("points", json()))},
                     {"error", Cell(job.value("error", json()))}});
  });
}

// Reads the whole file at `path` into *bytes; false if it cannot be read.
bool ReadFile(const std::string& path, std::string* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  bytes->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

int Snapshots(const CommandLine& line, Connection& connection, std::ostream& out,
              std::ostream& err) {
  const std::string verb = line.words.size() > 1 ? line.words[1] : "";
  const std::vector<std::string> operands(
      line.words.begin() + std::min<size_t>(2, line.words.size()), line.words.end());
  const std::string command = "snapshots " + verb;
  const auto collection = line.Flag("collection");
  auto answer = [&](const Reply& reply, auto print) {
    return Answer(reply, line.json_output, out, err, print);
  };
  auto need = [&](size_t n, const std::string& what) -> std::optional<int> {
    if (operands.size() != n) return ReportUsage(err, command + " takes " + what);
    if (!collection) return ReportUsage(err, command + " needs --collection");
    return std::nullopt;
  };
  if (verb == "create" || verb == "list") {
    if (auto s = CheckFlags(line, command, {"collection"}); !s.ok()) {
      return ReportUsage(err, s.message());
    }
    if (auto usage = need(0, "no operand")) return *usage;
    if (verb == "create") {
      return answer(connection.CreateSnapshot(*collection), [&](const json& snapshot) {
        out << "created snapshot " << Cell(snapshot.value("snapshot", json())) << " ("
            << Cell(snapshot.value("size", json())) << " bytes)\n";
      });
    }
    return answer(connection.ListSnapshots(*collection), [&](const json& body) {
      std::vector<std::vector<std::string>> rows = {{"SNAPSHOT", "SIZE"}};
      for (const json& s : body.value("snapshots", json::array())) {
        rows.push_back({Cell(s.value("snapshot", json())), Cell(s.value("size", json()))});
      }
      PrintTable(out, rows);
    });
  }
  if (verb == "restore") {
    if (auto s = CheckFlags(line, command, {"collection"}); !s.ok()) {
      return ReportUsage(err, s.message());
    }
    if (auto usage = need(1, "one SNAPSHOT")) return *usage;
    return answer(connection.RestoreSnapshot(*collection, operands[0]), [&](const json&) {
      out << "restored collection " << *collection << " from snapshot " << operands[0] << '\n';
    });
  }
  if (verb == "upload") {
    if (auto s = CheckFlags(line, command, {"collection"}); !s.ok()) {
      return ReportUsage(err, s.message());
    }
    if (auto usage = need(1, "one FILE")) return *usage;
    std::string file;
    if (!ReadFile(operands[0], &file)) return ReportUsage(err, "cannot read '" + operands[0] + "'");
    return answer(connection.UploadSnapshot(*collection, file), [&](const json&) {
      out << "restored collection " << *collection << " from " << operands[0] << '\n';
    });
  }
  if (verb == "download") {
    if (auto s = CheckFlags(line, command, {"collection", "output"}); !s.ok()) {
      return ReportUsage(err, s.message());
    }
    if (auto usage = need(1, "one SNAPSHOT")) return *usage;
    const std::string path = line.Flag("output").value_or(operands[0]);
    std::string file;
    const Reply reply = connection.DownloadSnapshot(*collection, operands[0], &file);
    if (reply.outcome == Reply::Outcome::kOk) {
      std::ofstream to(path, std::ios::binary | std::ios::trunc);
      to.write(file.data(), static_cast<std::streamsize>(file.size()));
      to.close();
      if (!to) {
        err << "vecmesh: cannot write '" << path << "'\n";
        return kExitUsage;
      }
    }
    return answer(reply, [&](const json&) {
      out << "downloaded snapshot " << operands[0] << " to " << path << " (" << file.size()
          << " bytes)\n";
    });
  }
  return ReportUsage(
      err, "snapshots takes create, list, download, restore or upload, not '" + verb + "'");
}

}  // namespace

int RunCommand(const CommandLine& line, Connection& connection, std::ostream& out,
               std::ostream& err, bool err_is_terminal) {
  if (line.words.empty()) return ReportUsage(err, "no command");
  const std::string& command = line.words[0];
  if (command == "health") {
    if (line.words.size() != 1) return ReportUsage(err, "health takes no operand");
    return Health(line, connection, out, err);
  }
  if (command == "collections") return Collections(line, connection, out, err);
  if (command == "search") return RunSearch(line, connection, out, err);
  if (command == "import") return RunImport(line, connection, out, err, err_is_terminal);
  if (command == "jobs") return Jobs(line, connection, out, err);
  if (command == "snapshots") return Snapshots(line, connection, out, err);
  return ReportUsage(err, "'" + command + "' is not a command");
}

}  // namespace vecmesh::cli
