#include "engine/status.h"

#include <gtest/gtest.h>

namespace vecmesh::engine {
namespace {

TEST(StatusTest, CodesHaveCanonicalNamesAndCategories) {
  EXPECT_EQ(Status::InvalidArgument("k must be in [1, 10000], got 0").ToString(),
            "INVALID_ARGUMENT: k must be in [1, 10000], got 0");
  EXPECT_EQ(CategoryOf(StatusCode::kInvalidArgument), ErrorCategory::kInput);
  EXPECT_EQ(CategoryOf(StatusCode::kNotFound), ErrorCategory::kInput);
  EXPECT_EQ(CategoryOf(StatusCode::kUnavailable), ErrorCategory::kTransient);
  EXPECT_EQ(CategoryOf(StatusCode::kResourceExhausted), ErrorCategory::kTransient);
  EXPECT_EQ(CategoryOf(StatusCode::kInternal), ErrorCategory::kPermanent);
  EXPECT_EQ(CodeName(StatusCode::kFailedPrecondition), "FAILED_PRECONDITION");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, StatusOrCarriesValueOrError) {
  StatusOr<int> v = 7;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 7);
  StatusOr<int> e = Status::NotFound("collection 'x' not found");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace vecmesh::engine
