#include "packet_socket.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "poll_handle.h"

namespace beacon {

namespace {

// ARP and NS frames are under 100 bytes; the filter truncates anything longer to this.
constexpr unsigned kSnapLength = 512;
// Frames read per readable event before yielding to the loop, so a flood cannot starve timers.
constexpr int kFramesPerWakeup = 64;
constexpr unsigned short kArpRequest = 1;
constexpr unsigned kIcmpv6 = 58;
constexpr unsigned kNeighborSolicitation = 135;

// Drops frames this host sent (a protocol-bound socket never sees them, but the check costs nothing),
// then passes Ethernet ARP requests.
std::vector<sock_filter> ArpRequestFilter() {
  return {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, static_cast<unsigned>(SKF_AD_OFF + SKF_AD_PKTTYPE)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 5, 0),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 0, 3),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArpRequest, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, kSnapLength),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
}

// Passes IPv6 frames whose next header is ICMPv6 (no extension headers, as RFC 4861 NS never carry any in
// practice) with ICMPv6 type Neighbor Solicitation.
std::vector<sock_filter> NeighborSolicitationFilter() {
  return {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, static_cast<unsigned>(SKF_AD_OFF + SKF_AD_PKTTYPE)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 7, 0),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 5),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kIcmpv6, 0, 3),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kNeighborSolicitation, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, kSnapLength),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
}

const char* kCapability = "CAP_NET_RAW";

}  // namespace

Napi::Function PacketSocket::Define(Napi::Env env) {
  return DefineClass(env, "PacketSocket",
                     {
                         InstanceMethod("send", &PacketSocket::Send),
                         InstanceMethod("addMembership", &PacketSocket::AddMembership),
                         InstanceMethod("dropMembership", &PacketSocket::DropMembership),
                         InstanceMethod("stats", &PacketSocket::Stats),
                         InstanceMethod("ref", &PacketSocket::RefLoop),
                         InstanceMethod("unref", &PacketSocket::UnrefLoop),
                         InstanceMethod("close", &PacketSocket::Close),
                         InstanceAccessor("fd", &PacketSocket::GetFd, nullptr),
                         InstanceAccessor("ifindex", &PacketSocket::GetIfindex, nullptr),
                     });
}

// new PacketSocket(ifname, protocol: "arp" | "ndp", onFrame(frame, pkttype), onError(err))
PacketSocket::PacketSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketSocket>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsFunction() ||
      !info[3].IsFunction()) {
    throw ArgumentError(env, "PacketSocket(ifname, 'arp' | 'ndp', onFrame, onError)");
  }
  ifname_ = info[0].As<Napi::String>().Utf8Value();
  std::string protocol = info[1].As<Napi::String>().Utf8Value();
  std::vector<sock_filter> filter;
  unsigned short ethertype;
  if (protocol == "arp") {
    filter = ArpRequestFilter();
    ethertype = ETH_P_ARP;
  } else if (protocol == "ndp") {
    filter = NeighborSolicitationFilter();
    ethertype = ETH_P_IPV6;
  } else {
    throw ArgumentError(env, "PacketSocket protocol must be 'arp' or 'ndp', got '" + protocol + "'");
  }
  if (ifname_.empty() || ifname_.size() >= IFNAMSIZ) {
    throw ErrnoError(env, ENODEV, "if_nametoindex", "no such network interface '" + ifname_ + "'");
  }

  ifindex_ = static_cast<int>(if_nametoindex(ifname_.c_str()));
  if (ifindex_ == 0) {
    int err = errno;
    throw ErrnoError(env, err, "if_nametoindex", "no such network interface '" + ifname_ + "'");
  }
  // Protocol 0: nothing is queued before the filter is attached and the socket bound.
  fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    int err = errno;
    throw ErrnoError(env, err, "socket", "socket(AF_PACKET, SOCK_RAW) for " + ifname_,
                     CapabilityHint(err, kCapability, "a link-layer (AF_PACKET) socket"));
  }
  sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
  if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0) {
    int err = errno;
    Shutdown();
    throw ErrnoError(env, err, "setsockopt", "attaching the BPF filter (SO_ATTACH_FILTER) on " + ifname_);
  }
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ethertype);
  address.sll_ifindex = ifindex_;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
    int err = errno;
    Shutdown();
    throw ErrnoError(env, err, "bind", "binding the link-layer socket to " + ifname_);
  }

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = NewPollHandle();
  int rc = uv_poll_init_socket(loop, poll_, fd_);
  if (rc == 0) {
    poll_->data = this;
    rc = uv_poll_start(poll_, UV_READABLE, &PacketSocket::OnPoll);
  }
  if (rc != 0) {
    Shutdown();
    throw ErrnoError(env, -rc, "uv_poll_start", "watching the link-layer socket on " + ifname_);
  }
  buffer_.resize(kSnapLength);
  on_frame_ = Napi::Persistent(info[2].As<Napi::Function>());
  on_error_ = Napi::Persistent(info[3].As<Napi::Function>());
  async_context_ = std::make_unique<Napi::AsyncContext>(env, "BeaconPacketSocket");
  // An open socket delivers frames to JS; it must not be collected while it does.
  Napi::ObjectWrap<PacketSocket>::Ref();
  pinned_ = true;
}

