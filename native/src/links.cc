#include "links.h"

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "errors.h"
#include "poll_handle.h"

namespace beacon {

namespace {

constexpr size_t kReceiveBuffer = 64 * 1024;

// From linux/if.h, which cannot be included together with glibc's net/if.h.
constexpr unsigned kLowerUp = 1u << 16;  // kLowerUp
// RFC 2863 operational states, as in IFLA_OPERSTATE.
constexpr const char* kOperStates[] = {"unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Sends one dump request and calls `each` for every message of the answer. Returns 0 or an errno.
int NetlinkDump(unsigned short type, const void* header, size_t header_length,
                const std::function<void(const nlmsghdr*)>& each, const char** failed_call) {
  Fd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (fd.get() < 0) {
    *failed_call = "socket";
    return errno;
  }
  std::vector<char> request(NLMSG_SPACE(header_length), 0);
  auto* message = reinterpret_cast<nlmsghdr*>(request.data());
  message->nlmsg_len = static_cast<__u32>(NLMSG_LENGTH(header_length));
  message->nlmsg_type = type;
  message->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message->nlmsg_seq = 1;
  std::memcpy(NLMSG_DATA(message), header, header_length);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd.get(), request.data(), message->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof kernel) < 0) {
    *failed_call = "sendto";
    return errno;
  }
  std::vector<char> buffer(kReceiveBuffer);
  for (;;) {
    ssize_t n = recv(fd.get(), buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      *failed_call = "recv";
      return errno;
    }
    int remaining = static_cast<int>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buffer.data()); NLMSG_OK(h, remaining);
         h = NLMSG_NEXT(h, remaining)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        *failed_call = "netlink";
        return error->error == 0 ? 0 : -error->error;
      }
      each(h);
    }
  }
}

std::string AttributeString(const rtattr* attribute) {
  const char* data = static_cast<const char*>(RTA_DATA(attribute));
  return std::string(data, strnlen(data, RTA_PAYLOAD(attribute)));
}

unsigned AttributeU32(const rtattr* attribute) {
  unsigned value = 0;
  if (RTA_PAYLOAD(attribute) >= sizeof value) std::memcpy(&value, RTA_DATA(attribute), sizeof value);
  return value;
}

struct Link {
  int index = 0;
  unsigned flags = 0;
  std::string name;
  unsigned mtu = 0;
  unsigned master = 0;
  unsigned operstate = 0;
  unsigned carrier_changes = 0;
  std::string kind;
  std::string slave_kind;
  std::vector<unsigned char> mac;
  std::vector<std::string> link_local;
};

void ParseLinkInfo(const rtattr* info, Link& link) {
  int length = static_cast<int>(RTA_PAYLOAD(info));
  for (auto* a = static_cast<const rtattr*>(RTA_DATA(info)); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
    if (a->rta_type == IFLA_INFO_KIND) link.kind = AttributeString(a);
    if (a->rta_type == IFLA_INFO_SLAVE_KIND) link.slave_kind = AttributeString(a);
  }
}

Link ParseLink(const nlmsghdr* h) {
  Link link;
  auto* info = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  link.index = info->ifi_index;
  link.flags = info->ifi_flags;
  int length = static_cast<int>(IFLA_PAYLOAD(h));
  for (auto* a = IFLA_RTA(info); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
    switch (a->rta_type) {
      case IFLA_IFNAME:
        link.name = AttributeString(a);
        break;
      case IFLA_MTU:
        link.mtu = AttributeU32(a);
        break;
      case IFLA_MASTER:
        link.master = AttributeU32(a);
        break;
      case IFLA_CARRIER_CHANGES:
        link.carrier_changes = AttributeU32(a);
        break;
      case IFLA_OPERSTATE:
        link.operstate = *static_cast<const unsigned char*>(RTA_DATA(a));
        break;
      case IFLA_ADDRESS: {
        auto* bytes = static_cast<const unsigned char*>(RTA_DATA(a));
        link.mac.assign(bytes, bytes + RTA_PAYLOAD(a));
        break;
      }
      case IFLA_LINKINFO:
        ParseLinkInfo(a, link);
        break;
      default:
        break;
    }
  }
  return link;
}

const char* OperState(unsigned state) {
  return state < sizeof kOperStates / sizeof kOperStates[0] ? kOperStates[state] : "unknown";
}

}  // namespace

