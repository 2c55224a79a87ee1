#include "multicast.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"

namespace beacon {

Napi::Function MulticastMembership::Define(Napi::Env env) {
  return DefineClass(env, "MulticastMembership",
                     {
                         InstanceMethod("join", &MulticastMembership::Join),
                         InstanceMethod("leave", &MulticastMembership::Leave),
                         InstanceMethod("close", &MulticastMembership::Close),
                     });
}

// new MulticastMembership(ifname)
MulticastMembership::MulticastMembership(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<MulticastMembership>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw ArgumentError(env, "MulticastMembership(ifname)");
  ifname_ = info[0].As<Napi::String>().Utf8Value();
  ifindex_ = ifname_.size() < IFNAMSIZ ? if_nametoindex(ifname_.c_str()) : 0;
  if (ifindex_ == 0) {
    throw ErrnoError(env, ENODEV, "if_nametoindex", "no such network interface '" + ifname_ + "'");
  }
  fd_ = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd_ < 0) {
    int err = errno;
    throw ErrnoError(env, err, "socket", "socket(AF_INET6, SOCK_DGRAM) for multicast on " + ifname_);
  }
}

MulticastMembership::~MulticastMembership() {
  if (fd_ >= 0) close(fd_);
}

void MulticastMembership::Change(const Napi::CallbackInfo& info, int option) {
  Napi::Env env = info.Env();
  const bool join = option == IPV6_ADD_MEMBERSHIP;
  if (fd_ < 0) throw ErrnoError(env, EBADF, "setsockopt", "multicast membership on closed socket");
  if (info.Length() < 1 || !info[0].IsBuffer() || info[0].As<Napi::Buffer<unsigned char>>().Length() != 16) {
    throw ArgumentError(env, std::string(join ? "join" : "leave") + "(group: 16-byte Buffer)");
  }
  auto group = info[0].As<Napi::Buffer<unsigned char>>();
  ipv6_mreq request{};
  std::memcpy(&request.ipv6mr_multiaddr, group.Data(), 16);
  request.ipv6mr_interface = ifindex_;
  if (setsockopt(fd_, IPPROTO_IPV6, option, &request, sizeof request) < 0) {
    int err = errno;
    char text[INET6_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET6, group.Data(), text, sizeof text);
    throw ErrnoError(env, err, "setsockopt",
                     std::string(join ? "joining" : "leaving") + " multicast group " + text + " on " + ifname_);
  }
}

// join(group: 16-byte address): ENOBUFS/ENOMEM when this socket holds as many groups as net.core.optmem_max
// allows; the caller then opens another membership socket.
Napi::Value MulticastMembership::Join(const Napi::CallbackInfo& info) {
  Change(info, IPV6_ADD_MEMBERSHIP);
  return info.Env().Undefined();
}

Napi::Value MulticastMembership::Leave(const Napi::CallbackInfo& info) {
  Change(info, IPV6_DROP_MEMBERSHIP);
  return info.Env().Undefined();
}

// close(): leaves every group this socket joined.
Napi::Value MulticastMembership::Close(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

}  // namespace beacon
