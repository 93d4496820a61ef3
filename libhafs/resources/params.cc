#include "libhafs/resources/params.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hafs::resources {

absl::StatusOr<std::string> RequiredParam(const ResourceSpec& spec, const std::string& key,
                                          const std::string& hint) {
  auto it = spec.params.find(key);
  if (it == spec.params.end() || it->second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("resource ", spec.name, " (",
                                                   AgentKindName(spec.kind), "): parameter ",
                                                   key, " is required (", hint, ")"));
  }
  return it->second;
}

std::string StringParam(const ResourceSpec& spec, const std::string& key,
                        const std::string& def) {
  auto it = spec.params.find(key);
  return it == spec.params.end() ? def : it->second;
}

absl::StatusOr<bool> BoolParam(const ResourceSpec& spec, const std::string& key, bool def) {
  auto it = spec.params.find(key);
  if (it == spec.params.end()) return def;
  std::string v = absl::AsciiStrToLower(it->second);
  if (v == "true" || v == "yes" || v == "1" || v == "on") return true;
  if (v == "false" || v == "no" || v == "0" || v == "off") return false;
  return absl::InvalidArgumentError(absl::StrCat("resource ", spec.name, ": parameter ", key,
                                                 "='", it->second,
                                                 "' is not a boolean (true/false)"));
}

absl::StatusOr<int64_t> IntParam(const ResourceSpec& spec, const std::string& key,
                                 int64_t def, int64_t min, int64_t max) {
  auto it = spec.params.find(key);
  if (it == spec.params.end()) return def;
  int64_t v;
  if (!absl::SimpleAtoi(it->second, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat("resource ", spec.name, ": parameter ", key,
                                                   "='", it->second,
                                                   "' is not an integer in ", min, "..", max));
  }
  return v;
}

absl::StatusOr<absl::Duration> MillisParam(const ResourceSpec& spec, const std::string& key,
                                           absl::Duration def, int64_t min_ms,
                                           int64_t max_ms) {
  auto v = IntParam(spec, key, absl::ToInt64Milliseconds(def), min_ms, max_ms);
  if (!v.ok()) return v.status();
  return absl::Milliseconds(*v);
}

absl::Status CheckKnownParams(const ResourceSpec& spec,
                              std::initializer_list<const char*> known) {
  for (const auto& [k, v] : spec.params) {
    if (std::find_if(known.begin(), known.end(), [&](const char* n) { return k == n; }) ==
        known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "resource ", spec.name, " (", AgentKindName(spec.kind), "): unknown parameter '", k,
          "'; known: ", absl::StrJoin(known, ", ")));
    }
  }
  return absl::OkStatus();
}

}  // namespace hafs::resources
