#include "socket_filter.h"

#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "errors.h"

namespace beacon {

namespace {

// Where the TTL / hop limit sits in the network header: byte 8 of IPv4, byte 7 of IPv6. A UDP socket's
// filter sees the packet from the UDP header on, so the load is relative to the network header
// (SKF_NET_OFF), which the kernel resolves for socket filters.
constexpr unsigned kIpv4TtlOffset = 8;
constexpr unsigned kIpv6HopLimitOffset = 7;

}  // namespace

Napi::Value UdpMinTtlFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    throw ArgumentError(env, "udpMinTtlFilter(fd, minTtl)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int min_ttl = info[1].As<Napi::Number>().Int32Value();
  if (min_ttl < 1 || min_ttl > 255) throw ArgumentError(env, "minTtl must be 1..255");
  const std::string what = "filtering fd " + std::to_string(fd) + " on TTL >= " + std::to_string(min_ttl);

  int family = 0;
  socklen_t length = sizeof family;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &length) < 0) {
    int err = errno;
    throw ErrnoError(env, err, "getsockopt", what);
  }
  if (family != AF_INET && family != AF_INET6) {
    throw ErrnoError(env, EAFNOSUPPORT, "getsockopt", what, "the socket is neither IPv4 nor IPv6");
  }
  const unsigned offset = family == AF_INET ? kIpv4TtlOffset : kIpv6HopLimitOffset;
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, static_cast<__u32>(SKF_NET_OFF) + offset),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, static_cast<__u32>(min_ttl), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),  // keep the whole datagram
      BPF_STMT(BPF_RET | BPF_K, 0),            // drop it
  };
  sock_fprog program{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0) {
    int err = errno;
    throw ErrnoError(env, err, "setsockopt", what);
  }
  return env.Undefined();
}

}  // namespace beacon
