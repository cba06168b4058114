#include "api/cli/commands.h"

#include <algorithm>
#include <ostream>

#include "api/cli/output.h"

namespace vecmesh::cli {
namespace {

using nlohmann::json;

// A usage error: the message, and where to look.
int Usage(std::ostream& err, const std::string& message) {
  err << "vecmesh: " << message << " (vecmesh --help)\n";
  return kExitUsage;
}

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

// A whole number from 1 to 2^31 - 1 given to --`name`, or a usage error.
engine::StatusOr<int> PositiveInt(const std::string& name, const std::string& value) {
  const bool digits =
      !value.empty() && value.size() <= 10 &&
      std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoll(value) < 1 || std::stoll(value) > 2147483647) {
    return engine::Status::InvalidArgument("--" + name + " is '" + value +
                                           "': a whole number from 1 to 2147483647");
  }
  return static_cast<int>(std::stoll(value));
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
  auto dim = PositiveInt("dimension", *dimension);
  if (!dim.ok()) return dim.status();
  json config = {{"dimension", *dim}};
  if (auto metric = line.Flag("metric")) config["metric"] = *metric;
  json index = {{"type", line.Flag("index").value_or("flat")}};
  for (const std::string& param : index_params) {
    const auto value = line.Flag(param);
    if (!value) continue;
    auto number = PositiveInt(param, *value);
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
  if (auto s = CheckFlags(line, "health", {}); !s.ok()) return Usage(err, s.message());
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
  if (line.json_output) out << report.dump() << '\n';
  return kExitOk;
}

int Collections(const CommandLine& line, Connection& connection, std::ostream& out,
                std::ostream& err) {
  const std::string verb = line.words.size() > 1 ? line.words[1] : "";
  const size_t operands = line.words.size() - std::min<size_t>(line.words.size(), 2);
  auto done = [&](const Reply& reply, auto print) {
    if (reply.outcome != Reply::Outcome::kOk) {
      return ReportFailure(reply, line.json_output, out, err);
    }
    if (line.json_output) {
      out << reply.body.dump() << '\n';
    } else {
      print(reply.body);
    }
    return static_cast<int>(kExitOk);
  };
  if (verb == "list") {
    if (operands != 0) return Usage(err, "collections list takes no operand");
    if (auto s = CheckFlags(line, "collections list", {}); !s.ok()) return Usage(err, s.message());
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
    return Usage(err, "collections takes list, info, create or drop, not '" + verb + "'");
  }
  if (operands != 1) return Usage(err, "collections " + verb + " takes one NAME");
  const std::string& name = line.words[2];
  if (verb == "info") {
    if (auto s = CheckFlags(line, "collections info", {}); !s.ok()) return Usage(err, s.message());
    return done(connection.GetCollection(name),
                [&](const json& info) { PrintCollection(out, info); });
  }
  if (verb == "create") {
    auto config = CreateConfig(line);
    if (!config.ok()) return Usage(err, config.status().message());
    return done(connection.CreateCollection(name, *config), [&](const json& body) {
      out << (body.value("created", false)
                  ? "created collection " + name
                  : "collection " + name + " already exists with this configuration")
          << "\n\n";
      PrintCollection(out, body.value("collection", json::object()));
    });
  }
  if (auto s = CheckFlags(line, "collections drop", {}); !s.ok()) return Usage(err, s.message());
  return done(connection.DropCollection(name),
              [&](const json&) { out << "dropped collection " << name << '\n'; });
}

}  // namespace

int RunCommand(const CommandLine& line, Connection& connection, std::ostream& out,
               std::ostream& err) {
  if (line.words.empty()) return Usage(err, "no command");
  const std::string& command = line.words[0];
  if (command == "health") {
    if (line.words.size() != 1) return Usage(err, "health takes no operand");
    return Health(line, connection, out, err);
  }
  if (command == "collections") return Collections(line, connection, out, err);
  return Usage(err, "'" + command + "' is not a command");
}

}  // namespace vecmesh::cli
