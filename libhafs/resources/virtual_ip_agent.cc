#include "libhafs/resources/virtual_ip_agent.h"

#include <linux/if_addr.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/resources/params.h"

namespace hafs::resources {

struct VirtualIpAgent::Shared {
  absl::Mutex mu;
  bool active ABSL_GUARDED_BY(mu) = false;  // started and not stopped
  Clock::TimerId timer ABSL_GUARDED_BY(mu) = 0;
  int bursts ABSL_GUARDED_BY(mu) = 0;
};

namespace {

absl::Status Burst(const std::string& ifname, const net::IpPrefix& p, int count) {
  absl::StatusOr<net::LinkInfo> link = net::GetLink(ifname);
  if (!link.ok()) return link.status();
  return net::SendAnnouncements(*link, p, count);
}

}  // namespace

absl::Status VirtualIpAgent::Validate(const ResourceSpec& spec) {
  if (spec.kind != AgentKind::kVirtualIp) {
    return absl::InvalidArgumentError(absl::StrCat("resource ", spec.name,
                                                   ": not a VirtualIp resource"));
  }
  HAFS_RETURN_IF_ERROR(CheckKnownParams(
      spec, {"ip", "interface", "arp_count", "arp_repeat_delay_ms", "nodad"}));
  HAFS_ASSIGN_OR_RETURN(std::string ip,
                        RequiredParam(spec, "ip", "e.g. ip=192.0.2.10/24 or 2001:db8::10/64"));
  absl::StatusOr<net::IpPrefix> p = net::ParseIpPrefix(ip);
  if (!p.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource ", spec.name, ": parameter ip: ", p.status().message()));
  }
  HAFS_ASSIGN_OR_RETURN(std::string ifname, RequiredParam(spec, "interface", "e.g. eth0"));
  if (ifname.size() >= 16 || ifname.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resource ", spec.name, ": interface '", ifname, "' is not a valid interface name"));
  }
  HAFS_RETURN_IF_ERROR(IntParam(spec, "arp_count", 5, 1, 100).status());
  HAFS_RETURN_IF_ERROR(
      MillisParam(spec, "arp_repeat_delay_ms", absl::Seconds(5), 0, 600000).status());
  HAFS_RETURN_IF_ERROR(BoolParam(spec, "nodad", true).status());
  return absl::OkStatus();
}

VirtualIpAgent::VirtualIpAgent(ResourceSpec spec, Clock* clock)
    : spec_(std::move(spec)), clock_(clock), shared_(std::make_shared<Shared>()) {
  HAFS_CHECK(Validate(spec_).ok()) << Validate(spec_);
  prefix_ = *net::ParseIpPrefix(spec_.params.at("ip"));
  interface_ = spec_.params.at("interface");
  arp_count_ = static_cast<int>(*IntParam(spec_, "arp_count", 5, 1, 100));
  repeat_delay_ = *MillisParam(spec_, "arp_repeat_delay_ms", absl::Seconds(5), 0, 600000);
  nodad_ = *BoolParam(spec_, "nodad", true);
}

VirtualIpAgent::~VirtualIpAgent() {
  absl::MutexLock l(&shared_->mu);
  shared_->active = false;
  if (shared_->timer != 0) clock_->Cancel(shared_->timer);
  shared_->timer = 0;
}

int VirtualIpAgent::bursts_sent() const {
  absl::MutexLock l(&shared_->mu);
  return shared_->bursts;
}

AgentOutcome VirtualIpAgent::Start(absl::Duration) {
  std::string who = absl::StrCat(spec_.name, " start ", prefix_.ToString(), " on ", interface_);
  absl::StatusOr<net::LinkInfo> link = net::GetLink(interface_);
  if (!link.ok()) {
    return {absl::IsNotFound(link.status()) ? AgentOutcome::kFatal : AgentOutcome::kFailed,
            absl::StrCat(who, ": ", link.status().message())};
  }
  uint32_t flags = 0;
  if (prefix_.family == AF_INET6 && nodad_) flags |= IFA_F_NODAD;
  absl::Status s = net::AddAddress(link->ifindex, prefix_, flags);
  bool existed = absl::IsAlreadyExists(s);
  if (!s.ok() && !existed) return {AgentOutcome::kFailed, absl::StrCat(who, ": ", s.message())};

  std::string msg = absl::StrCat(who, existed ? ": address already present" : ": added");
  if (!link->up) absl::StrAppend(&msg, " (warning: interface is down)");
  absl::Status a = net::SendAnnouncements(*link, prefix_, arp_count_);
  {
    absl::MutexLock l(&shared_->mu);
    shared_->active = true;
    if (a.ok()) ++shared_->bursts;
    if (shared_->timer != 0) clock_->Cancel(shared_->timer);
    shared_->timer = 0;
    if (repeat_delay_ > absl::ZeroDuration()) {
      std::weak_ptr<Shared> weak = shared_;
      std::string ifname = interface_;
      net::IpPrefix p = prefix_;
      int count = arp_count_;
      std::string name = spec_.name;
      shared_->timer = clock_->ScheduleAfter(repeat_delay_, [weak, ifname, p, count, name] {
        std::shared_ptr<Shared> sh = weak.lock();
        if (!sh) return;
        absl::MutexLock l(&sh->mu);
        sh->timer = 0;
        if (!sh->active) return;
        absl::Status b = Burst(ifname, p, count);
        if (b.ok()) {
          ++sh->bursts;
        } else {
          HAFS_LOG(WARNING) << name << ": second announcement burst for " << p.ToString()
                            << " failed: " << b;
        }
      });
    }
  }
  if (a.ok()) {
    absl::StrAppend(&msg, "; sent ", arp_count_,
                    prefix_.family == AF_INET ? " gratuitous ARP rounds" : " unsolicited NAs");
    if (repeat_delay_ > absl::ZeroDuration()) {
      absl::StrAppend(&msg, ", again in ", absl::FormatDuration(repeat_delay_));
    }
  } else {
    absl::StrAppend(&msg, "; announcement failed: ", a.message());
  }
  return {AgentOutcome::kOk, msg};
}

AgentOutcome VirtualIpAgent::Stop(absl::Duration) {
  {
    absl::MutexLock l(&shared_->mu);
    shared_->active = false;
    if (shared_->timer != 0) clock_->Cancel(shared_->timer);
    shared_->timer = 0;
  }
  std::string who = absl::StrCat(spec_.name, " stop ", prefix_.ToString(), " on ", interface_);
  absl::StatusOr<net::LinkInfo> link = net::GetLink(interface_);
  if (!link.ok()) {
    if (absl::IsNotFound(link.status())) {
      return {AgentOutcome::kOk, absl::StrCat(who, ": interface gone, nothing to remove")};
    }
    return {AgentOutcome::kStopFailed, absl::StrCat(who, ": ", link.status().message())};
  }
  absl::Status s = net::DeleteAddress(link->ifindex, prefix_);
  if (absl::IsNotFound(s)) return {AgentOutcome::kOk, absl::StrCat(who, ": was not present")};
  if (!s.ok()) return {AgentOutcome::kStopFailed, absl::StrCat(who, ": ", s.message())};
  return {AgentOutcome::kOk, absl::StrCat(who, ": removed")};
}

AgentOutcome VirtualIpAgent::Monitor(absl::Duration) {
  std::string who = absl::StrCat(spec_.name, " monitor ", prefix_.ToString(), " on ", interface_);
  absl::StatusOr<net::LinkInfo> link = net::GetLink(interface_);
  if (!link.ok()) {
    if (absl::IsNotFound(link.status())) {
      return {AgentOutcome::kNotRunning, absl::StrCat(who, ": interface does not exist")};
    }
    return {AgentOutcome::kFailed, absl::StrCat(who, ": ", link.status().message())};
  }
  absl::StatusOr<std::vector<net::AddrEntry>> addrs = net::DumpAddresses(prefix_.family);
  if (!addrs.ok()) return {AgentOutcome::kFailed, absl::StrCat(who, ": ", addrs.status().message())};
  for (const net::AddrEntry& e : *addrs) {
    if (e.ifindex != link->ifindex || e.prefix.addr != prefix_.addr) continue;
    if (e.prefix.prefix_len != prefix_.prefix_len) {
      return {AgentOutcome::kFailed, absl::StrCat(who, ": present with prefix /",
                                                  e.prefix.prefix_len, " instead")};
    }
    if (!link->up) return {AgentOutcome::kFailed, absl::StrCat(who, ": interface is down")};
    if (e.flags & IFA_F_DADFAILED) {
      return {AgentOutcome::kFailed,
              absl::StrCat(who, ": duplicate address detection failed (another host has it)")};
    }
    if (e.flags & IFA_F_TENTATIVE) {
      return {AgentOutcome::kFailed, absl::StrCat(who, ": address is still tentative (DAD)")};
    }
    return {AgentOutcome::kOk, absl::StrCat(who, ": present")};
  }
  return {AgentOutcome::kNotRunning, absl::StrCat(who, ": not present")};
}

}  // namespace hafs::resources
