// One BPF object (bpf_object__open_mem) with its links and its ring buffer, wrapped for JS.
#pragma once
#include <bpf/libbpf.h>
#include <napi.h>
#include <uv.h>

#include "kt_errors.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kt {

// releaseLinksAtExit(): from now on, links are detached without waiting for the kernel (see
// DestroyLinks); only for a process that exits once its session has ended.
void ReleaseLinksAtExit(const Napi::CallbackInfo& info);

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;

 private:
  // Object and programs (kt_object.cc)
  Napi::Value ProgramNames(const Napi::CallbackInfo& info);
  Napi::Value MapInfo(const Napi::CallbackInfo& info);
  void SetGlobal(const Napi::CallbackInfo& info);
  void SetMaxEntries(const Napi::CallbackInfo& info);
  void Load(const Napi::CallbackInfo& info);
  Napi::Value AttachTracepoint(const Napi::CallbackInfo& info);
  Napi::Value AttachRawTracepoint(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value AttachUsdt(const Napi::CallbackInfo& info);
  Napi::Value AttachPerfEvent(const Napi::CallbackInfo& info);
  Napi::Value AttachKprobe(const Napi::CallbackInfo& info);
  Napi::Value AttachTrace(const Napi::CallbackInfo& info);
  Napi::Value TestRun(const Napi::CallbackInfo& info);
  Napi::Value LinkCount(const Napi::CallbackInfo& info);
  void Detach(const Napi::CallbackInfo& info);
  void DetachLink(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  void ReuseMapFd(const Napi::CallbackInfo& info);
  Napi::Value MapFd(const Napi::CallbackInfo& info);
  void SetAutoload(const Napi::CallbackInfo& info);

  // Maps (kt_maps.cc)
  Napi::Value MapDump(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  void MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  void MapClear(const Napi::CallbackInfo& info);
  void MapZero(const Napi::CallbackInfo& info);

  // Ring buffer (kt_ringbuf.cc)
  void RingStart(const Napi::CallbackInfo& info);
  Napi::Value RingConsume(const Napi::CallbackInfo& info);
  void RingStop(const Napi::CallbackInfo& info);
  void RingPause(const Napi::CallbackInfo& info);

  struct bpf_program* Program(Napi::Env env, const Napi::Value& name);
  struct bpf_map* Map(Napi::Env env, const Napi::Value& name);
  struct bpf_object* Loaded(Napi::Env env);
  Napi::Value KeepLink(Napi::Env env, struct bpf_link* link, const std::string& what,
                       const LibbpfLogCapture& log);
  Napi::Buffer<uint8_t> TakeRecords(Napi::Env env);
  // finalizing: called from the destructor, when the JS object is already gone.
  void StopRing(bool finalizing);
  void DrainRing();
  void DestroyLinks();
  void CloseAll(bool finalizing);
  static void OnRingReadable(uv_poll_t* handle, int status, int events);
  static void OnRingTimer(uv_timer_t* handle);
  static int OnSample(void* ctx, void* data, size_t size);

  struct bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  std::vector<struct bpf_link*> links_;
  struct ring_buffer* ring_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  // Drains the ring on a repeating timer when the programs wake user space only for a backlog.
  uv_timer_t* timer_ = nullptr;
  Napi::FunctionReference ringCallback_;
  Napi::AsyncContext* ringContext_ = nullptr;
  // Records of the current batch, packed: each a 4-byte little-endian size, then its bytes.
  std::vector<uint8_t> pending_;
  size_t pendingRecords_ = 0;
  std::vector<uint8_t> elf_;
};

}  // namespace kt
