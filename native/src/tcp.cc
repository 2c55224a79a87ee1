#include "tcp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"

namespace beacon {

namespace {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

// Parses a textual address for a socket of `family`; an IPv4 address on an IPv6 socket becomes
// v4-mapped, which is how the kernel matches MD5 keys and connects dual-stack sockets.
SocketAddress ParseAddress(Napi::Env env, int family, const std::string& text, int port) {
  SocketAddress result;
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) != 1) {
      throw ArgumentError(env, "not an IPv4 address: '" + text + "'");
    }
    result.length = sizeof(sockaddr_in);
    return result;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(static_cast<uint16_t>(port));
  in_addr v4{};
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) != 1) {
    if (inet_pton(AF_INET, text.c_str(), &v4) != 1) throw ArgumentError(env, "not an IP address: '" + text + "'");
    v6->sin6_addr.s6_addr[10] = 0xff;
    v6->sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&v6->sin6_addr.s6_addr[12], &v4, 4);
  }
  result.length = sizeof(sockaddr_in6);
  return result;
}

int SocketFamily(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) < 0) return -1;
  return local.ss_family;
}

void SetIntOption(Napi::Env env, int fd, int level, int option, int value, const char* name) {
  if (setsockopt(fd, level, option, &value, sizeof value) < 0) {
    int err = errno;
    throw ErrnoError(env, err, "setsockopt", std::string("setting ") + name + " to " + std::to_string(value));
  }
}

void SetMd5Key(Napi::Env env, int fd, int family, const std::string& address, const Napi::Value& key,
               int prefix_length) {
  tcp_md5sig signature{};
  SocketAddress peer = ParseAddress(env, family, address, 0);
  std::memcpy(&signature.tcpm_addr, &peer.storage, peer.length);
  if (!key.IsNull() && !key.IsUndefined()) {
    if (!key.IsBuffer()) throw ArgumentError(env, "an MD5 key is a Buffer");
    auto bytes = key.As<Napi::Buffer<unsigned char>>();
    if (bytes.Length() == 0 || bytes.Length() > TCP_MD5SIG_MAXKEYLEN) {
      throw ArgumentError(env, "an MD5 key has 1 to " + std::to_string(TCP_MD5SIG_MAXKEYLEN) + " bytes");
    }
    signature.tcpm_keylen = static_cast<uint16_t>(bytes.Length());
    std::memcpy(signature.tcpm_key, bytes.Data(), bytes.Length());
  }
  int option = TCP_MD5SIG;
  if (prefix_length >= 0) {
    option = TCP_MD5SIG_EXT;
    signature.tcpm_flags = TCP_MD5SIG_FLAG_PREFIX;
    // A v4-mapped peer's prefix counts from the start of the IPv6 address.
    bool mapped = family == AF_INET6 && address.find(':') == std::string::npos;
    signature.tcpm_prefixlen = static_cast<uint8_t>(prefix_length + (mapped ? 96 : 0));
  }
  if (setsockopt(fd, IPPROTO_TCP, option, &signature, sizeof signature) < 0) {
    int err = errno;
    throw ErrnoError(env, err, "setsockopt",
                     std::string(signature.tcpm_keylen ? "setting" : "removing") + " the TCP MD5 key for " + address);
  }
}

int IntOf(const Napi::Object& options, const char* name, int fallback) {
  Napi::Value v = options.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

}  // namespace

