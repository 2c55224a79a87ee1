// Beacon's native addon. Everything above the system call (frame encoding, decisions) lives in TypeScript;
// this file only registers the bindings.
#include <napi.h>

#include "links.h"
#include "multicast.h"
#include "packet_socket.h"
#include "socket_filter.h"
#include "tcp.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("PacketSocket", beacon::PacketSocket::Define(env));
  exports.Set("MulticastMembership", beacon::MulticastMembership::Define(env));
  exports.Set("LinkWatcher", beacon::LinkWatcher::Define(env));
  exports.Set("ConnectWaiter", beacon::ConnectWaiter::Define(env));
  exports.Set("listLinks", Napi::Function::New(env, beacon::ListLinks, "listLinks"));
  exports.Set("tcpSocket", Napi::Function::New(env, beacon::TcpSocket, "tcpSocket"));
  exports.Set("tcpConnect", Napi::Function::New(env, beacon::TcpConnect, "tcpConnect"));
  exports.Set("tcpListen", Napi::Function::New(env, beacon::TcpListen, "tcpListen"));
  exports.Set("tcpSetMd5Key", Napi::Function::New(env, beacon::TcpSetMd5Key, "tcpSetMd5Key"));
  exports.Set("udpMinTtlFilter", Napi::Function::New(env, beacon::UdpMinTtlFilter, "udpMinTtlFilter"));
  exports.Set("closeFd", Napi::Function::New(env, beacon::CloseFd, "closeFd"));
  return exports;
}

}  // namespace

NODE_API_MODULE(beacon_native, Init)
