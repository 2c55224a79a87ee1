#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

namespace beacon {

// TCP sockets for BGP with the options Node cannot set before connect(): TCP_MD5SIG (RFC 2385) keys per
// peer, IP_TTL / IPV6_UNICAST_HOPS and IP_MINTTL / IPV6_MINHOPCOUNT (GTSM, RFC 5082). None of these needs a
// capability; binding a port below 1024 (BGP's 179) needs CAP_NET_BIND_SERVICE.

// tcpSocket({ family, ttl?, minTtl?, md5?: [{ address, key, prefixLength? }], localAddress?, localPort?,
//             reuseAddress?, v6Only? }) -> fd (non-blocking, close-on-exec)
Napi::Value TcpSocket(const Napi::CallbackInfo& info);
// tcpConnect(fd, address, port) -> true when connected at once, false while in progress
Napi::Value TcpConnect(const Napi::CallbackInfo& info);
// tcpListen(fd, backlog)
Napi::Value TcpListen(const Napi::CallbackInfo& info);
// tcpSetMd5Key(fd, address, key: Buffer | null, prefixLength?) adds, replaces or (null) removes a peer's key
Napi::Value TcpSetMd5Key(const Napi::CallbackInfo& info);
// closeFd(fd) for sockets never handed to Node
Napi::Value CloseFd(const Napi::CallbackInfo& info);

// Waits on the libuv loop until a non-blocking connect() finishes, then calls back with null or the error
// (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ...). The poll handle is closed before the callback runs, so the
// fd is free to be handed to net.Socket.
class ConnectWaiter : public Napi::ObjectWrap<ConnectWaiter> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ConnectWaiter(const Napi::CallbackInfo& info);
  ~ConnectWaiter() override;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnClosed(uv_handle_t* handle);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  void Finish(int err);

  int fd_ = -1;
  int result_ = 0;
  uv_poll_t* poll_ = nullptr;
  bool pinned_ = false;
  bool cancelled_ = false;
  Napi::FunctionReference on_done_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
};

}  // namespace beacon
