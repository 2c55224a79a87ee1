#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

namespace beacon {

// listLinks(): every interface of the current network namespace with index, name, flags, MTU, MAC, master
// (bridge/bond) index, kind (veth, bridge, bond, vlan, ...) and IPv6 link-local addresses, from one
// netlink dump. Needs no capability.
Napi::Value ListLinks(const Napi::CallbackInfo& info);

// Calls back when links or addresses change (RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR), once
// per burst of messages, so JS can rescan with listLinks(). Needs no capability.
class LinkWatcher : public Napi::ObjectWrap<LinkWatcher> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit LinkWatcher(const Napi::CallbackInfo& info);
  ~LinkWatcher() override;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  void Shutdown();
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value UnrefLoop(const Napi::CallbackInfo& info);

  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  bool pinned_ = false;
  Napi::FunctionReference on_change_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
};

}  // namespace beacon
