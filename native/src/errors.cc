#include "errors.h"

#include <uv.h>

#include <cerrno>
#include <cstring>

namespace beacon {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& what,
                       const std::string& hint) {
  const char* code = uv_err_name(-err);
  std::string message = what + ": " + std::strerror(err) + " (" + code + ")";
  if (!hint.empty()) message += "; " + hint;
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("code", Napi::String::New(env, code));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

Napi::Error ArgumentError(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
  return error;
}

std::string CapabilityHint(int err, const char* capability, const char* what) {
  if (err != EPERM && err != EACCES) return "";
  return std::string(what) + " needs " + capability + " (run as root or grant the capability)";
}

}  // namespace beacon
