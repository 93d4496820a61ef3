// File: libhafs/resources/netlink.h
// -----------------------------------------------------------------------------
// Minimal rtnetlink and link-layer helpers for the VirtualIp agent (no
// libnl, no `ip` command): add / delete / dump interface addresses
// (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR over a NETLINK_ROUTE socket),
// interface facts (SIOCGIFFLAGS / SIOCGIFHWADDR), and the address
// announcements sent after a takeover:
//   IPv4: gratuitous ARP, both a request and a reply, sender IP = target IP =
//         the VIP, broadcast (RFC 5227 §3 "ARP Announcement" uses requests;
//         some switches/hosts only update on replies, so keepalived and
//         Pacemaker's send_arp send both).
//   IPv6: unsolicited Neighbor Advertisement (RFC 4861 §7.2.6): ICMPv6 type
//         136, Override flag set, Solicited clear, target = the VIP, with the
//         Target Link-Layer Address option, to ff02::1 (Ethernet
//         33:33:00:00:00:01), hop limit 255, source = the VIP.
// Both are built as whole Ethernet frames and sent on an AF_PACKET socket, so
// they go out even while the interface's link-local address is still in DAD.
// The frame builders are pure (and unit tested without privileges).
//
// Everything acts on the calling thread's network namespace (sockets are
// bound to the namespace they were created in).
// Thread-safety: all functions are reentrant.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(IpPrefix p, ParseIpPrefix("192.0.2.10/24"));
//   HAFS_ASSIGN_OR_RETURN(LinkInfo l, GetLink("eth0"));
//   HAFS_RETURN_IF_ERROR(AddAddress(l.ifindex, p, 0));
//   HAFS_RETURN_IF_ERROR(SendAnnouncements(l, p, 5));
#ifndef HAFS_LIBHAFS_RESOURCES_NETLINK_H_
#define HAFS_LIBHAFS_RESOURCES_NETLINK_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hafs::resources::net {

struct IpPrefix {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};  // v4 in the first 4 bytes
  int prefix_len = 0;
  size_t addr_len() const;
  std::string AddressString() const;  // "192.0.2.10"
  std::string ToString() const;       // "192.0.2.10/24"
  bool operator==(const IpPrefix& o) const {
    return family == o.family && addr == o.addr && prefix_len == o.prefix_len;
  }
};

// "192.0.2.10/24" or "2001:db8::10/64". The prefix is required (0..32 /
// 0..128). kInvalidArgument with the reason otherwise.
absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text);

struct LinkInfo {
  std::string name;
  int ifindex = 0;
  bool up = false;        // IFF_UP
  bool running = false;   // IFF_RUNNING (carrier)
  uint16_t hw_type = 0;   // ARPHRD_*
  std::array<uint8_t, 6> mac{};
  bool ethernet() const;  // hw_type == ARPHRD_ETHER
};
// kNotFound if there is no such interface.
absl::StatusOr<LinkInfo> GetLink(const std::string& name);

struct AddrEntry {
  int ifindex = 0;
  IpPrefix prefix;
  uint32_t flags = 0;  // IFA_F_* (32-bit, from IFA_FLAGS when present)
};
// All addresses of `family` (AF_INET, AF_INET6 or AF_UNSPEC) in this netns.
absl::StatusOr<std::vector<AddrEntry>> DumpAddresses(int family);

// Adds `p` to `ifindex` with `flags` (e.g. IFA_F_NODAD). IPv4 also gets the
// subnet broadcast (prefix < 31). kAlreadyExists if the address is there
// (EEXIST); other errors carry the kernel's errno text.
absl::Status AddAddress(int ifindex, const IpPrefix& p, uint32_t flags);
// kNotFound if the address is not there (EADDRNOTAVAIL).
absl::Status DeleteAddress(int ifindex, const IpPrefix& p);

// Frame builders (pure). `mac` is the sender's hardware address.
// arp_op: 1 = request, 2 = reply.
std::string BuildGratuitousArp(const std::array<uint8_t, 6>& mac, const IpPrefix& v4,
                               uint16_t arp_op);
std::string BuildUnsolicitedNa(const std::array<uint8_t, 6>& mac, const IpPrefix& v6);
// The ICMPv6 checksum over the IPv6 pseudo header (RFC 8200 §8.1).
uint16_t Icmp6Checksum(const uint8_t src[16], const uint8_t dst[16],
                       absl::string_view icmp);

// Sends `rounds` announcements for `p` on `link` (IPv4: a request and a reply
// per round; IPv6: one NA per round). kFailedPrecondition on a non-Ethernet
// link (nothing to announce on loopback / tun), kInternal on socket errors.
absl::Status SendAnnouncements(const LinkInfo& link, const IpPrefix& p, int rounds);

}  // namespace hafs::resources::net

#endif  // HAFS_LIBHAFS_RESOURCES_NETLINK_H_
