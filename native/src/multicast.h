#pragma once

#include <napi.h>

#include <string>

namespace beacon {

// IPv6 multicast group membership on one interface through an ordinary UDP socket (IPV6_JOIN_GROUP): the
// kernel programs the NIC's filter and sends MLD reports, so snooping switches forward the solicited-node
// groups of the addresses we answer for. Needs no capability.
class MulticastMembership : public Napi::ObjectWrap<MulticastMembership> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit MulticastMembership(const Napi::CallbackInfo& info);
  ~MulticastMembership() override;

 private:
  Napi::Value Join(const Napi::CallbackInfo& info);
  Napi::Value Leave(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Change(const Napi::CallbackInfo& info, int option);

  int fd_ = -1;
  unsigned ifindex_ = 0;
  std::string ifname_;
};

}  // namespace beacon
