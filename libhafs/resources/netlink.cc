#include "libhafs/resources/netlink.h"

#include <net/if.h>  // before the linux/ headers (libc-compat guards)
#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace hafs::resources::net {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status ErrnoStatus(int err, absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

void PutU16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v & 0xff));
}

// Appends an rtattr to a netlink message buffer.
void AddAttr(std::string* msg, uint16_t type, const void* data, size_t len) {
  struct rtattr rta;
  rta.rta_type = type;
  rta.rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
  msg->append(reinterpret_cast<const char*>(&rta), sizeof(rta));
  msg->append(static_cast<const char*>(data), len);
  msg->append(RTA_ALIGN(rta.rta_len) - rta.rta_len, '\0');
}

absl::StatusOr<int> OpenRtnl() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return ErrnoStatus(errno, "netlink socket");
  struct sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    int e = errno;
    ::close(fd);
    return ErrnoStatus(e, "netlink bind");
  }
  struct timeval tv = {5, 0};  // the kernel answers at once; never hang
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Sends a request and returns the errno of its ACK (0 = success).
absl::StatusOr<int> Transact(const std::string& msg) {
  absl::StatusOr<int> fd_or = OpenRtnl();
  if (!fd_or.ok()) return fd_or.status();
  Fd fd(*fd_or);
  if (::send(fd.get(), msg.data(), msg.size(), 0) < 0) {
    return ErrnoStatus(errno, "netlink send");
  }
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "netlink recv");
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<struct nlmsghdr*>(buf); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<struct nlmsgerr*>(NLMSG_DATA(h));
        return -e->error;
      }
    }
  }
}

std::string AddrMessage(uint16_t type, uint16_t flags, int ifindex, const IpPrefix& p,
                        uint32_t ifa_flags) {
  struct {
    struct nlmsghdr h;
    struct ifaddrmsg ifa;
  } req = {};
  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  req.h.nlmsg_seq = 1;
  req.ifa.ifa_family = static_cast<unsigned char>(p.family);
  req.ifa.ifa_prefixlen = static_cast<unsigned char>(p.prefix_len);
  req.ifa.ifa_index = static_cast<unsigned>(ifindex);
  req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  req.ifa.ifa_flags = static_cast<unsigned char>(ifa_flags & 0xff);
  std::string msg(reinterpret_cast<const char*>(&req), sizeof(req));
  AddAttr(&msg, IFA_LOCAL, p.addr.data(), p.addr_len());
  AddAttr(&msg, IFA_ADDRESS, p.addr.data(), p.addr_len());
  if (type == RTM_NEWADDR) {
    AddAttr(&msg, IFA_FLAGS, &ifa_flags, sizeof(ifa_flags));
    if (p.family == AF_INET && p.prefix_len < 31) {
      uint32_t a;
      std::memcpy(&a, p.addr.data(), 4);
      uint32_t host_mask = p.prefix_len == 0 ? 0xffffffffu : ((1u << (32 - p.prefix_len)) - 1);
      uint32_t bcast = a | htonl(host_mask);
      AddAttr(&msg, IFA_BROADCAST, &bcast, 4);
    }
  }
  reinterpret_cast<struct nlmsghdr*>(msg.data())->nlmsg_len = static_cast<uint32_t>(msg.size());
  return msg;
}

}  // namespace

size_t IpPrefix::addr_len() const { return family == AF_INET ? 4 : 16; }

std::string IpPrefix::AddressString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family, addr.data(), buf, sizeof(buf));
  return buf;
}

std::string IpPrefix::ToString() const { return absl::StrCat(AddressString(), "/", prefix_len); }

absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' has no prefix length; write it as ADDRESS/PREFIX, e.g. 192.0.2.10/24"));
  }
  std::string addr(text.substr(0, slash));
  IpPrefix p;
  if (::inet_pton(AF_INET, addr.c_str(), p.addr.data()) == 1) {
    p.family = AF_INET;
  } else if (::inet_pton(AF_INET6, addr.c_str(), p.addr.data()) == 1) {
    p.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("'", addr, "' is not an IPv4 or IPv6 address"));
  }
  int max = p.family == AF_INET ? 32 : 128;
  if (!absl::SimpleAtoi(text.substr(slash + 1), &p.prefix_len) || p.prefix_len < 0 ||
      p.prefix_len > max) {
    return absl::InvalidArgumentError(absl::StrCat("prefix length '", text.substr(slash + 1),
                                                   "' is not in 0..", max));
  }
  return p;
}

bool LinkInfo::ethernet() const { return hw_type == ARPHRD_ETHER; }

