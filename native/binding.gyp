# Beacon's native addon: link-layer sockets (AF_PACKET + classic BPF), multicast membership, interface
# listing over netlink, TCP sockets with TCP_MD5SIG / GTSM options, and a TTL filter for UDP
# sockets (GTSM for BFD). Linux only. Built by
# scripts/build-native.ts (npm install / npm run build:native) against the Node 24 headers that the `node`
# dev dependency carries. Node-API keeps the built file valid across Node versions.
{
  "targets": [
    {
      "target_name": "beacon_native",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/links.cc",
        "src/multicast.cc",
        "src/packet_socket.cc",
        "src/socket_filter.cc",
        "src/tcp.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"]
    }
  ]
}
