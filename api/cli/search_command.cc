#include "api/cli/search_command.h"

#include <algorithm>

#include "api/cli/output.h"

namespace vecmesh::cli {
namespace {

using nlohmann::json;

// POST .../search's body from the command's flags, or InvalidArgument naming the flag.
engine::StatusOr<json> SearchBody(const CommandLine& line) {
  const auto vector = line.Flag("vector");
  if (!vector) return engine::Status::InvalidArgument("search needs --vector");
  json body = {{"vector", json::parse(*vector, nullptr, /*allow_exceptions=*/false)}};
  const json& v = body["vector"];
  if (!v.is_array() || v.empty() ||
      !std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number(); })) {
    return engine::Status::InvalidArgument("--vector is not a JSON array of numbers: " + *vector);
  }
  if (const auto k = line.Flag("k")) {
    auto n = PositiveNumber("k", *k);
    if (!n.ok()) return n.status();
    body["k"] = *n;
  }
  if (const auto filter = line.Flag("filter")) {
    body["filter"] = json::parse(*filter, nullptr, /*allow_exceptions=*/false);
    if (!body["filter"].is_object()) {
      return engine::Status::InvalidArgument("--filter is not a JSON object: " + *filter);
    }
  }
  if (const auto store = line.Flag("store")) body["store"] = *store;
  for (const char* param : {"ef-search", "nprobe"}) {
    const auto value = line.Flag(param);
    if (!value) continue;
    auto n = PositiveNumber(param, *value);
    if (!n.ok()) return n.status();
    body["params"][param == std::string("ef-search") ? "ef_search" : "nprobe"] = *n;
  }
  return body;
}

}  // namespace

int RunSearch(const CommandLine& line, Connection& connection, std::ostream& out,
              std::ostream& err) {
  if (line.words.size() != 1) return ReportUsage(err, "search takes no operand");
  if (auto s = CheckFlags(line, "search",
                          {"collection", "vector", "k", "filter", "store", "ef-search", "nprobe"});
      !s.ok()) {
    return ReportUsage(err, s.message());
  }
  const auto collection = line.Flag("collection");
  if (!collection) return ReportUsage(err, "search needs --collection");
  auto body = SearchBody(line);
  if (!body.ok()) return ReportUsage(err, body.status().message());
  return Answer(
      connection.Search(*collection, *body), line.json_output, out, err, [&](const json& answer) {
        std::vector<std::vector<std::string>> rows = {{"RANK", "ID", "SCORE", "PAYLOAD"}};
        size_t rank = 0;
        for (const json& r : answer.value("results", json::array())) {
          rows.push_back({std::to_string(++rank), r.value("id", json()).dump(),
                          Cell(r.value("score", json())), Cell(r.value("payload", json()))});
        }
        PrintTable(out, rows);
        if (answer.contains("stores")) {
          std::vector<std::vector<std::string>> stores = {
              {"STORE", "STATUS", "TOOK_MS", "MESSAGE"}};
          for (const auto& [name, s] : answer["stores"].items()) {
            stores.push_back({name, Cell(s.value("status", json())),
                              Cell(s.value("took_ms", json())), Cell(s.value("message", json()))});
          }
          out << '\n';
          PrintTable(out, stores);
        }
      });
}

}  // namespace vecmesh::cli