PacketSocket::~PacketSocket() { Shutdown(); }

void PacketSocket::Shutdown() {
  ClosePollHandle(poll_);
  poll_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void PacketSocket::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<PacketSocket*>(handle->data);
  if (self == nullptr) return;
  Napi::HandleScope scope(self->Env());
  if (status < 0) {
    // libuv reports a pending socket error (POLLERR, e.g. ENETDOWN when the link goes down) as UV_EBADF and
    // stops the handle. Reading SO_ERROR clears the error; then watching resumes, since the socket is fine.
    int err = 0;
    socklen_t length = sizeof err;
    if (getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &length) < 0) {
      self->ReportError(errno, "getsockopt", "reading the error of the link-layer socket on " + self->ifname_);
      return;
    }
    if (err != 0) self->ReportError(err, "recvfrom", "receiving on " + self->ifname_);
    if (self->poll_ == nullptr) return;
    int rc = uv_poll_start(self->poll_, UV_READABLE, &PacketSocket::OnPoll);
    if (rc != 0) {
      self->ReportError(-rc, "uv_poll_start", "watching the link-layer socket on " + self->ifname_);
      return;
    }
  }
  self->ReadAll();
}

void PacketSocket::ReadAll() {
  Napi::Env env = Env();
  for (int i = 0; i < kFramesPerWakeup && fd_ >= 0; i++) {
    sockaddr_ll from{};
    socklen_t from_length = sizeof from;
    ssize_t n = recvfrom(fd_, buffer_.data(), buffer_.size(), 0, reinterpret_cast<sockaddr*>(&from),
                         &from_length);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // ENETDOWN once when the link goes down; the socket stays usable when it comes back.
      ReportError(errno, "recvfrom", "receiving on " + ifname_);
      return;
    }
    Napi::Buffer<unsigned char> frame =
        Napi::Buffer<unsigned char>::Copy(env, buffer_.data(), static_cast<size_t>(n));
    try {
      on_frame_.MakeCallback(Value(), {frame, Napi::Number::New(env, from.sll_pkttype)}, *async_context_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
      return;
    }
  }
}

