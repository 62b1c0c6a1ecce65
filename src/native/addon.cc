// kafkatrace's native addon: libbpf (1.1 API) for Node.
#include <bpf/libbpf.h>
#include <napi.h>

#include "kt_errors.h"
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  kt::InstallLibbpfPrint();
  exports.Set("BpfObject", kt::BpfObject::Define(env));
  exports.Set("ProcessWatch", kt::ProcessWatch::Define(env));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("releaseLinksAtExit", Napi::Function::New(env, kt::ReleaseLinksAtExit));
  return exports;
}

}  // namespace

NODE_API_MODULE(kafkatrace_native, Init)