Napi::Value TcpSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw ArgumentError(env, "tcpSocket(options)");
  Napi::Object options = info[0].As<Napi::Object>();
  int family_number = IntOf(options, "family", 0);
  if (family_number != 4 && family_number != 6) throw ArgumentError(env, "tcpSocket: family is 4 or 6");
  int family = family_number == 4 ? AF_INET : AF_INET6;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    int err = errno;
    throw ErrnoError(env, err, "socket", std::string("socket(") + (family == AF_INET ? "AF_INET" : "AF_INET6") +
                                             ", SOCK_STREAM)");
  }
  try {
    if (options.Get("reuseAddress").ToBoolean()) SetIntOption(env, fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    Napi::Value v6_only = options.Get("v6Only");
    if (family == AF_INET6 && v6_only.IsBoolean()) {
      SetIntOption(env, fd, IPPROTO_IPV6, IPV6_V6ONLY, v6_only.ToBoolean() ? 1 : 0, "IPV6_V6ONLY");
    }
    // On an IPv6 socket the IPv4 options still govern v4-mapped traffic, so both are set.
    int ttl = IntOf(options, "ttl", -1);
    if (ttl >= 0) {
      if (family == AF_INET6) SetIntOption(env, fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl, "IPV6_UNICAST_HOPS");
      SetIntOption(env, fd, IPPROTO_IP, IP_TTL, ttl, "IP_TTL");
    }
    int min_ttl = IntOf(options, "minTtl", -1);
    if (min_ttl >= 0) {
      if (family == AF_INET6) SetIntOption(env, fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, min_ttl, "IPV6_MINHOPCOUNT");
      SetIntOption(env, fd, IPPROTO_IP, IP_MINTTL, min_ttl, "IP_MINTTL");
    }
    Napi::Value md5 = options.Get("md5");
    if (md5.IsArray()) {
      Napi::Array keys = md5.As<Napi::Array>();
      for (uint32_t i = 0; i < keys.Length(); i++) {
        Napi::Value entry = keys.Get(i);
        if (!entry.IsObject()) throw ArgumentError(env, "md5 entries are { address, key, prefixLength? }");
        Napi::Object e = entry.As<Napi::Object>();
        Napi::Value address = e.Get("address");
        if (!address.IsString()) throw ArgumentError(env, "md5 entry needs an address");
        SetMd5Key(env, fd, family, address.As<Napi::String>().Utf8Value(), e.Get("key"), IntOf(e, "prefixLength", -1));
      }
    }
    Napi::Value local_address = options.Get("localAddress");
    int local_port = IntOf(options, "localPort", 0);
    if (local_address.IsString() || local_port != 0) {
      std::string text = local_address.IsString() ? local_address.As<Napi::String>().Utf8Value()
                                                   : (family == AF_INET ? "0.0.0.0" : "::");
      SocketAddress local = ParseAddress(env, family, text, local_port);
      if (bind(fd, reinterpret_cast<sockaddr*>(&local.storage), local.length) < 0) {
        int err = errno;
        std::string where = (family == AF_INET6 ? "[" + text + "]" : text) + ":" + std::to_string(local_port);
        throw ErrnoError(env, err, "bind", "binding a TCP socket to " + where,
                         local_port > 0 && local_port < 1024
                             ? CapabilityHint(err, "CAP_NET_BIND_SERVICE", "binding a port below 1024")
                             : "");
      }
    }
  } catch (...) {
    close(fd);
    throw;
  }
  return Napi::Number::New(env, fd);
}

