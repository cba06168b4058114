#include "api/cli/output.h"

#include <algorithm>
#include <ostream>

namespace vecmesh::cli {

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

std::string Cell(const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  return Dump(value);
}

std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int ReportUsage(std::ostream& err, const std::string& message) {
  err << "vecmesh: " << message << " (vecmesh --help)\n";
  return kExitUsage;
}

int ReportFailure(const Reply& reply, bool json_output, std::ostream& out, std::ostream& err) {
  switch (reply.outcome) {
    case Reply::Outcome::kOk:
      return kExitOk;
    case Reply::Outcome::kRefused:
      err << "vecmesh: " << reply.code << ": " << reply.message << '\n';
      if (json_output) {
        nlohmann::json error = {{"error", {{"code", reply.code}, {"message", reply.message}}}};
        if (!reply.body.is_null()) error["report"] = reply.body;
        out << Dump(error) << '\n';
      }
      return kExitRefused;
    case Reply::Outcome::kUnreachable:
      err << "vecmesh: unreachable: " << reply.message << '\n';
      if (json_output) {
        out << Dump({{"error", {{"code", "UNREACHABLE"}, {"message", reply.message}}}}) << '\n';
      }
      return kExitUnreachable;
  }
  return kExitUnreachable;
}

}  // namespace vecmesh::cli
