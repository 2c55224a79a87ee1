#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

namespace beacon {

// An AF_PACKET socket bound to one interface, with a classic BPF filter that passes only what the L2
// responder answers (ARP requests, or ICMPv6 Neighbor Solicitations), received on the libuv loop.
// Needs CAP_NET_RAW.
class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit PacketSocket(const Napi::CallbackInfo& info);
  ~PacketSocket() override;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  void ReadAll();
  void ReportError(int err, const char* syscall, const std::string& what);
  void Shutdown();

  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value AddMembership(const Napi::CallbackInfo& info);
  Napi::Value DropMembership(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value RefLoop(const Napi::CallbackInfo& info);
  Napi::Value UnrefLoop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetIfindex(const Napi::CallbackInfo& info);
  void Membership(const Napi::CallbackInfo& info, int option);

  int fd_ = -1;
  int ifindex_ = 0;
  std::string ifname_;
  uv_poll_t* poll_ = nullptr;
  bool pinned_ = false;  // the JS object is kept alive while the socket is open
  std::vector<unsigned char> buffer_;
  Napi::FunctionReference on_frame_;
  Napi::FunctionReference on_error_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
};

}  // namespace beacon