Napi::Value TcpConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber()) {
    throw ArgumentError(env, "tcpConnect(fd, address, port)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string address = info[1].As<Napi::String>().Utf8Value();
  int port = info[2].As<Napi::Number>().Int32Value();
  int family = SocketFamily(fd);
  if (family < 0) {
    int err = errno;
    throw ErrnoError(env, err, "getsockname", "connecting fd " + std::to_string(fd));
  }
  SocketAddress peer = ParseAddress(env, family, address, port);
  for (;;) {
    if (connect(fd, reinterpret_cast<sockaddr*>(&peer.storage), peer.length) == 0) return Napi::Boolean::New(env, true);
    if (errno == EINPROGRESS) return Napi::Boolean::New(env, false);
    if (errno != EINTR) break;
  }
  int err = errno;
  std::string where = (family == AF_INET6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
  throw ErrnoError(env, err, "connect", "connecting to " + where);
}

Napi::Value TcpListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw ArgumentError(env, "tcpListen(fd, backlog)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (listen(fd, info[1].As<Napi::Number>().Int32Value()) < 0) {
    int err = errno;
    throw ErrnoError(env, err, "listen", "listening on fd " + std::to_string(fd));
  }
  return env.Undefined();
}

Napi::Value TcpSetMd5Key(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString()) {
    throw ArgumentError(env, "tcpSetMd5Key(fd, address, key | null, prefixLength?)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int family = SocketFamily(fd);
  if (family < 0) {
    int err = errno;
    throw ErrnoError(env, err, "getsockname", "setting an MD5 key on fd " + std::to_string(fd));
  }
  int prefix_length = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
  SetMd5Key(env, fd, family, info[1].As<Napi::String>().Utf8Value(), info[2], prefix_length);
  return env.Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw ArgumentError(env, "closeFd(fd)");
  close(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

Napi::Function ConnectWaiter::Define(Napi::Env env) {
  return DefineClass(env, "ConnectWaiter", {InstanceMethod("cancel", &ConnectWaiter::Cancel)});
}

// new ConnectWaiter(fd, onDone(err | null))
ConnectWaiter::ConnectWaiter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConnectWaiter>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    throw ArgumentError(env, "ConnectWaiter(fd, onDone)");
  }
  fd_ = info[0].As<Napi::Number>().Int32Value();
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t();
  int rc = uv_poll_init_socket(loop, poll_, fd_);
  if (rc != 0) {
    delete poll_;
    poll_ = nullptr;
    throw ErrnoError(env, -rc, "uv_poll_init", "waiting for connect() on fd " + std::to_string(fd_));
  }
  poll_->data = this;
  rc = uv_poll_start(poll_, UV_WRITABLE, &ConnectWaiter::OnPoll);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    throw ErrnoError(env, -rc, "uv_poll_start", "waiting for connect() on fd " + std::to_string(fd_));
  }
  on_done_ = Napi::Persistent(info[1].As<Napi::Function>());
  async_context_ = std::make_unique<Napi::AsyncContext>(env, "BeaconConnectWaiter");
  Napi::ObjectWrap<ConnectWaiter>::Ref();
  pinned_ = true;
}

ConnectWaiter::~ConnectWaiter() {
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  }
}

void ConnectWaiter::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<ConnectWaiter*>(handle->data);
  if (self == nullptr) return;
  // A failed connect shows as POLLERR, which libuv reports as UV_EBADF; SO_ERROR holds the real reason.
  int err = 0;
  socklen_t length = sizeof err;
  if (getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &length) < 0) err = errno;
  if (err == 0 && status < 0) err = -status;
  self->Finish(err);
}

void ConnectWaiter::Finish(int err) {
  result_ = err;
  uv_poll_stop(poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), &ConnectWaiter::OnClosed);
}

void ConnectWaiter::OnClosed(uv_handle_t* handle) {
  auto* self = static_cast<ConnectWaiter*>(handle->data);
  delete reinterpret_cast<uv_poll_t*>(handle);
  if (self == nullptr) return;
  self->poll_ = nullptr;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Value outcome = env.Null();
  if (self->cancelled_) {
    outcome = ErrnoError(env, ECANCELED, "connect", "connect() cancelled").Value();
  } else if (self->result_ != 0) {
    outcome = ErrnoError(env, self->result_, "connect", "connecting fd " + std::to_string(self->fd_)).Value();
  }
  try {
    self->on_done_.MakeCallback(self->Value(), {outcome}, *self->async_context_);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
  if (self->pinned_) {
    self->pinned_ = false;
    self->Napi::ObjectWrap<ConnectWaiter>::Unref();
  }
}

// cancel(): stops waiting; the callback then receives an ECANCELED error. The caller closes the fd.
Napi::Value ConnectWaiter::Cancel(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr && !cancelled_ && uv_is_active(reinterpret_cast<uv_handle_t*>(poll_))) {
    cancelled_ = true;
    Finish(ECANCELED);
  }
  return info.Env().Undefined();
}

}  // namespace beacon
