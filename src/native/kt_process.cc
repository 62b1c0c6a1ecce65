// The end of a process, seen on Node's loop: a pidfd (pidfd_open, Linux 5.3) becomes readable when
// the process exits, whoever its parent is (-p PID), so no polling and no pid reuse.
#include "kt_process.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "kt_errors.h"

namespace kt {

Napi::Function ProcessWatch::Define(Napi::Env env) {
  return DefineClass(env, "ProcessWatch", {InstanceMethod<&ProcessWatch::Close>("close")});
}

// new ProcessWatch(pid, onExit): onExit() is called once, when the process has exited.
ProcessWatch::ProcessWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessWatch>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "new ProcessWatch(pid: number, onExit: Function)");
  int pid = info[0].As<Napi::Number>().Int32Value();
  fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd_ < 0) throw ErrnoError(env, errno, "cannot watch process " + std::to_string(pid));
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  poll_->data = this;
  int err = uv_poll_init(loop, poll_, fd_);
  if (err == 0) err = uv_poll_start(poll_, UV_READABLE, OnReadable);
  if (err != 0) {
    delete poll_;
    poll_ = nullptr;
    close(fd_);
    fd_ = -1;
    throw Napi::Error::New(env, std::string("cannot poll process ") + std::to_string(pid) + ": " + uv_strerror(err));
  }
  // Watching never keeps the process alive by itself.
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  callback_ = Napi::Persistent(info[1].As<Napi::Function>());
  context_ = new Napi::AsyncContext(env, "kafkatrace:process-exit");
  Ref();
}

ProcessWatch::~ProcessWatch() { Stop(true); }

void ProcessWatch::OnReadable(uv_poll_t* handle, int, int) {
  auto* self = static_cast<ProcessWatch*>(handle->data);
  if (self == nullptr) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::FunctionReference callback = std::move(self->callback_);
  Napi::AsyncContext* context = self->context_;
  self->context_ = nullptr;
  self->Stop(false);
  try {
    callback.MakeCallback(env.Global(), {}, *context);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
  delete context;
}

void ProcessWatch::Stop(bool finalizing) {
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    if (!finalizing) Unref();
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  if (context_ != nullptr) {
    delete context_;
    context_ = nullptr;
  }
  if (!callback_.IsEmpty()) callback_.Reset();
}

void ProcessWatch::Close(const Napi::CallbackInfo&) { Stop(false); }

}  // namespace kt
