#include "libhafs/base/status_macros.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs {
namespace {

using ::hafs::testing::IsOk;
using ::hafs::testing::IsOkAndHolds;
using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

int evaluations = 0;

absl::Status Fails() {
  ++evaluations;
  return absl::DataLossError("torn superblock");
}
absl::Status Succeeds() {
  ++evaluations;
  return absl::OkStatus();
}
absl::StatusOr<std::unique_ptr<int>> MakeInt(bool ok) {
  if (!ok) return absl::NotFoundError("no int");
  return std::make_unique<int>(42);
}

absl::Status UsesReturnIfError(bool fail, int* reached) {
  HAFS_RETURN_IF_ERROR(fail ? Fails() : Succeeds());
  *reached = 1;
  return absl::OkStatus();
}

absl::StatusOr<int> UsesAssignOrReturn(bool ok) {
  HAFS_ASSIGN_OR_RETURN(std::unique_ptr<int> p, MakeInt(ok));  // move-only
  int twice = 0;
  HAFS_ASSIGN_OR_RETURN(twice, absl::StatusOr<int>(*p * 2));  // existing lvalue
  return twice;
}

TEST(StatusMacros, ReturnIfErrorPropagatesAndEvaluatesOnce) {
  evaluations = 0;
  int reached = 0;
  EXPECT_THAT(UsesReturnIfError(true, &reached),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("torn")));
  EXPECT_EQ(reached, 0);
  EXPECT_EQ(evaluations, 1);
  EXPECT_OK(UsesReturnIfError(false, &reached));
  EXPECT_EQ(reached, 1);
  EXPECT_EQ(evaluations, 2);
}

TEST(StatusMacros, AssignOrReturn) {
  EXPECT_THAT(UsesAssignOrReturn(true), IsOkAndHolds(84));
  EXPECT_THAT(UsesAssignOrReturn(false), StatusIs(absl::StatusCode::kNotFound));
}

TEST(StatusMatchers, DescribeMismatches) {
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(absl::InternalError("x"), Not(IsOk()));
  EXPECT_THAT(absl::StatusOr<int>(3), Not(IsOkAndHolds(4)));
  EXPECT_THAT(absl::InternalError("boom"),
              Not(StatusIs(absl::StatusCode::kInternal, HasSubstr("bang"))));
  EXPECT_THAT(absl::InternalError("boom"),
              Not(StatusIs(absl::StatusCode::kUnknown)));
}

}  // namespace
}  // namespace hafs
