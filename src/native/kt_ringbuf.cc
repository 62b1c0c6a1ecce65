// The `events` ring buffer, polled on Node's own event loop: its epoll fd is watched with a uv_poll_t
// (no thread), and each wakeup delivers every available record to JS in one batch: one Buffer holding
// the records packed (each a 4-byte little-endian size, then its bytes), so a batch costs one
// allocation however many records it has (src/native/ring-records.ts reads it). A ring whose programs
// submit with BPF_RB_NO_WAKEUP (the Kafka capture) is also drained on a timer: a wakeup per record
// costs the traced process a wakeup of ours inside its syscall, and us a turn of the loop.
#include <bpf/libbpf.h>

#include <cerrno>

#include "kt_errors.h"
#include "kt_object.h"

namespace kt {

namespace {

// Records per delivery. libbpf keeps consuming while producers keep producing; bailing out after a
// batch lets the loop run signals and timers in between (the ring stays readable, so polling resumes).
constexpr size_t kMaxBatch = 16384;

}  // namespace

int BpfObject::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<BpfObject*>(ctx);
  const auto* bytes = static_cast<const uint8_t*>(data);
  const uint32_t n = static_cast<uint32_t>(size);
  const uint8_t prefix[4] = {static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n >> 16),
                             static_cast<uint8_t>(n >> 24)};
  self->pending_.insert(self->pending_.end(), prefix, prefix + 4);
  self->pending_.insert(self->pending_.end(), bytes, bytes + size);
  // libbpf has already consumed this record when a callback returns an error.
  return ++self->pendingRecords_ >= kMaxBatch ? -EAGAIN : 0;
}

Napi::Buffer<uint8_t> BpfObject::TakeRecords(Napi::Env env) {
  auto out = Napi::Buffer<uint8_t>::Copy(env, pending_.data(), pending_.size());
  pending_.clear();
  pendingRecords_ = 0;
  return out;
}

void BpfObject::DrainRing() {
  if (ring_ == nullptr) return;
  ring_buffer__consume(ring_);
  if (pending_.empty()) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Buffer<uint8_t> records = TakeRecords(env);
  try {
    ringCallback_.MakeCallback(Value(), {records}, *ringContext_);
  } catch (const Napi::Error& e) {
    // An exception in the JS handler is the program's uncaught exception, as for any other callback.
    napi_fatal_exception(env, e.Value());
  }
}

void BpfObject::OnRingReadable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<BpfObject*>(handle->data);
  if (self != nullptr && status >= 0) self->DrainRing();
}

void BpfObject::OnRingTimer(uv_timer_t* handle) {
  auto* self = static_cast<BpfObject*>(handle->data);
  if (self != nullptr) self->DrainRing();
}

// ringStart(map, onRecords, drainMs?): onRecords(batch: Buffer) is called once per wakeup, and every
// drainMs milliseconds when records wait.
void BpfObject::RingStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  if (ring_ != nullptr) throw Napi::Error::New(env, "the ring buffer is already being read");
  struct bpf_map* map = Map(env, info[0]);
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "ringStart(map, onRecords: Function)");
  LibbpfLogCapture log;
  ring_ = ring_buffer__new(bpf_map__fd(map), OnSample, this, nullptr);
  if (ring_ == nullptr) {
    throw ErrnoError(env, errno, std::string("cannot read ring buffer '") + bpf_map__name(map) + "'",
                     LastLines(log.text(), 5));
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  poll_->data = this;
  int err = uv_poll_init(loop, poll_, ring_buffer__epoll_fd(ring_));
  if (err == 0) err = uv_poll_start(poll_, UV_READABLE, OnRingReadable);
  if (err != 0) {
    delete poll_;
    poll_ = nullptr;
    ring_buffer__free(ring_);
    ring_ = nullptr;
    throw Napi::Error::New(env, std::string("cannot poll the ring buffer: ") + uv_strerror(err));
  }
  const int64_t drainMs = info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 0;
  if (drainMs > 0) {
    timer_ = new uv_timer_t;
    timer_->data = this;
    uv_timer_init(loop, timer_);
    uv_timer_start(timer_, OnRingTimer, drainMs, drainMs);
    // The poll handle keeps the loop alive; the timer alone must not.
    uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  }
  ringCallback_ = Napi::Persistent(info[1].As<Napi::Function>());
  ringContext_ = new Napi::AsyncContext(env, "kafkatrace:ringbuf");
  // While records may arrive, the JS object must not be collected under the poll handle.
  Ref();
}

// ringConsume(): the records available now (at most one batch), synchronously (to drain at exit).
Napi::Value BpfObject::RingConsume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ring_ == nullptr) return Napi::Buffer<uint8_t>::New(env, 0);
  int err = ring_buffer__consume(ring_);
  if (err < 0 && err != -EAGAIN) throw ErrnoError(env, err, "cannot read the ring buffer");
  return TakeRecords(env);
}

void BpfObject::StopRing(bool finalizing) {
  if (poll_ != nullptr) {
    // uv_close unregisters the epoll fd at once, so the ring buffer (which owns it) can go next;
    // the handle's memory is freed when libuv is done with it.
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    if (!finalizing) Unref();
  }
  if (timer_ != nullptr) {
    timer_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
  if (ring_ != nullptr) {
    ring_buffer__free(ring_);
    ring_ = nullptr;
  }
  pending_.clear();
  pendingRecords_ = 0;
  if (ringContext_ != nullptr) {
    delete ringContext_;
    ringContext_ = nullptr;
  }
  if (!ringCallback_.IsEmpty()) ringCallback_.Reset();
}

void BpfObject::RingStop(const Napi::CallbackInfo&) { StopRing(false); }

// ringPause(paused): while paused, no wakeup delivers records (the consumer has a backlog); the
// ring keeps what arrives until it is full, then the programs count what they drop.
void BpfObject::RingPause(const Napi::CallbackInfo& info) {
  if (poll_ == nullptr) return;
  bool paused = info[0].ToBoolean().Value();
  int err = paused ? uv_poll_stop(poll_) : uv_poll_start(poll_, UV_READABLE, OnRingReadable);
  if (err == 0 && timer_ != nullptr) {
    // uv_timer_again starts a stopped timer again with its own repeat interval.
    err = paused ? uv_timer_stop(timer_) : uv_timer_again(timer_);
  }
  if (err != 0) throw Napi::Error::New(info.Env(), std::string("cannot poll the ring buffer: ") + uv_strerror(err));
}

}  // namespace kt
