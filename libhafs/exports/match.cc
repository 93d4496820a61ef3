#include "libhafs/exports/match.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace hafs::exports {
namespace {

char Lower(char c) { return absl::ascii_tolower(static_cast<unsigned char>(c)); }

bool Wild(absl::string_view t, absl::string_view p) {
  size_t ti = 0, pi = 0;
  size_t star_p = absl::string_view::npos, star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size()) {
      char pc = p[pi];
      if (pc == '*') {
        star_p = pi++;
        star_t = ti;
        continue;
      }
      if (pc == '?') {
        ++pi;
        ++ti;
        continue;
      }
      if (pc == '[') {
        size_t j = pi + 1;
        bool neg = j < p.size() && (p[j] == '!' || p[j] == '^');
        if (neg) ++j;
        bool matched = false;
        bool first = true;
        char c = Lower(t[ti]);
        while (j < p.size() && (first || p[j] != ']')) {
          first = false;
          char lo = Lower(p[j]);
          if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
            char hi = Lower(p[j + 2]);
            if (c >= lo && c <= hi) matched = true;
            j += 3;
          } else {
            if (c == lo) matched = true;
            ++j;
          }
        }
        if (j < p.size() && matched != neg) {
          pi = j + 1;
          ++ti;
          continue;
        }
      } else {
        if (pc == '\\' && pi + 1 < p.size()) pc = p[++pi];
        if (Lower(pc) == Lower(t[ti])) {
          ++pi;
          ++ti;
          continue;
        }
        if (pc == '\\') --pi;
      }
    }
    if (star_p == absl::string_view::npos) return false;
    pi = star_p + 1;
    ti = ++star_t;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool MaskMatch(const IpAddr& a, const IpAddr& net, const IpAddr& mask) {
  if (a.family != net.family) return false;
  size_t n = a.family == AF_INET ? 4 : 16;
  for (size_t i = 0; i < n; ++i) {
    if ((a.bytes[i] ^ net.bytes[i]) & mask.bytes[i]) return false;
  }
  return true;
}

bool SameIp(const IpAddr& a, const IpAddr& b) {
  if (a.family != b.family) return false;
  size_t n = a.family == AF_INET ? 4 : 16;
  return std::equal(a.bytes.begin(), a.bytes.begin() + n, b.bytes.begin());
}

}  // namespace

bool WildMatch(absl::string_view text, absl::string_view pattern) {
  return Wild(text, pattern);
}

Matcher::Matcher(const ExportTable& table) : table_(table) {
  for (size_t i = 0; i < table.exports.size(); ++i) {
    const std::string& p = table.exports[i].entry.path;
    auto& v = by_path_[p];
    if (v.empty()) paths_.push_back(p);
    v.push_back(static_cast<int>(i));
  }
}

bool Matcher::ClientMatches(int client, const MatchQuery& q) const {
  const Client& c = table_.clients[client];
  switch (c.kind) {
    case ClientKind::kHost:
      if (q.addr) {
        for (const IpAddr& a : c.addrs) {
          if (SameIp(a, *q.addr)) return true;
        }
      }
      return !q.hostname.empty() && absl::EqualsIgnoreCase(c.hostname, q.hostname);
    case ClientKind::kSubnet:
      return q.addr && MaskMatch(*q.addr, c.subnet_addr, c.subnet_mask);
    case ClientKind::kWildcard:
      return !q.hostname.empty() && Wild(q.hostname, c.hostname);
    case ClientKind::kNetgroup:
      for (const std::string& g : q.netgroups) {
        if (c.hostname.size() > 1 && c.hostname.substr(1) == g) return true;
      }
      return false;
    case ClientKind::kAnonymous:
      return true;
    case ClientKind::kGss:
      return false;
  }
  return false;
}

int Matcher::MatchPath(const std::string& path, const MatchQuery& q) const {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return -1;
  for (int idx : it->second) {
    if (ClientMatches(table_.exports[idx].client, q)) return idx;
  }
  return -1;
}

std::vector<PathMatch> Matcher::Match(const MatchQuery& q) const {
  std::vector<PathMatch> out;
  for (const std::string& p : paths_) {
    PathMatch pm;
    pm.path = p;
    for (int idx : by_path_.at(p)) {
      if (!ClientMatches(table_.exports[idx].client, q)) continue;
      if (pm.winner < 0) {
        pm.winner = idx;
      } else {
        pm.shadowed.push_back(idx);
      }
    }
    if (pm.winner >= 0) out.push_back(std::move(pm));
  }
  return out;
}

}  // namespace hafs::exports
