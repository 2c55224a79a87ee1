// A classic BPF filter on a UDP socket that drops datagrams whose IP TTL (IPv6 hop limit) is below a
// minimum: GTSM for protocols that run over UDP, since Linux applies IP_MINTTL to TCP only.
#pragma once

#include <napi.h>

namespace beacon {

// udpMinTtlFilter(fd, minTtl): attaches the filter to the socket (its family read from the socket).
// Needs no capability: a process may filter its own sockets.
Napi::Value UdpMinTtlFilter(const Napi::CallbackInfo& info);

}  // namespace beacon
