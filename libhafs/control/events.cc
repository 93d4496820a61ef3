#include "libhafs/control/events.h"

#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hafs::control {
namespace {

// One reported object: "<kind> <identity>" plus ordered key/value properties.
struct Object {
  std::string key;  // kind + identity, the diff key
  std::vector<std::pair<std::string, std::string>> props;
};

const char* YesNo(bool b) { return b ? "yes" : "no"; }

std::vector<Object> Objects(const NodeStatus& s) {
  std::vector<Object> out;
  // The node's cluster view.
  {
    Object o;
    o.key = absl::StrCat("cluster name:", QuoteEventValue(s.cluster_name),
                         " node:", QuoteEventValue(s.node_name));
    o.props.push_back({"available", YesNo(s.cluster.available)});
    if (s.cluster.available) {
      o.props.push_back({"peer", s.cluster.peer_name});
      o.props.push_back({"peer-state", s.cluster.peer_state});
      o.props.push_back({"quorum-mode", s.cluster.quorum_mode});
      o.props.push_back({"quorum", YesNo(s.cluster.has_quorum)});
    }
    out.push_back(std::move(o));
    for (const LinkStatus& l : s.cluster.links) {
      Object lo;
      lo.key = absl::StrCat("link name:", QuoteEventValue(s.cluster_name),
                            " conn-name:", QuoteEventValue(s.cluster.peer_name),
                            " link:", QuoteEventValue(l.name));
      lo.props.push_back({"state", l.state});
      out.push_back(std::move(lo));
    }
  }
  for (size_t i = 0; i < s.volumes.size(); ++i) {
    const VolumeStatus& v = s.volumes[i];
    const std::string name = QuoteEventValue(v.name);
    const std::string peer = QuoteEventValue(v.peer_name);
    Object r;
    r.key = absl::StrCat("resource name:", name);
    r.props.push_back({"role", v.role});
    out.push_back(std::move(r));
    Object d;
    d.key = absl::StrCat("device name:", name, " volume:", i);
    d.props.push_back({"disk", v.disk});
    d.props.push_back({"attached", YesNo(v.attached)});
    out.push_back(std::move(d));
    Object c;
    c.key = absl::StrCat("connection name:", name, " conn-name:", peer);
    c.props.push_back({"connection", v.connection});
    c.props.push_back({"role", v.peer_role});
    if (!v.last_handshake.empty()) c.props.push_back({"handshake", v.last_handshake});
    out.push_back(std::move(c));
    Object p;
    p.key = absl::StrCat("peer-device name:", name, " conn-name:", peer,
                         " volume:", i);
    p.props.push_back({"replication", v.replication});
    p.props.push_back({"peer-disk", v.peer_disk});
    p.props.push_back({"verify", YesNo(v.verify.active)});
    out.push_back(std::move(p));
  }
  return out;
}

std::string Line(absl::string_view verb, const Object& o,
                 const std::vector<std::pair<std::string, std::string>>& props) {
  std::string line = absl::StrCat(verb, " ", o.key);
  for (const auto& [k, v] : props) {
    absl::StrAppend(&line, " ", k, ":", QuoteEventValue(v));
  }
  return line;
}

}  // namespace

std::string QuoteEventValue(absl::string_view value) {
  bool plain = !value.empty();
  for (char ch : value) {
    if (ch == ' ' || ch == '"' || ch == '\\' || ch == '\n' || ch == '\t') {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char ch : value) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

std::vector<std::string> SnapshotLines(const NodeStatus& status) {
  std::vector<std::string> lines;
  for (const Object& o : Objects(status)) lines.push_back(Line("exists", o, o.props));
  lines.push_back("exists -");
  return lines;
}

std::vector<std::string> ChangeLines(const NodeStatus& before,
                                     const NodeStatus& after) {
  std::vector<Object> old_objects = Objects(before);
  std::vector<Object> new_objects = Objects(after);
  std::map<std::string, const Object*> old_by_key;
  for (const Object& o : old_objects) old_by_key[o.key] = &o;
  std::vector<std::string> lines;
  std::set<std::string> seen;
  for (const Object& o : new_objects) {
    seen.insert(o.key);
    auto it = old_by_key.find(o.key);
    if (it == old_by_key.end()) {
      lines.push_back(Line("create", o, o.props));
      continue;
    }
    std::map<std::string, std::string> old_props(it->second->props.begin(),
                                                 it->second->props.end());
    std::vector<std::pair<std::string, std::string>> changed;
    for (const auto& kv : o.props) {
      auto p = old_props.find(kv.first);
      if (p == old_props.end() || p->second != kv.second) changed.push_back(kv);
    }
    if (!changed.empty()) lines.push_back(Line("change", o, changed));
  }
  for (const Object& o : old_objects) {
    if (!seen.count(o.key)) lines.push_back(Line("destroy", o, {}));
  }
  return lines;
}

// --- EventSubscription ---

EventSubscription::~EventSubscription() { hub_->Unsubscribe(this); }

void EventSubscription::Push(const std::string& line) {
  if (closed_ || overflowed_) return;
  if (queue_.size() >= max_queued_) {
    overflowed_ = true;
    queue_.clear();
    return;
  }
  queue_.push_back(line);
}

absl::StatusOr<std::optional<std::string>> EventSubscription::Next(
    absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || closed_ || overflowed_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (overflowed_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "events: this subscriber fell more than ", max_queued_,
        " lines behind and lost events; hint: read faster, or resubscribe "
        "with --now to get a fresh snapshot"));
  }
  if (!queue_.empty()) {
    std::string line = std::move(queue_.front());
    queue_.pop_front();
    return std::optional<std::string>(std::move(line));
  }
  if (closed_) {
    return absl::CancelledError("events: hafsd is shutting down");
  }
  return std::optional<std::string>();
}

// --- EventHub ---

EventHub::~EventHub() { Close(); }

void EventHub::SendLocked(const std::string& line) {
  for (EventSubscription* sub : subs_) {
    absl::MutexLock sl(&sub->mu_);
    sub->Push(line);
  }
}

void EventHub::PublishStatus(const NodeStatus& status) {
  absl::MutexLock l(&mu_);
  if (last_.has_value()) {
    for (const std::string& line : ChangeLines(*last_, status)) SendLocked(line);
  }
  last_ = status;
}

void EventHub::Publish(std::string line) {
  absl::MutexLock l(&mu_);
  SendLocked(line);
}

std::unique_ptr<EventSubscription> EventHub::Subscribe(bool now) {
  std::unique_ptr<EventSubscription> sub(new EventSubscription(this));
  sub->max_queued_ = max_queued_;
  absl::MutexLock l(&mu_);
  {
    absl::MutexLock sl(&sub->mu_);
    if (now) {
      std::vector<std::string> lines =
          last_.has_value() ? SnapshotLines(*last_)
                            : std::vector<std::string>{"exists -"};
      for (std::string& line : lines) sub->queue_.push_back(std::move(line));
    }
    if (closed_) sub->closed_ = true;
  }
  subs_.insert(sub.get());
  return sub;
}

void EventHub::Close() {
  absl::MutexLock l(&mu_);
  closed_ = true;
  for (EventSubscription* sub : subs_) {
    absl::MutexLock sl(&sub->mu_);
    sub->closed_ = true;
  }
}

size_t EventHub::subscriber_count() const {
  absl::MutexLock l(&mu_);
  return subs_.size();
}

void EventHub::Unsubscribe(EventSubscription* sub) {
  absl::MutexLock l(&mu_);
  subs_.erase(sub);
}

}  // namespace hafs::control
