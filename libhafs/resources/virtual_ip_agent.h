// File: libhafs/resources/virtual_ip_agent.h
// -----------------------------------------------------------------------------
// VirtualIp agent: one IPv4 or IPv6 service address on an interface (what
// Heartbeat's IPaddr / Pacemaker's IPaddr2 do), over rtnetlink directly.
//
// Parameters (ResourceSpec::params):
//   ip                 "192.0.2.10/24" or "2001:db8::10/64" (required)
//   interface          e.g. "eth0" (required)
//   arp_count          announcements per burst, 1..100 (default 5; keepalived's
//                      VRRP_GARP_REP)
//   arp_repeat_delay_ms  delay of the second burst, 0..600000 (default 5000;
//                      keepalived's VRRP_GARP_DELAY); 0 = one burst only
//   nodad              IPv6 only: add with IFA_F_NODAD (default "true")
//
// Start: adds the address (already present = ok, idempotent), then sends a
//   burst of gratuitous ARPs (request + reply) / unsolicited NAs at once, and
//   schedules a second burst `arp_repeat_delay_ms` later on the Clock port
//   (the caller's thread never sleeps; the timer thread of Clock::System()
//   sends it). A failed announcement does not fail Start (the address is up;
//   neighbours learn it anyway once they ARP) but is reported in the message.
//   IPv6 uses IFA_F_NODAD: a VIP moves between nodes of one pair and must be
//   usable immediately; with DAD the address stays "tentative" for about a
//   second (RetransTimer x DupAddrDetectTransmits), cannot be bound and
//   answers nothing, and the node that just lost it may still answer the DAD
//   probe during a takeover and make it "dadfailed" for good. The cluster
//   layer already guarantees a single owner.
// Stop: cancels a pending second burst, deletes the address (absent = ok).
//   Failure to delete -> kStopFailed.
// Monitor: kOk iff the address with this prefix is on the interface, the
//   interface is up, and (IPv6) it is not tentative / dadfailed; kNotRunning
//   if absent; kFailed if present but unusable.
// Validate/Start errors: a missing interface is kFatal (cannot run here),
// netlink errors kFailed.
// The agent acts in the network namespace of the thread that calls Start /
// Stop / Monitor (the second burst: the namespace of the Clock's timer
// thread; hafsd runs in one namespace).
//
// Thread-safety: one operation at a time (Agent contract); the delayed burst
// synchronizes with Stop and the destructor internally.
//
// Example:
//   VirtualIpAgent vip(spec, Clock::System());
//   AgentOutcome o = vip.Start(absl::Seconds(20));
#ifndef HAFS_LIBHAFS_RESOURCES_VIRTUAL_IP_AGENT_H_
#define HAFS_LIBHAFS_RESOURCES_VIRTUAL_IP_AGENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "libhafs/base/clock.h"
#include "libhafs/resources/agent.h"
#include "libhafs/resources/netlink.h"

namespace hafs::resources {

class VirtualIpAgent final : public Agent {
 public:
  // REQUIRES: Validate(spec).ok().
  VirtualIpAgent(ResourceSpec spec, Clock* clock);
  ~VirtualIpAgent() override;

  // kInvalidArgument naming the parameter and the accepted form.
  static absl::Status Validate(const ResourceSpec& spec);

  AgentOutcome Start(absl::Duration timeout) override;
  AgentOutcome Stop(absl::Duration timeout) override;
  AgentOutcome Monitor(absl::Duration timeout) override;

  // Announcement bursts sent so far (for tests and status).
  int bursts_sent() const;

 private:
  struct Shared;  // shared with the delayed-burst timer callback

  ResourceSpec spec_;
  Clock* clock_;
  net::IpPrefix prefix_;
  std::string interface_;
  int arp_count_ = 5;
  absl::Duration repeat_delay_ = absl::Seconds(5);
  bool nodad_ = true;
  std::shared_ptr<Shared> shared_;
};

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_VIRTUAL_IP_AGENT_H_
