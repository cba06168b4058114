#include "api/cli/search_command.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "api/cli/output.h"
#include "api/cli/vector_files.h"

namespace vecmesh::cli {
namespace {

using nlohmann::json;

// The query: --vector's JSON array, or row (record) --row of the vector file --from.
engine::StatusOr<json> QueryVector(const CommandLine& line) {
  const auto vector = line.Flag("vector");
  const auto from = line.Flag("from");
  if (vector.has_value() == from.has_value()) {
    return engine::Status::InvalidArgument("search needs --vector JSON or --from FILE --row N");
  }
  if (vector) {
    json v = json::parse(*vector, nullptr, /*allow_exceptions=*/false);
    if (!v.is_array() || v.empty() ||
        !std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number(); })) {
      return engine::Status::InvalidArgument("--vector is not a JSON array of numbers: " + *vector);
    }
    // Vectors are float32: a value beyond its range would become infinite on the way.
    for (size_t i = 0; i < v.size(); ++i) {
      const double x = v[i].get<double>();
      if (!std::isfinite(x) || std::fabs(x) > std::numeric_limits<float>::max()) {
        return engine::Status::InvalidArgument("--vector[" + std::to_string(i) + "] is " +
                                               v[i].dump() + ": beyond float32's range");
      }
    }
    return v;
  }
  const auto row = line.Flag("row");
  if (!row) return engine::Status::InvalidArgument("--from needs --row N (0 is the first)");
  const bool digits =
      !row->empty() && row->size() <= 19 &&
      std::all_of(row->begin(), row->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return engine::Status::InvalidArgument("--row is '" + *row + "': a record number");
  auto file = VectorFile::Open(*from);
  if (!file.ok()) return file.status();
  const uint64_t n = std::stoull(*row);
  if (auto s = (*file)->SkipTo(n); !s.ok()) return s;
  std::vector<ImportRecord> records;
  if (auto s = (*file)->Next(1, &records); !s.ok()) return s;
  if (records.empty()) {
    return engine::Status::InvalidArgument(*from + " has no record " + *row);
  }
  if (!records[0].error.empty()) return engine::Status::InvalidArgument(records[0].error);
  return json(records[0].vector);
}

// POST .../search's body from the command's flags, or InvalidArgument naming the flag.
engine::StatusOr<json> SearchBody(const CommandLine& line) {
  auto vector = QueryVector(line);
  if (!vector.ok()) return vector.status();
  json body = {{"vector", std::move(*vector)}};
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
  if (auto s = CheckFlags(
          line, "search",
          {"collection", "vector", "from", "row", "k", "filter", "store", "ef-search", "nprobe"});
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
          rows.push_back({std::to_string(++rank), Dump(r.value("id", json())),
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
