#include "kt_errors.h"

#include <bpf/libbpf.h>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace kt {

namespace {

std::string* g_capture = nullptr;

int PrintToCapture(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (g_capture == nullptr || level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(buf, sizeof buf, fmt, copy);
  va_end(copy);
  if (n < 0) return 0;
  if (static_cast<size_t>(n) < sizeof buf) {
    g_capture->append(buf, n);
  } else {
    // The verifier log arrives in one message and can be megabytes long.
    std::string big(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(big.data(), big.size(), fmt, args);
    big.resize(static_cast<size_t>(n));
    g_capture->append(big);
  }
  return n;
}

const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case 524: return "ENOTSUPP";  // kernel-internal, returned by BPF for unsupported operations
    default: return "";
  }
}

}  // namespace

LibbpfLogCapture::LibbpfLogCapture() {
  delete g_capture;
  g_capture = new std::string();
}

LibbpfLogCapture::~LibbpfLogCapture() {
  delete g_capture;
  g_capture = nullptr;
}

const std::string& LibbpfLogCapture::text() const { return *g_capture; }

void InstallLibbpfPrint() { libbpf_set_print(PrintToCapture); }

std::string LastLines(const std::string& text, size_t maxLines) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') end--;
  size_t pos = end;
  size_t lines = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++lines == maxLines) break;
    pos--;
  }
  return text.substr(pos, end - pos);
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what, const std::string& detail) {
  if (err < 0) err = -err;
  char reason[256];
  if (err == 524) {
    snprintf(reason, sizeof reason, "operation not supported by the kernel");
  } else {
    libbpf_strerror(err, reason, sizeof reason);
  }
  Napi::Error e = Napi::Error::New(env, what + ": " + reason);
  e.Set("errno", Napi::Number::New(env, err));
  const char* code = ErrnoName(err);
  if (*code) e.Set("code", Napi::String::New(env, code));
  if (!detail.empty()) e.Set("log", Napi::String::New(env, detail));
  return e;
}

}  // namespace kt
