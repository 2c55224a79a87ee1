// JS errors for failed system calls, shaped like Node's own (errno, code, syscall) so that callers can
// branch on `code` ("EPERM", "ENODEV", ...) and people can read the message.
#pragma once

#include <napi.h>

#include <string>

namespace beacon {

// An Error whose message is "<what>: <strerror> (<CODE>)[; <hint>]", with errno (negative, as in Node),
// code and syscall properties.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& what,
                       const std::string& hint = "");

// A TypeError for bad arguments from JS.
Napi::Error ArgumentError(Napi::Env env, const std::string& message);

// The capability hint for a permission error, empty for other errors.
std::string CapabilityHint(int err, const char* capability, const char* what);

}  // namespace beacon
