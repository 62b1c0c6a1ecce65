// kafkatrace's native addon: libbpf (1.1 API) for Node.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <napi.h>
#include <unistd.h>

#include "kt_errors.h"
#include "kt_files.h"
#include "kt_object.h"
#include "kt_process.h"

namespace {

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) throw kt::ErrnoError(info.Env(), n, "cannot count the possible CPUs");
  return Napi::Number::New(info.Env(), n);
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

// libbpf's probes answer 1 (supported), 0 (not) or a negative errno (could not tell): only 1 is yes.
bool Supported(int probe) { return probe == 1; }

// Whether the verifier accepts a bounded loop (a back edge): kernels from 5.3 do.
bool BoundedLoops() {
  const struct bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},   // r0 = 0
      {BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_0, 0, 0, 1},   // r0 += 1
      {BPF_JMP | BPF_JLT | BPF_K, BPF_REG_0, 0, -2, 4},    // if r0 < 4 goto the add
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "kt_loop_probe", "GPL", insns, sizeof(insns) / sizeof(insns[0]), nullptr);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// What the kernel supports of what kafkatrace uses, named as bpftrace's --info names it.
Napi::Value KernelFeatures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object helpers = Napi::Object::New(env);
  const struct {
    const char* name;
    enum bpf_func_id id;
  } kHelpers[] = {
      {"probe_read", BPF_FUNC_probe_read},
      {"probe_read_str", BPF_FUNC_probe_read_str},
      {"probe_read_user", BPF_FUNC_probe_read_user},
      {"probe_read_user_str", BPF_FUNC_probe_read_user_str},
      {"probe_read_kernel", BPF_FUNC_probe_read_kernel},
      {"probe_read_kernel_str", BPF_FUNC_probe_read_kernel_str},
      {"get_current_cgroup_id", BPF_FUNC_get_current_cgroup_id},
      {"send_signal", BPF_FUNC_send_signal},
      {"override_return", BPF_FUNC_override_return},
      {"get_boot_ns", BPF_FUNC_ktime_get_boot_ns},
  };
  for (const auto& h : kHelpers) helpers.Set(h.name, Supported(libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, h.id, nullptr)));
  Napi::Object maps = Napi::Object::New(env);
  const struct {
    const char* name;
    enum bpf_map_type type;
  } kMaps[] = {
      {"hash", BPF_MAP_TYPE_HASH},
      {"percpu hash", BPF_MAP_TYPE_PERCPU_HASH},
      {"array", BPF_MAP_TYPE_ARRAY},
      {"percpu array", BPF_MAP_TYPE_PERCPU_ARRAY},
      {"stack_trace", BPF_MAP_TYPE_STACK_TRACE},
      {"perf_event_array", BPF_MAP_TYPE_PERF_EVENT_ARRAY},
      {"ringbuf", BPF_MAP_TYPE_RINGBUF},
  };
  for (const auto& m : kMaps) maps.Set(m.name, Supported(libbpf_probe_bpf_map_type(m.type, nullptr)));
  Napi::Object progs = Napi::Object::New(env);
  const struct {
    const char* name;
    enum bpf_prog_type type;
  } kProgs[] = {
      {"tracepoint", BPF_PROG_TYPE_TRACEPOINT},
      {"raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT},
      {"perf_event", BPF_PROG_TYPE_PERF_EVENT},
      {"uprobe", BPF_PROG_TYPE_KPROBE},
  };
  for (const auto& p : kProgs) progs.Set(p.name, Supported(libbpf_probe_bpf_prog_type(p.type, nullptr)));
  Napi::Object out = Napi::Object::New(env);
  out.Set("helpers", helpers);
  out.Set("maps", maps);
  out.Set("programs", progs);
  out.Set("loops", BoundedLoops());
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  kt::InstallLibbpfPrint();
  exports.Set("BpfObject", kt::BpfObject::Define(env));
  exports.Set("ProcessWatch", kt::ProcessWatch::Define(env));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("kernelFeatures", Napi::Function::New(env, KernelFeatures));
  exports.Set("releaseLinksAtExit", Napi::Function::New(env, kt::ReleaseLinksAtExit));
  exports.Set("batchHeaders", Napi::Function::New(env, kt::BatchHeaders));
  return exports;
}

}  // namespace

NODE_API_MODULE(kafkatrace_native, Init)
