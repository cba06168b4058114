#include "api/grpc/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <climits>
#include <fstream>
#include <sstream>

#include "api/grpc/proto_codec.h"
#include "vecmesh/v1/vector_store.grpc.pb.h"

namespace vecmesh::api {

namespace v1 = ::vecmesh::v1;
using engine::Status;

namespace {

grpc::Status ToGrpc(const Status& s) {
  switch (s.code()) {
    case engine::StatusCode::kOk:
      return grpc::Status::OK;
    case engine::StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, s.message()};
    case engine::StatusCode::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, s.message()};
    case engine::StatusCode::kAlreadyExists:
      return {grpc::StatusCode::ALREADY_EXISTS, s.message()};
    case engine::StatusCode::kFailedPrecondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, s.message()};
    case engine::StatusCode::kResourceExhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, s.message()};
    case engine::StatusCode::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE, s.message()};
    case engine::StatusCode::kDeadlineExceeded:
      return {grpc::StatusCode::DEADLINE_EXCEEDED, s.message()};
    case engine::StatusCode::kUnauthenticated:
      return {grpc::StatusCode::UNAUTHENTICATED, s.message()};
    case engine::StatusCode::kPermissionDenied:
      return {grpc::StatusCode::PERMISSION_DENIED, s.message()};
    case engine::StatusCode::kInternal:
      return {grpc::StatusCode::INTERNAL, s.message()};
  }
  return {grpc::StatusCode::INTERNAL, s.message()};
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::optional<std::string_view> MetadataOf(const grpc::CallbackServerContext* context,
                                           std::string_view key) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

}  // namespace

class GrpcServer::Impl final : public v1::VectorStore::CallbackService {
 public:
  Impl(api::Service& service, Metrics& metrics, const AccessLog& access_log, WorkerPool& pool,
       GrpcServerOptions options)
      : service_(service),
        metrics_(metrics),
        access_log_(access_log),
        pool_(pool),
        options_(std::move(options)) {}

  api::Service& service_;  // not v1::VectorStore::Service, which this class derives from
  Metrics& metrics_;
  const AccessLog& access_log_;
  WorkerPool& pool_;
  const GrpcServerOptions options_;
  std::unique_ptr<grpc::Server> server_;

 private:
  const engine::Limits& limits() const { return service_.options().limits; }

