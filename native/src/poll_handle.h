// A uv_poll_t whose memory outlives the JS object that started it: libuv frees nothing itself and needs the
// handle until its close callback runs, which may be after the owner is gone.
#pragma once

#include <uv.h>

namespace beacon {

inline uv_poll_t* NewPollHandle() { return new uv_poll_t(); }

// Stops and closes the handle; the memory is released once libuv is done with it.
inline void ClosePollHandle(uv_poll_t* handle) {
  if (handle == nullptr) return;
  handle->data = nullptr;
  uv_poll_stop(handle);
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
}

}  // namespace beacon