absl::StatusOr<LinkInfo> GetLink(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat("interface name '", name, "' is not valid"));
  }
  LinkInfo l;
  l.name = name;
  l.ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
  if (l.ifindex == 0) {
    return absl::NotFoundError(absl::StrCat("interface '", name, "' does not exist"));
  }
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return ErrnoStatus(errno, "socket for interface ioctls");
  struct ifreq ifr = {};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd.get(), SIOCGIFFLAGS, &ifr) != 0) {
    return ErrnoStatus(errno, absl::StrCat("SIOCGIFFLAGS ", name));
  }
  l.up = (ifr.ifr_flags & IFF_UP) != 0;
  l.running = (ifr.ifr_flags & IFF_RUNNING) != 0;
  if (::ioctl(fd.get(), SIOCGIFHWADDR, &ifr) != 0) {
    return ErrnoStatus(errno, absl::StrCat("SIOCGIFHWADDR ", name));
  }
  l.hw_type = ifr.ifr_hwaddr.sa_family;
  std::memcpy(l.mac.data(), ifr.ifr_hwaddr.sa_data, 6);
  return l;
}

absl::StatusOr<std::vector<AddrEntry>> DumpAddresses(int family) {
  absl::StatusOr<int> fd_or = OpenRtnl();
  if (!fd_or.ok()) return fd_or.status();
  Fd fd(*fd_or);
  struct {
    struct nlmsghdr h;
    struct ifaddrmsg ifa;
  } req = {};
  req.h.nlmsg_len = sizeof(req);
  req.h.nlmsg_type = RTM_GETADDR;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = 2;
  req.ifa.ifa_family = static_cast<unsigned char>(family);
  if (::send(fd.get(), &req, sizeof(req), 0) < 0) return ErrnoStatus(errno, "netlink send");
  std::vector<AddrEntry> out;
  alignas(struct nlmsghdr) char buf[32768];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "netlink recv (address dump)");
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<struct nlmsghdr*>(buf); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return out;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<struct nlmsgerr*>(NLMSG_DATA(h));
        return ErrnoStatus(-e->error, "address dump");
      }
      if (h->nlmsg_type != RTM_NEWADDR) continue;
      auto* ifa = static_cast<struct ifaddrmsg*>(NLMSG_DATA(h));
      AddrEntry e;
      e.ifindex = static_cast<int>(ifa->ifa_index);
      e.prefix.family = ifa->ifa_family;
      e.prefix.prefix_len = ifa->ifa_prefixlen;
      e.flags = ifa->ifa_flags;
      size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
      bool have_local = false;
      int rlen = static_cast<int>(IFA_PAYLOAD(h));
      for (auto* rta = IFA_RTA(ifa); RTA_OK(rta, rlen); rta = RTA_NEXT(rta, rlen)) {
        size_t plen = RTA_PAYLOAD(rta);
        if (rta->rta_type == IFA_LOCAL && plen == alen) {
          std::memcpy(e.prefix.addr.data(), RTA_DATA(rta), alen);
          have_local = true;
        } else if (rta->rta_type == IFA_ADDRESS && plen == alen && !have_local) {
          std::memcpy(e.prefix.addr.data(), RTA_DATA(rta), alen);
        } else if (rta->rta_type == IFA_FLAGS && plen == 4) {
          std::memcpy(&e.flags, RTA_DATA(rta), 4);
        }
      }
      if (ifa->ifa_family == AF_INET || ifa->ifa_family == AF_INET6) out.push_back(e);
    }
  }
}

absl::Status AddAddress(int ifindex, const IpPrefix& p, uint32_t flags) {
  absl::StatusOr<int> err =
      Transact(AddrMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, p, flags));
  if (!err.ok()) return err.status();
  if (*err == 0) return absl::OkStatus();
  if (*err == EEXIST) {
    return absl::AlreadyExistsError(absl::StrCat(p.ToString(), " is already on ifindex ", ifindex));
  }
  return absl::InternalError(absl::StrCat("RTM_NEWADDR ", p.ToString(), " ifindex ", ifindex,
                                          ": ", std::strerror(*err)));
}

absl::Status DeleteAddress(int ifindex, const IpPrefix& p) {
  absl::StatusOr<int> err = Transact(AddrMessage(RTM_DELADDR, 0, ifindex, p, 0));
  if (!err.ok()) return err.status();
  if (*err == 0) return absl::OkStatus();
  if (*err == EADDRNOTAVAIL || *err == ENODEV) {
    return absl::NotFoundError(absl::StrCat(p.ToString(), " is not on ifindex ", ifindex));
  }
  return absl::InternalError(absl::StrCat("RTM_DELADDR ", p.ToString(), " ifindex ", ifindex,
                                          ": ", std::strerror(*err)));
}

