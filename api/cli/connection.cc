#include "api/cli/connection.h"

#include "api/cli/grpc_connection.h"
#include "api/cli/rest_connection.h"

namespace vecmesh::cli {

engine::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectionOptions& options) {
  const std::string& url = options.url;
  for (const auto& [scheme, tls] : {std::pair{"grpc://", false}, std::pair{"grpcs://", true}}) {
    if (url.rfind(scheme, 0) != 0) continue;
    std::string target = url.substr(std::string(scheme).size());
    if (!target.empty() && target.back() == '/') target.pop_back();
    if (target.empty() || target.find('/') != std::string::npos) {
      return engine::Status::InvalidArgument("the URL '" + url + "' is not " + scheme +
                                             "HOST:PORT");
    }
    return std::unique_ptr<Connection>(std::make_unique<GrpcConnection>(target, tls, options));
  }
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    auto endpoint = adapters::ParseHttpUrl(url);
    if (!endpoint.ok()) return endpoint.status();
    return std::unique_ptr<Connection>(
        std::make_unique<RestConnection>(std::move(*endpoint), options));
  }
  return engine::Status::InvalidArgument("the URL '" + url +
                                         "' is not grpc://, grpcs://, http:// or https://");
}

}  // namespace vecmesh::cli