  // Checks the key on the gRPC thread, then runs `work` (which fills `response` from
  // `request`) on the worker pool and finishes the call there, recording it in the metrics and
  // the access log.
  template <typename Work>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, Operation op,
                                const google::protobuf::Message* request,
                                const google::protobuf::Message* response, Work work) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const auto start = std::chrono::steady_clock::now();
    auto finish = [this, reactor, context, op, start, request, response](const Status& s) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const std::string_view code = engine::CodeName(s.code());
      metrics_.Record("grpc", OperationName(op), code, seconds);
      const grpc::Status answer = ToGrpc(s);
      const std::string request_id = RequestIdOf(MetadataOf(context, "x-request-id").value_or(""));
      context->AddInitialMetadata("x-request-id", request_id);
      if (access_log_.enabled()) {
        access_log_.Write({"grpc", request_id, OperationName(op),
                           static_cast<int>(answer.error_code()), code, seconds,
                           request->ByteSizeLong(), s.ok() ? response->ByteSizeLong() : 0});
      }
      reactor->Finish(answer);
    };
    Status allowed = service_.Authorize(op, MetadataOf(context, "api-key"));
    if (!allowed.ok()) {
      finish(allowed);
      return reactor;
    }
    const bool taken = pool_.TrySubmit([work = std::move(work), finish, context]() mutable {
      // A call whose deadline passed while it waited for a worker is not worth doing: the client
      // has stopped waiting for it.
      if (context->deadline() < std::chrono::system_clock::now()) {
        finish(Status::DeadlineExceeded("the call's deadline passed while it waited for a worker"));
        return;
      }
      Status s;
      try {
        s = work();
      } catch (const std::exception& e) {
        s = Status::Internal(std::string("unexpected error: ") + e.what());
      }
      finish(s);
    });
    if (!taken) {
      finish(Status::ResourceExhausted(
          "the server is at capacity (its request queue is full): retry with backoff"));
    }
    return reactor;
  }

 public:
  grpc::ServerUnaryReactor* CreateCollection(grpc::CallbackServerContext* c,
                                             const v1::CreateCollectionRequest* r,
                                             v1::CreateCollectionResponse* out) override {
    return Run(c, Operation::kCreateCollection, r, out, [this, r, out]() -> Status {
      StoreStates stores;
      auto created = service_.CreateCollection(proto::Decode(*r), &stores);
      if (!created.ok()) return created.status();
      auto view = service_.GetCollection(r->name());
      if (!view.ok()) return view.status();
      out->set_created(*created);
      proto::Encode(stores, out->mutable_stores());
      proto::Encode(*view, out->mutable_collection());
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* GetCollection(grpc::CallbackServerContext* c,
                                          const v1::GetCollectionRequest* r,
                                          v1::CollectionInfo* out) override {
    return Run(c, Operation::kGetCollection, r, out, [this, r, out]() -> Status {
      auto view = service_.GetCollection(r->name());
      if (!view.ok()) return view.status();
      proto::Encode(*view, out);
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* ListCollections(grpc::CallbackServerContext* c,
                                            const v1::ListCollectionsRequest* r,
                                            v1::ListCollectionsResponse* out) override {
    return Run(c, Operation::kListCollections, r, out, [this, out]() -> Status {
      auto all = service_.ListCollections();
      if (!all.ok()) return all.status();
      for (const auto& view : *all) proto::Encode(view, out->add_collections());
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* DeleteCollection(grpc::CallbackServerContext* c,
                                             const v1::DeleteCollectionRequest* r,
                                             v1::DeleteCollectionResponse* out) override {
    return Run(c, Operation::kDeleteCollection, r, out, [this, r, out]() -> Status {
      StoreStates stores;
      Status s = service_.DeleteCollection(r->name(), &stores);
      out->set_deleted(s.ok());
      proto::Encode(stores, out->mutable_stores());
      return s;
    });
  }
  grpc::ServerUnaryReactor* Upsert(grpc::CallbackServerContext* c, const v1::UpsertRequest* r,
                                   v1::UpsertResponse* out) override {
    return Run(c, Operation::kUpsert, r, out, [this, r, out]() -> Status {
      auto points = proto::DecodePoints(r->points());
      if (!points.ok()) return points.status();
      StoreStates stores;
      auto n = service_.Upsert(r->collection(), std::move(*points), &stores);
      if (!n.ok()) return n.status();
      out->set_upserted(*n);
      proto::Encode(stores, out->mutable_stores());
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* GetPoints(grpc::CallbackServerContext* c, const v1::GetPointsRequest* r,
                                      v1::GetPointsResponse* out) override {
    return Run(c, Operation::kGetPoints, r, out, [this, r, out]() -> Status {
      auto ids = proto::DecodeIds(r->ids(), "ids");
      if (!ids.ok()) return ids.status();
      GetPointsRequest request{std::move(*ids), !r->has_with_payload() || r->with_payload(),
                               r->with_vector(), proto::Store(r->store())};
      std::vector<StoreOutcome> stores;
      auto records = service_.GetPoints(r->collection(), request, &stores);
      if (!records.ok()) return records.status();
      for (const auto& record : *records) proto::Encode(record, out->add_points());
      proto::Encode(stores, out->mutable_stores());
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* DeletePoints(grpc::CallbackServerContext* c,
                                         const v1::DeletePointsRequest* r,
                                         v1::DeletePointsResponse* out) override {
    return Run(c, Operation::kDeletePoints, r, out, [this, r, out]() -> Status {
      auto request = proto::Decode(*r, limits());
      if (!request.ok()) return request.status();
      StoreStates stores;
      auto n = service_.DeletePoints(r->collection(), *request, &stores);
      if (!n.ok()) return n.status();
      out->set_deleted(*n);
      proto::Encode(stores, out->mutable_stores());
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* UpdatePayload(grpc::CallbackServerContext* c,
                                          const v1::UpdatePayloadRequest* r,
                                          v1::UpdatePayloadResponse* out) override {
    return Run(c, Operation::kUpdatePayload, r, out, [this, r, out]() -> Status {
      auto request = proto::Decode(*r);
      if (!request.ok()) return request.status();
      StoreStates stores;
      auto n = service_.UpdatePayload(r->collection(), *request, &stores);
      if (!n.ok()) return n.status();
      out->set_updated(*n);
      proto::Encode(stores, out->mutable_stores());
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* Count(grpc::CallbackServerContext* c, const v1::CountRequest* r,
                                  v1::CountResponse* out) override {
    return Run(c, Operation::kCount, r, out, [this, r, out]() -> Status {
      auto filter = proto::DecodeFilter(r->has_filter(), r->filter(), limits(), "filter");
      if (!filter.ok()) return filter.status();
      std::vector<StoreOutcome> stores;
      auto n =
          service_.Count(r->collection(), {std::move(*filter), proto::Store(r->store())}, &stores);
      if (!n.ok()) return n.status();
      out->set_count(*n);
      proto::Encode(stores, out->mutable_stores());
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* Scroll(grpc::CallbackServerContext* c, const v1::ScrollRequest* r,
                                   v1::ScrollResponse* out) override {
    return Run(c, Operation::kScroll, r, out, [this, r, out]() -> Status {
      auto request = proto::Decode(*r, limits());
      if (!request.ok()) return request.status();
      std::vector<StoreOutcome> stores;
      auto page = service_.Scroll(r->collection(), {std::move(*request), proto::Store(r->store())},
                                  &stores);
      if (!page.ok()) return page.status();
      for (const auto& record : page->points) proto::Encode(record, out->add_points());
      if (page->next_cursor) out->set_next_cursor(*page->next_cursor);
      proto::Encode(stores, out->mutable_stores());
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* c, const v1::SearchRequest* r,
                                   v1::SearchResponse* out) override {
    return Run(c, Operation::kSearch, r, out, [this, r, out]() -> Status {
      auto search = proto::Decode(*r, limits(), "");
      if (!search.ok()) return search.status();
      auto answer = service_.SearchOne(r->collection(), *search);
      if (!answer.ok()) return answer.status();
      proto::Encode(*answer, out);
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* SearchBatch(grpc::CallbackServerContext* c,
                                        const v1::SearchBatchRequest* r,
                                        v1::SearchBatchResponse* out) override {
    return Run(c, Operation::kSearchBatch, r, out, [this, r, out]() -> Status {
      if (static_cast<size_t>(r->searches_size()) > limits().max_searches_per_batch) {
        return Status::InvalidArgument("searches has " + std::to_string(r->searches_size()) +
                                       " entries; the limit is " +
                                       std::to_string(limits().max_searches_per_batch));
      }
      std::vector<api::Search> searches;
      for (int i = 0; i < r->searches_size(); ++i) {
        const std::string field = "searches[" + std::to_string(i) + "]";
        if (!r->searches(i).collection().empty()) {
          return Status::InvalidArgument(field + ".collection must be empty: the batch names it");
        }
        auto search = proto::Decode(r->searches(i), limits(), field);
        if (!search.ok()) return search.status();
        searches.push_back(std::move(*search));
      }
      auto answers = service_.SearchBatch(r->collection(), searches);
      if (!answers.ok()) return answers.status();
      for (const auto& answer : *answers) proto::Encode(answer, out->add_results());
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* CreateSnapshot(grpc::CallbackServerContext* c,
                                           const v1::CreateSnapshotRequest* r,
                                           v1::Snapshot* out) override {
    return Run(c, Operation::kCreateSnapshot, r, out, [this, r, out]() -> Status {
      auto snapshot = service_.CreateSnapshot(r->collection());
      if (!snapshot.ok()) return snapshot.status();
      out->set_snapshot(snapshot->name);
      out->set_size(snapshot->size_bytes);
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* ListSnapshots(grpc::CallbackServerContext* c,
                                          const v1::ListSnapshotsRequest* r,
                                          v1::ListSnapshotsResponse* out) override {
    return Run(c, Operation::kListSnapshots, r, out, [this, r, out]() -> Status {
      auto all = service_.ListSnapshots(r->collection());
      if (!all.ok()) return all.status();
      for (const auto& s : *all) {
        v1::Snapshot* snapshot = out->add_snapshots();
        snapshot->set_snapshot(s.name);
        snapshot->set_size(s.size_bytes);
      }
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* RestoreSnapshot(grpc::CallbackServerContext* c,
                                            const v1::RestoreSnapshotRequest* r,
                                            v1::RestoreSnapshotResponse* out) override {
    const Operation op = r->has_file() ? Operation::kUploadSnapshot : Operation::kRestoreSnapshot;
    return Run(c, op, r, out, [this, r, out]() -> Status {
      Status s;
      if (r->has_file()) {
        s = service_.RestoreUploadedSnapshot(r->collection(), r->file());
      } else if (r->has_snapshot()) {
        s = service_.RestoreSnapshot(r->collection(), r->snapshot());
      } else {
        s = Status::InvalidArgument("give one of snapshot and file");
      }
      out->set_restored(s.ok());
      return s;
    });
  }
  grpc::ServerUnaryReactor* SubmitImport(grpc::CallbackServerContext* c,
                                         const v1::SubmitImportRequest* r,
                                         v1::SubmitImportResponse* out) override {
    return Run(c, Operation::kSubmitImport, r, out, [this, r, out]() -> Status {
      auto points = proto::DecodePoints(r->points());
      if (!points.ok()) return points.status();
      auto job = service_.SubmitImport(r->collection(), std::move(*points));
      if (!job.ok()) return job.status();
      out->set_job_id(*job);
      return Status::Ok();
    });
  }
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* c, const v1::GetJobRequest* r,
                                   v1::Job* out) override {
    return Run(c, Operation::kGetJob, r, out, [this, r, out]() -> Status {
      auto job = service_.GetJob(r->job_id());
      if (!job.ok()) return job.status();
      proto::Encode(*job, out);
      return Status::Ok();
    });
  }
};

GrpcServer::GrpcServer(Service& service, Metrics& metrics, const AccessLog& access_log,
                       WorkerPool& pool, GrpcServerOptions options)
    : impl_(std::make_unique<Impl>(service, metrics, access_log, pool, std::move(options))) {}

GrpcServer::~GrpcServer() { Stop(std::chrono::milliseconds(0)); }

Status GrpcServer::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const GrpcServerOptions& options = impl_->options_;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_file.empty()) {
    auto cert = ReadFile(options.tls_cert_file);
    auto key = ReadFile(options.tls_key_file);
    if (!cert || !key) {
      return Status::InvalidArgument("TLS certificate " + options.tls_cert_file + " or key " +
                                     options.tls_key_file + " cannot be read");
    }
    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(tls);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  const std::string address = options.host + ":" + std::to_string(options.port);
  builder.AddListeningPort(address, credentials, &port);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<size_t>(options.max_message_bytes, INT_MAX)));
  builder.RegisterService(impl_.get());
  impl_->server_ = builder.BuildAndStart();
  if (!impl_->server_ || port == 0) {
    impl_->server_.reset();
    return Status::Unavailable("gRPC cannot listen on " + address);
  }
  port_ = static_cast<uint16_t>(port);
  SetServing(false);
  return Status::Ok();
}

void GrpcServer::SetServing(bool serving) {
  if (impl_->server_) impl_->server_->GetHealthCheckService()->SetServingStatus(serving);
}

void GrpcServer::Stop(std::chrono::milliseconds grace) {
  if (!impl_->server_) return;
  SetServing(false);
  impl_->server_->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server_->Wait();
  impl_->server_.reset();
}

}  // namespace vecmesh::api
