#include "api/service/service.h"

namespace vecmesh::api {

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kCreateCollection:
      return "CreateCollection";
    case Operation::kGetCollection:
      return "GetCollection";
    case Operation::kListCollections:
      return "ListCollections";
    case Operation::kDeleteCollection:
      return "DeleteCollection";
    case Operation::kUpsert:
      return "Upsert";
    case Operation::kGetPoints:
      return "GetPoints";
    case Operation::kDeletePoints:
      return "DeletePoints";
    case Operation::kUpdatePayload:
      return "UpdatePayload";
    case Operation::kCount:
      return "Count";
    case Operation::kScroll:
      return "Scroll";
    case Operation::kSearch:
      return "Search";
    case Operation::kSearchBatch:
      return "SearchBatch";
    case Operation::kCreateSnapshot:
      return "CreateSnapshot";
    case Operation::kListSnapshots:
      return "ListSnapshots";
    case Operation::kDownloadSnapshot:
      return "DownloadSnapshot";
    case Operation::kRestoreSnapshot:
      return "RestoreSnapshot";
    case Operation::kUploadSnapshot:
      return "UploadSnapshot";
    case Operation::kSubmitImport:
      return "SubmitImport";
    case Operation::kGetJob:
      return "GetJob";
    case Operation::kLegacyCreateIndex:
      return "LegacyCreateIndex";
    case Operation::kLegacyAddVectors:
      return "LegacyAddVectors";
    case Operation::kLegacySearch:
      return "LegacySearch";
  }
  return "Unknown";
}

Role RequiredRole(Operation op) {
  switch (op) {
    case Operation::kGetCollection:
    case Operation::kListCollections:
    case Operation::kGetPoints:
    case Operation::kCount:
    case Operation::kScroll:
    case Operation::kSearch:
    case Operation::kSearchBatch:
    case Operation::kListSnapshots:
    case Operation::kGetJob:
    case Operation::kLegacySearch:
      return Role::kReadOnly;
    case Operation::kUpsert:
    case Operation::kDeletePoints:
    case Operation::kUpdatePayload:
    case Operation::kSubmitImport:
    case Operation::kLegacyAddVectors:
      return Role::kReadWrite;
    case Operation::kCreateCollection:
    case Operation::kDeleteCollection:
    case Operation::kCreateSnapshot:
    case Operation::kDownloadSnapshot:
    case Operation::kRestoreSnapshot:
    case Operation::kUploadSnapshot:
    case Operation::kLegacyCreateIndex:
      return Role::kAdmin;
  }
  return Role::kAdmin;
}

}  // namespace vecmesh::api
