#include "libhafs/splitbrain/generation_ids.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace hafs::splitbrain {

bool GenerationIds::InHistory(uint64_t uuid) const {
  for (uint64_t h : history) {
    if (MaskedUuid(h) == MaskedUuid(uuid)) return true;
  }
  return false;
}

std::string GenerationIds::DebugString() const {
  std::string out = absl::StrFormat("%016X:%016X", current, bitmap);
  for (uint64_t h : history) absl::StrAppendFormat(&out, ":%016X", h);
  return out;
}

absl::StatusOr<GenerationIds> GenerationIds::Parse(absl::string_view text) {
  std::vector<absl::string_view> fields = absl::StrSplit(text, ':');
  if (fields.size() < 2 || fields.size() > 2 + kHistorySize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "generation ids \"", text, "\": expected 2 to ", 2 + kHistorySize,
        " ':'-separated hex fields (current:bitmap[:history0...]), got ",
        fields.size()));
  }
  uint64_t values[2 + kHistorySize] = {};
  for (size_t i = 0; i < fields.size(); ++i) {
    absl::string_view f = fields[i];
    if (f.empty() || f.size() > 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("generation ids \"", text, "\": field ", i + 1, " (\"", f,
                       "\") must be 1 to 16 hex digits"));
    }
    uint64_t v = 0;
    for (char c : f) {
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("generation ids \"", text, "\": field ", i + 1, " (\"",
                         f, "\") has a non-hex character '",
                         absl::string_view(&c, 1), "'"));
      }
      v = (v << 4) | static_cast<uint64_t>(d);
    }
    values[i] = v;
  }
  GenerationIds gi;
  gi.current = values[0];
  gi.bitmap = values[1];
  for (int i = 0; i < kHistorySize; ++i) gi.history[i] = values[2 + i];
  return gi;
}

bool SameGenerations(const GenerationIds& a, const GenerationIds& b) {
  if (MaskedUuid(a.current) != MaskedUuid(b.current)) return false;
  if (MaskedUuid(a.bitmap) != MaskedUuid(b.bitmap)) return false;
  for (int i = 0; i < kHistorySize; ++i) {
    if (MaskedUuid(a.history[i]) != MaskedUuid(b.history[i])) return false;
  }
  return true;
}

}  // namespace hafs::splitbrain
