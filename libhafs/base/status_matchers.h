// File: libhafs/base/status_matchers.h
// -----------------------------------------------------------------------------
// gMock matchers for absl::Status and absl::StatusOr<T> (Abseil 20220623 has
// none). Tests name the error they expect; there is deliberately no "not OK".
//
// Example:
//   EXPECT_THAT(dev.Read(1, buf), StatusIs(absl::StatusCode::kInvalidArgument,
//                                          HasSubstr("4096")));
//   EXPECT_THAT(Parse(text), IsOkAndHolds(Field(&Config::port, 7788)));
//   ASSERT_OK(dev.Flush());
#ifndef HAFS_LIBHAFS_BASE_STATUS_MATCHERS_H_
#define HAFS_LIBHAFS_BASE_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hafs::testing {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOkMatcher, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "whose status is " << s;
  return s.ok();
}

template <typename InnerMatcher>
class IsOkAndHoldsMatcher {
 public:
  explicit IsOkAndHoldsMatcher(InnerMatcher inner) : inner_(std::move(inner)) {}

  template <typename StatusOrT>
  operator ::testing::Matcher<StatusOrT>() const {  // NOLINT
    using T = typename std::decay_t<StatusOrT>::value_type;
    const ::testing::Matcher<const T&> m =
        ::testing::SafeMatcherCast<const T&>(inner_);
    return ::testing::MakeMatcher(new Impl<StatusOrT, T>(m));
  }

 private:
  template <typename StatusOrT, typename T>
  class Impl : public ::testing::MatcherInterface<StatusOrT> {
   public:
    explicit Impl(::testing::Matcher<const T&> m) : m_(std::move(m)) {}
    bool MatchAndExplain(
        StatusOrT so, ::testing::MatchResultListener* listener) const override {
      if (!so.ok()) {
        *listener << "whose status is " << so.status();
        return false;
      }
      return m_.MatchAndExplain(*so, listener);
    }
    void DescribeTo(std::ostream* os) const override {
      *os << "is OK and holds a value that ";
      m_.DescribeTo(os);
    }
    void DescribeNegationTo(std::ostream* os) const override {
      *os << "is not OK or holds a value that ";
      m_.DescribeNegationTo(os);
    }

   private:
    ::testing::Matcher<const T&> m_;
  };

  InnerMatcher inner_;
};

}  // namespace internal

// Matches an OK absl::Status or absl::StatusOr<T>.
inline auto IsOk() { return internal::IsOkMatcher(); }

// Matches an absl::StatusOr<T> that is OK and whose value matches `m`.
template <typename InnerMatcher>
internal::IsOkAndHoldsMatcher<InnerMatcher> IsOkAndHolds(InnerMatcher m) {
  return internal::IsOkAndHoldsMatcher<InnerMatcher>(std::move(m));
}

// Matches a Status/StatusOr whose code is `code` and whose message matches
// `message_matcher` (anything by default).
MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  const absl::Status& s = internal::GetStatus(arg);
  if (s.code() != code) {
    *result_listener << "whose status is " << s;
    return false;
  }
  return ::testing::ExplainMatchResult(message_matcher, std::string(s.message()),
                                       result_listener);
}

// StatusIs(code): any message.
inline auto StatusIs(absl::StatusCode code) {
  return StatusIs(code, ::testing::_);
}

}  // namespace hafs::testing

#define ASSERT_OK(expr) ASSERT_THAT(expr, ::hafs::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT(expr, ::hafs::testing::IsOk())

#endif  // HAFS_LIBHAFS_BASE_STATUS_MATCHERS_H_
