// Errors from libbpf and the kernel, turned into JS Errors that carry errno, and a capture of
// libbpf's own messages (the verifier log among them) so they reach the user instead of stderr.
#pragma once
#include <napi.h>
#include <string>

namespace kt {

// Collects libbpf's messages while alive; libbpf is silent otherwise (errors are reported by us).
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  const std::string& text() const;
};

void InstallLibbpfPrint();

// A JS Error with `errno` (positive) and `code` ("ENOENT") set; `detail` is kept as `log` when non-empty.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what, const std::string& detail = "");

// The last `maxLines` lines of `text`, for long verifier logs.
std::string LastLines(const std::string& text, size_t maxLines);

}  // namespace kt
