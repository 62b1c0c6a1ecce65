// ProcessWatch: calls back once a process has exited (see kt_process.cc).
#pragma once
#include <napi.h>
#include <uv.h>

namespace kt {

class ProcessWatch : public Napi::ObjectWrap<ProcessWatch> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ProcessWatch(const Napi::CallbackInfo& info);
  ~ProcessWatch() override;

 private:
  void Close(const Napi::CallbackInfo& info);
  // finalizing: called from the destructor, when the JS object is already gone.
  void Stop(bool finalizing);
  static void OnReadable(uv_poll_t* handle, int status, int events);

  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* context_ = nullptr;
};

}  // namespace kt