std::string BuildGratuitousArp(const std::array<uint8_t, 6>& mac, const IpPrefix& v4,
                               uint16_t arp_op) {
  std::string f;
  f.append(6, '\xff');                                    // dst: broadcast
  f.append(reinterpret_cast<const char*>(mac.data()), 6);  // src
  PutU16(&f, ETH_P_ARP);
  PutU16(&f, ARPHRD_ETHER);  // htype
  PutU16(&f, ETH_P_IP);      // ptype
  f.push_back(6);            // hlen
  f.push_back(4);            // plen
  PutU16(&f, arp_op);
  f.append(reinterpret_cast<const char*>(mac.data()), 6);      // sender MAC
  f.append(reinterpret_cast<const char*>(v4.addr.data()), 4);  // sender IP
  // Target MAC: zero in a request, broadcast in a reply (as send_arp does).
  f.append(6, arp_op == 1 ? '\0' : '\xff');
  f.append(reinterpret_cast<const char*>(v4.addr.data()), 4);  // target IP
  f.append(60 - f.size(), '\0');  // pad to the Ethernet minimum (without FCS)
  return f;
}

uint16_t Icmp6Checksum(const uint8_t src[16], const uint8_t dst[16], absl::string_view icmp) {
  uint32_t sum = 0;
  auto add16 = [&sum](const uint8_t* p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
    if (n % 2) sum += p[n - 1] << 8;
  };
  add16(src, 16);
  add16(dst, 16);
  uint32_t len = static_cast<uint32_t>(icmp.size());
  sum += len >> 16;
  sum += len & 0xffff;
  sum += IPPROTO_ICMPV6;
  add16(reinterpret_cast<const uint8_t*>(icmp.data()), icmp.size());
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

std::string BuildUnsolicitedNa(const std::array<uint8_t, 6>& mac, const IpPrefix& v6) {
  static const uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                        0,    0,    0, 0, 0, 0, 0, 1};
  // ICMPv6 NA: type 136, code 0, checksum, flags (R=0 S=0 O=1), target, TLLA.
  std::string icmp;
  icmp.push_back(static_cast<char>(136));
  icmp.push_back(0);
  PutU16(&icmp, 0);  // checksum placeholder
  icmp.push_back(0x20);  // Override
  icmp.append(3, '\0');
  icmp.append(reinterpret_cast<const char*>(v6.addr.data()), 16);
  icmp.push_back(2);  // option: Target Link-Layer Address
  icmp.push_back(1);  // length in units of 8 bytes
  icmp.append(reinterpret_cast<const char*>(mac.data()), 6);
  uint16_t c = Icmp6Checksum(v6.addr.data(), kAllNodes, icmp);
  icmp[2] = static_cast<char>(c >> 8);
  icmp[3] = static_cast<char>(c & 0xff);

  std::string f;
  const char dst_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
  f.append(dst_mac, 6);
  f.append(reinterpret_cast<const char*>(mac.data()), 6);
  PutU16(&f, ETH_P_IPV6);
  f.push_back(0x60);  // version 6, traffic class 0, flow label 0
  f.append(3, '\0');
  PutU16(&f, static_cast<uint16_t>(icmp.size()));
  f.push_back(static_cast<char>(IPPROTO_ICMPV6));  // next header
  f.push_back(static_cast<char>(255));             // hop limit (RFC 4861 §7.1.2)
  f.append(reinterpret_cast<const char*>(v6.addr.data()), 16);  // source = the VIP
  f.append(reinterpret_cast<const char*>(kAllNodes), 16);
  f += icmp;
  return f;
}

absl::Status SendAnnouncements(const LinkInfo& link, const IpPrefix& p, int rounds) {
  if (!link.ethernet()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "interface ", link.name, " is not Ethernet (ARPHRD ", link.hw_type,
        "): no ARP/neighbour announcements"));
  }
  Fd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));  // protocol 0: send only
  if (fd.get() < 0) return ErrnoStatus(errno, "AF_PACKET socket (needs CAP_NET_RAW)");
  struct sockaddr_ll sll = {};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = link.ifindex;
  sll.sll_halen = 6;
  std::vector<std::string> frames;
  if (p.family == AF_INET) {
    frames.push_back(BuildGratuitousArp(link.mac, p, 1));
    frames.push_back(BuildGratuitousArp(link.mac, p, 2));
    sll.sll_protocol = htons(ETH_P_ARP);
    std::memset(sll.sll_addr, 0xff, 6);
  } else {
    frames.push_back(BuildUnsolicitedNa(link.mac, p));
    sll.sll_protocol = htons(ETH_P_IPV6);
    const uint8_t dst[6] = {0x33, 0x33, 0, 0, 0, 1};
    std::memcpy(sll.sll_addr, dst, 6);
  }
  for (int r = 0; r < rounds; ++r) {
    for (const std::string& f : frames) {
      if (::sendto(fd.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&sll),
                   sizeof(sll)) < 0) {
        return ErrnoStatus(errno, absl::StrCat("sending announcement for ", p.AddressString(),
                                               " on ", link.name));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace hafs::resources::net