void PacketSocket::ReportError(int err, const char* syscall, const std::string& what) {
  Napi::Env env = Env();
  Napi::Error error = ErrnoError(env, err, syscall, what);
  try {
    on_error_.MakeCallback(Value(), {error.Value()}, *async_context_);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

// send(frame: Buffer): sends one complete Ethernet frame out of the bound interface.
Napi::Value PacketSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) throw ErrnoError(env, EBADF, "sendto", "sending on closed link-layer socket for " + ifname_);
  if (info.Length() < 1 || !info[0].IsBuffer()) throw ArgumentError(env, "send(frame: Buffer)");
  auto frame = info[0].As<Napi::Buffer<unsigned char>>();
  if (frame.Length() < ETH_HLEN) throw ArgumentError(env, "send: a frame has at least 14 bytes");
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = ifindex_;
  std::memcpy(&to.sll_protocol, frame.Data() + 12, 2);
  to.sll_halen = ETH_ALEN;
  std::memcpy(to.sll_addr, frame.Data(), ETH_ALEN);
  for (;;) {
    ssize_t n = sendto(fd_, frame.Data(), frame.Length(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    if (n >= 0) return env.Undefined();
    if (errno != EINTR) break;
  }
  int err = errno;
  throw ErrnoError(env, err, "sendto", "sending a frame on " + ifname_);
}

void PacketSocket::Membership(const Napi::CallbackInfo& info, int option) {
  Napi::Env env = info.Env();
  const char* name = option == PACKET_ADD_MEMBERSHIP ? "addMembership" : "dropMembership";
  if (fd_ < 0) throw ErrnoError(env, EBADF, "setsockopt", std::string(name) + " on closed socket");
  if (info.Length() < 1 || !info[0].IsBuffer() || info[0].As<Napi::Buffer<unsigned char>>().Length() != 6) {
    throw ArgumentError(env, std::string(name) + "(mac: 6-byte Buffer)");
  }
  auto mac = info[0].As<Napi::Buffer<unsigned char>>();
  packet_mreq request{};
  request.mr_ifindex = ifindex_;
  request.mr_type = PACKET_MR_MULTICAST;
  request.mr_alen = ETH_ALEN;
  std::memcpy(request.mr_address, mac.Data(), ETH_ALEN);
  if (setsockopt(fd_, SOL_PACKET, option, &request, sizeof request) < 0) {
    int err = errno;
    throw ErrnoError(env, err, "setsockopt",
                     std::string(option == PACKET_ADD_MEMBERSHIP ? "PACKET_ADD_MEMBERSHIP" : "PACKET_DROP_MEMBERSHIP") +
                         " on " + ifname_);
  }
}

// addMembership(mac): makes the interface accept frames to this link-layer multicast address (e.g.
// 33:33:ff:xx:xx:xx for a solicited-node group), for as long as the socket is open.
Napi::Value PacketSocket::AddMembership(const Napi::CallbackInfo& info) {
  Membership(info, PACKET_ADD_MEMBERSHIP);
  return info.Env().Undefined();
}

Napi::Value PacketSocket::DropMembership(const Napi::CallbackInfo& info) {
  Membership(info, PACKET_DROP_MEMBERSHIP);
  return info.Env().Undefined();
}

// stats(): frames passed by the filter and frames dropped for lack of buffer space since the last call.
Napi::Value PacketSocket::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) throw ErrnoError(env, EBADF, "getsockopt", "stats on closed socket for " + ifname_);
  tpacket_stats stats{};
  socklen_t length = sizeof stats;
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &stats, &length) < 0) {
    int err = errno;
    throw ErrnoError(env, err, "getsockopt", "PACKET_STATISTICS on " + ifname_);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("packets", Napi::Number::New(env, stats.tp_packets));
  result.Set("drops", Napi::Number::New(env, stats.tp_drops));
  return result;
}

Napi::Value PacketSocket::RefLoop(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value PacketSocket::UnrefLoop(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

// close(): stops receiving and closes the socket; memberships end with it. Idempotent.
Napi::Value PacketSocket::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  if (pinned_) {
    pinned_ = false;
    Napi::ObjectWrap<PacketSocket>::Unref();
  }
  return info.Env().Undefined();
}

Napi::Value PacketSocket::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value PacketSocket::GetIfindex(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ifindex_);
}

}  // namespace beacon