Napi::Value ListLinks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::map<int, Link> links;
  const char* failed_call = "";
  ifinfomsg link_request{};
  link_request.ifi_family = AF_UNSPEC;
  int err = NetlinkDump(
      RTM_GETLINK, &link_request, sizeof link_request,
      [&](const nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWLINK) return;
        Link link = ParseLink(h);
        links[link.index] = link;
      },
      &failed_call);
  if (err != 0) throw ErrnoError(env, err, failed_call, "listing network interfaces (RTM_GETLINK)");

  ifaddrmsg address_request{};
  address_request.ifa_family = AF_INET6;
  err = NetlinkDump(
      RTM_GETADDR, &address_request, sizeof address_request,
      [&](const nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWADDR) return;
        auto* address = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
        if (address->ifa_family != AF_INET6 || address->ifa_scope != RT_SCOPE_LINK) return;
        unsigned flags = address->ifa_flags;
        const unsigned char* bytes = nullptr;
        int length = static_cast<int>(IFA_PAYLOAD(h));
        for (auto* a = IFA_RTA(address); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
          if (a->rta_type == IFA_ADDRESS && RTA_PAYLOAD(a) == 16) bytes = static_cast<const unsigned char*>(RTA_DATA(a));
          if (a->rta_type == IFA_FLAGS) flags = AttributeU32(a);
        }
        // A tentative address is not ours yet; neighbours drop NAs sent from it.
        if (bytes == nullptr || (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) != 0) return;
        auto link = links.find(static_cast<int>(address->ifa_index));
        if (link == links.end()) return;
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, bytes, text, sizeof text);
        link->second.link_local.emplace_back(text);
      },
      &failed_call);
  if (err != 0 && err != EAFNOSUPPORT) {
    throw ErrnoError(env, err, failed_call, "listing IPv6 link-local addresses (RTM_GETADDR)");
  }

  Napi::Array result = Napi::Array::New(env, links.size());
  uint32_t i = 0;
  for (const auto& [index, link] : links) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", index);
    o.Set("name", link.name);
    o.Set("mtu", link.mtu);
    o.Set("master", link.master);
    o.Set("kind", link.kind);
    o.Set("slaveKind", link.slave_kind);
    o.Set("operState", OperState(link.operstate));
    o.Set("carrierChanges", link.carrier_changes);
    o.Set("mac", link.mac.empty() ? env.Null()
                                   : Napi::Buffer<unsigned char>::Copy(env, link.mac.data(), link.mac.size()).As<Napi::Value>());
    Napi::Object flags = Napi::Object::New(env);
    flags.Set("up", (link.flags & IFF_UP) != 0);
    flags.Set("broadcast", (link.flags & IFF_BROADCAST) != 0);
    flags.Set("loopback", (link.flags & IFF_LOOPBACK) != 0);
    flags.Set("pointToPoint", (link.flags & IFF_POINTOPOINT) != 0);
    flags.Set("running", (link.flags & IFF_RUNNING) != 0);
    flags.Set("noArp", (link.flags & IFF_NOARP) != 0);
    flags.Set("multicast", (link.flags & IFF_MULTICAST) != 0);
    flags.Set("lowerUp", (link.flags & kLowerUp) != 0);
    o.Set("flags", flags);
    Napi::Array link_local = Napi::Array::New(env, link.link_local.size());
    for (uint32_t j = 0; j < link.link_local.size(); j++) link_local.Set(j, link.link_local[j]);
    o.Set("ipv6LinkLocal", link_local);
    result.Set(i++, o);
  }
  return result;
}

Napi::Function LinkWatcher::Define(Napi::Env env) {
  return DefineClass(env, "LinkWatcher",
                     {
                         InstanceMethod("close", &LinkWatcher::Close),
                         InstanceMethod("unref", &LinkWatcher::UnrefLoop),
                     });
}

// new LinkWatcher(onChange())
LinkWatcher::LinkWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LinkWatcher>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) throw ArgumentError(env, "LinkWatcher(onChange)");
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) {
    int err = errno;
    throw ErrnoError(env, err, "socket", "socket(AF_NETLINK, NETLINK_ROUTE) for link changes");
  }
  sockaddr_nl groups{};
  groups.nl_family = AF_NETLINK;
  groups.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&groups), sizeof groups) < 0) {
    int err = errno;
    Shutdown();
    throw ErrnoError(env, err, "bind", "subscribing to link changes (RTMGRP_LINK)");
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = NewPollHandle();
  int rc = uv_poll_init_socket(loop, poll_, fd_);
  if (rc == 0) {
    poll_->data = this;
    rc = uv_poll_start(poll_, UV_READABLE, &LinkWatcher::OnPoll);
  }
  if (rc != 0) {
    Shutdown();
    throw ErrnoError(env, -rc, "uv_poll_start", "watching link changes");
  }
  on_change_ = Napi::Persistent(info[0].As<Napi::Function>());
  async_context_ = std::make_unique<Napi::AsyncContext>(env, "BeaconLinkWatcher");
  Napi::ObjectWrap<LinkWatcher>::Ref();
  pinned_ = true;
}

LinkWatcher::~LinkWatcher() { Shutdown(); }

void LinkWatcher::Shutdown() {
  ClosePollHandle(poll_);
  poll_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void LinkWatcher::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<LinkWatcher*>(handle->data);
  if (self == nullptr) return;
  // The messages only say that something changed; JS rescans. An overrun (ENOBUFS) means the same, and
  // shows as POLLERR, which libuv reports as an error status after stopping the handle: clear and resume.
  if (status < 0) {
    int err = 0;
    socklen_t length = sizeof err;
    getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &length);
    if (self->poll_ != nullptr) uv_poll_start(self->poll_, UV_READABLE, &LinkWatcher::OnPoll);
  }
  std::vector<char> buffer(kReceiveBuffer);
  while (recv(self->fd_, buffer.data(), buffer.size(), 0) >= 0 || errno == EINTR || errno == ENOBUFS) {
  }
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  try {
    self->on_change_.MakeCallback(self->Value(), {}, *self->async_context_);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

Napi::Value LinkWatcher::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  if (pinned_) {
    pinned_ = false;
    Napi::ObjectWrap<LinkWatcher>::Unref();
  }
  return info.Env().Undefined();
}

Napi::Value LinkWatcher::UnrefLoop(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

}  // namespace beacon
