// Opening, configuring, loading, attaching and running the programs of one BPF object.
#include "kt_object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kt_errors.h"

namespace kt {

namespace {

std::string Str(const Napi::Value& v) { return v.As<Napi::String>().Utf8Value(); }

// libbpf reports which program failed and, after its retry with log level 1, the verifier log.
void ExplainLoadFailure(const std::string& log, std::string* program, std::string* detail) {
  const std::string progMark = "prog '";
  size_t failed = log.find("': BPF program load failed");
  if (failed == std::string::npos) failed = log.find("': failed to load");
  if (failed != std::string::npos) {
    size_t start = log.rfind(progMark, failed);
    if (start != std::string::npos) *program = log.substr(start + progMark.size(), failed - start - progMark.size());
  }
  const std::string begin = "-- BEGIN PROG LOAD LOG --";
  const std::string end = "-- END PROG LOAD LOG --";
  size_t b = log.find(begin);
  size_t e = b == std::string::npos ? std::string::npos : log.find(end, b);
  if (b != std::string::npos && e != std::string::npos) {
    *detail = LastLines(log.substr(b + begin.size(), e - b - begin.size()), 30);
  } else {
    *detail = LastLines(log, 30);
  }
}

// Set by releaseLinksAtExit(): this process exits once its session is done.
bool releaseAtExit = false;

// A link whose last close makes the kernel wait: a BPF link or a perf event (a tracepoint's perf
// event waits for an RCU grace period, under a lock, when its last reference goes). libbpf leaves
// fd 0 in links without a descriptor of their own (usdt), hence the check of what the fd is.
bool SlowToRelease(int fd) {
  if (fd <= 2) return false;
  char target[64];
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
  if (n < 0) return false;
  target[n] = '\0';
  return strcmp(target, "anon_inode:bpf_link") == 0 || strcmp(target, "anon_inode:[perf_event]") == 0;
}

// Gives a reaper process its own references to `fds`: `cat` reading a pipe whose only writer is this
// process (close-on-exec, never closed), so it ends when this process has exited, and the kernel's
// wait happens in the reaper's exit instead of ours. It runs in its own process group so that a
// terminal's Ctrl-C does not end it before we have closed our copies. False if it cannot start.
bool HandToReaper(const std::vector<int>& fds) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return false;
  // Targets above every source fd, so that no dup2 overwrites a source still to be copied.
  int base = std::max(*std::max_element(fds.begin(), fds.end()), pipefd[0]) + 1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[0], 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  for (size_t i = 0; i < fds.size(); i++) posix_spawn_file_actions_adddup2(&actions, fds[i], base + static_cast<int>(i));
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  char cat[] = "cat";
  char* argv[] = {cat, nullptr};
  pid_t pid;
  int err = posix_spawnp(&pid, "cat", &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(pipefd[0]);
  if (err != 0) {
    close(pipefd[1]);
    return false;
  }
  return true;
}

}  // namespace

void ReleaseLinksAtExit(const Napi::CallbackInfo&) { releaseAtExit = true; }

Napi::Function BpfObject::Define(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {
                         InstanceMethod<&BpfObject::ProgramNames>("programNames"),
                         InstanceMethod<&BpfObject::MapInfo>("mapInfo"),
                         InstanceMethod<&BpfObject::SetGlobal>("setGlobal"),
                         InstanceMethod<&BpfObject::SetMaxEntries>("setMaxEntries"),
                         InstanceMethod<&BpfObject::Load>("load"),
                         InstanceMethod<&BpfObject::AttachTracepoint>("attachTracepoint"),
                         InstanceMethod<&BpfObject::AttachRawTracepoint>("attachRawTracepoint"),
                         InstanceMethod<&BpfObject::AttachUprobe>("attachUprobe"),
                         InstanceMethod<&BpfObject::AttachUsdt>("attachUsdt"),
                         InstanceMethod<&BpfObject::AttachPerfEvent>("attachPerfEvent"),
                         InstanceMethod<&BpfObject::AttachKprobe>("attachKprobe"),
                         InstanceMethod<&BpfObject::AttachTrace>("attachTrace"),
                         InstanceMethod<&BpfObject::TestRun>("testRun"),
                         InstanceMethod<&BpfObject::LinkCount>("linkCount"),
                         InstanceMethod<&BpfObject::Detach>("detach"),
                         InstanceMethod<&BpfObject::DetachLink>("detachLink"),
                         InstanceMethod<&BpfObject::Close>("close"),
                         InstanceMethod<&BpfObject::ReuseMapFd>("reuseMapFd"),
                         InstanceMethod<&BpfObject::MapFd>("mapFd"),
                         InstanceMethod<&BpfObject::SetAutoload>("setAutoload"),
                         InstanceMethod<&BpfObject::MapDump>("mapDump"),
                         InstanceMethod<&BpfObject::MapLookup>("mapLookup"),
                         InstanceMethod<&BpfObject::MapUpdate>("mapUpdate"),
                         InstanceMethod<&BpfObject::MapDelete>("mapDelete"),
                         InstanceMethod<&BpfObject::MapClear>("mapClear"),
                         InstanceMethod<&BpfObject::MapZero>("mapZero"),
                         InstanceMethod<&BpfObject::RingStart>("ringStart"),
                         InstanceMethod<&BpfObject::RingConsume>("ringConsume"),
                         InstanceMethod<&BpfObject::RingStop>("ringStop"),
                         InstanceMethod<&BpfObject::RingPause>("ringPause"),
                     });
}

// new BpfObject(elf: Buffer, name: string)
BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsString()) {
    throw Napi::TypeError::New(env, "BpfObject(elf: Buffer, name: string)");
  }
  auto elf = info[0].As<Napi::Buffer<uint8_t>>();
  std::string name = Str(info[1]);
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str());
  LibbpfLogCapture log;
  // libbpf reads the ELF in place until load, so it must own a copy that outlives JS's buffer.
  elf_.assign(elf.Data(), elf.Data() + elf.Length());
  obj_ = bpf_object__open_mem(elf_.data(), elf_.size(), &opts);
  if (obj_ == nullptr) {
    int err = errno;
    throw ErrnoError(env, err, "cannot open the BPF object", LastLines(log.text(), 10));
  }
}

BpfObject::~BpfObject() { CloseAll(true); }

struct bpf_program* BpfObject::Program(Napi::Env env, const Napi::Value& name) {
  if (obj_ == nullptr) throw Napi::Error::New(env, "the BPF object is closed");
  std::string n = Str(name);
  struct bpf_program* prog = bpf_object__find_program_by_name(obj_, n.c_str());
  if (prog == nullptr) throw Napi::Error::New(env, "no program '" + n + "' in the BPF object");
  return prog;
}

struct bpf_map* BpfObject::Map(Napi::Env env, const Napi::Value& name) {
  if (obj_ == nullptr) throw Napi::Error::New(env, "the BPF object is closed");
  std::string n = Str(name);
  struct bpf_map* map = bpf_object__find_map_by_name(obj_, n.c_str());
  if (map == nullptr) throw Napi::Error::New(env, "no map '" + n + "' in the BPF object");
  return map;
}

struct bpf_object* BpfObject::Loaded(Napi::Env env) {
  if (obj_ == nullptr) throw Napi::Error::New(env, "the BPF object is closed");
  if (!loaded_) throw Napi::Error::New(env, "the BPF object is not loaded yet");
  return obj_;
}

Napi::Value BpfObject::ProgramNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "the BPF object is closed");
  Napi::Array out = Napi::Array::New(env);
  struct bpf_program* prog;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, obj_) out.Set(i++, Napi::String::New(env, bpf_program__name(prog)));
  return out;
}

Napi::Value BpfObject::MapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "the BPF object is closed");
  Napi::Array out = Napi::Array::New(env);
  struct bpf_map* map;
  uint32_t i = 0;
  bpf_object__for_each_map(map, obj_) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("name", bpf_map__name(map));
    m.Set("type", static_cast<double>(bpf_map__type(map)));
    m.Set("keySize", static_cast<double>(bpf_map__key_size(map)));
    m.Set("valueSize", static_cast<double>(bpf_map__value_size(map)));
    m.Set("maxEntries", static_cast<double>(bpf_map__max_entries(map)));
    out.Set(i++, m);
  }
  return out;
}

// setGlobal(name, bytes): writes a `const volatile` global of .rodata before load, found through BTF.
void BpfObject::SetGlobal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "the BPF object is closed");
  if (loaded_) throw Napi::Error::New(env, "globals must be set before load");
  std::string name = Str(info[0]);
  auto bytes = info[1].As<Napi::Buffer<uint8_t>>();
  struct bpf_map* rodata = bpf_object__find_map_by_name(obj_, ".rodata");
  const struct btf* btf = bpf_object__btf(obj_);
  if (rodata == nullptr || btf == nullptr) {
    throw Napi::Error::New(env, "the BPF object has no .rodata section with BTF (global '" + name + "')");
  }
  int secId = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
  if (secId < 0) throw Napi::Error::New(env, "no .rodata DATASEC in the object's BTF");
  const struct btf_type* sec = btf__type_by_id(btf, secId);
  const struct btf_var_secinfo* vars = btf_var_secinfos(sec);
  for (uint16_t i = 0; i < btf_vlen(sec); i++) {
    const struct btf_type* var = btf__type_by_id(btf, vars[i].type);
    if (name != btf__name_by_offset(btf, var->name_off)) continue;
    if (vars[i].size != bytes.Length()) {
      throw Napi::Error::New(env, "global '" + name + "' has " + std::to_string(vars[i].size) + " bytes, not " +
                                      std::to_string(bytes.Length()));
    }
    size_t size = 0;
    const void* initial = bpf_map__initial_value(rodata, &size);
    if (initial == nullptr || vars[i].offset + vars[i].size > size) {
      throw Napi::Error::New(env, "cannot read the initial value of .rodata");
    }
    std::vector<uint8_t> data(static_cast<const uint8_t*>(initial), static_cast<const uint8_t*>(initial) + size);
    memcpy(data.data() + vars[i].offset, bytes.Data(), bytes.Length());
    int err = bpf_map__set_initial_value(rodata, data.data(), data.size());
    if (err) throw ErrnoError(env, err, "cannot set global '" + name + "'");
    return;
  }
  throw Napi::Error::New(env, "no global '" + name + "' in .rodata");
}

void BpfObject::SetMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_map* map = Map(env, info[0]);
  if (loaded_) throw Napi::Error::New(env, "map sizes must be set before load");
  int err = bpf_map__set_max_entries(map, info[1].As<Napi::Number>().Uint32Value());
  if (err) throw ErrnoError(env, err, std::string("cannot size map '") + bpf_map__name(map) + "'");
}

// load(): on failure the Error carries `program` (the one the verifier rejected) and `log`.
void BpfObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw Napi::Error::New(env, "the BPF object is closed");
  if (loaded_) throw Napi::Error::New(env, "the BPF object is already loaded");
  LibbpfLogCapture log;
  // The verifier gives up with EAGAIN when a signal is pending (a profiler's SIGPROF, a child's
  // SIGCHLD), and libbpf's retries can all meet the next one: signals wait until the load is done.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  int err = bpf_object__load(obj_);
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (err) {
    std::string program, detail;
    ExplainLoadFailure(log.text(), &program, &detail);
    std::string what = program.empty() ? "cannot load the BPF object" : "the kernel rejected BPF program '" + program + "'";
    Napi::Error e = ErrnoError(env, err, what, detail);
    if (!program.empty()) e.Set("program", program);
    throw e;
  }
  loaded_ = true;
}

Napi::Value BpfObject::KeepLink(Napi::Env env, struct bpf_link* link, const std::string& what,
                                const LibbpfLogCapture& log) {
  if (link == nullptr) {
    int err = errno;
    throw ErrnoError(env, err, what, LastLines(log.text(), 10));
  }
  links_.push_back(link);
  return Napi::Number::New(env, static_cast<double>(links_.size()));
}

// attachTracepoint(prog, category, name)
Napi::Value BpfObject::AttachTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_program* prog = Program(env, info[0]);
  std::string cat = Str(info[1]), name = Str(info[2]);
  LibbpfLogCapture log;
  return KeepLink(env, bpf_program__attach_tracepoint(prog, cat.c_str(), name.c_str()),
                  "cannot attach to tracepoint:" + cat + ":" + name, log);
}

// attachRawTracepoint(prog, name)
Napi::Value BpfObject::AttachRawTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_program* prog = Program(env, info[0]);
  std::string name = Str(info[1]);
  LibbpfLogCapture log;
  return KeepLink(env, bpf_program__attach_raw_tracepoint(prog, name.c_str()),
                  "cannot attach to rawtracepoint:" + name, log);
}

// attachUprobe(prog, retprobe, binary, offset, pid): pid -1 for every process.
Napi::Value BpfObject::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_program* prog = Program(env, info[0]);
  bool ret = info[1].As<Napi::Boolean>().Value();
  std::string binary = Str(info[2]);
  size_t offset = static_cast<size_t>(info[3].As<Napi::Number>().Int64Value());
  pid_t pid = info[4].As<Napi::Number>().Int32Value();
  LibbpfLogCapture log;
  return KeepLink(env, bpf_program__attach_uprobe(prog, ret, pid, binary.c_str(), offset),
                  std::string("cannot attach ") + (ret ? "uretprobe" : "uprobe") + " to " + binary + " at offset " +
                      std::to_string(offset), log);
}

// attachUsdt(prog, binary, provider, name, pid)
Napi::Value BpfObject::AttachUsdt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_program* prog = Program(env, info[0]);
  std::string binary = Str(info[1]), provider = Str(info[2]), name = Str(info[3]);
  pid_t pid = info[4].As<Napi::Number>().Int32Value();
  LibbpfLogCapture log;
  return KeepLink(env, bpf_program__attach_usdt(prog, pid, binary.c_str(), provider.c_str(), name.c_str(), nullptr),
                  "cannot attach to usdt:" + binary + ":" + provider + ":" + name, log);
}

// attachPerfEvent(prog, type, config, sample, freq, cpu, pid[, {addr, len, type}]): opens one perf event
// (a hardware breakpoint when the last argument is given) and attaches to it.
Napi::Value BpfObject::AttachPerfEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_program* prog = Program(env, info[0]);
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = info[1].As<Napi::Number>().Uint32Value();
  attr.config = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  uint64_t sample = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
  if (info[4].As<Napi::Boolean>().Value()) {
    attr.freq = 1;
    attr.sample_freq = sample;
  } else {
    attr.sample_period = sample;
  }
  int cpu = info[5].As<Napi::Number>().Int32Value();
  int pid = info[6].As<Napi::Number>().Int32Value();
  if (info.Length() > 7 && info[7].IsObject()) {
    // A hardware breakpoint (PERF_TYPE_BREAKPOINT): the address is a BigInt, kernel addresses
    // being above 2^53.
    Napi::Object bp = info[7].As<Napi::Object>();
    bool lossless = true;
    attr.bp_addr = bp.Get("addr").As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::TypeError::New(env, "breakpoint address out of range");
    attr.bp_len = static_cast<uint64_t>(bp.Get("len").As<Napi::Number>().Int64Value());
    attr.bp_type = bp.Get("type").As<Napi::Number>().Uint32Value();
  }
  int fd = static_cast<int>(syscall(__NR_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
  std::string what = "cannot open perf event (type " + std::to_string(attr.type) + ", config " +
                     std::to_string(attr.config) + ") on cpu " + std::to_string(cpu);
  if (fd < 0) {
    int err = errno;
    throw ErrnoError(env, err, what);
  }
  LibbpfLogCapture log;
  struct bpf_link* link = bpf_program__attach_perf_event(prog, fd);
  if (link == nullptr) {
    int err = errno;
    close(fd);
    throw ErrnoError(env, err, what);
  }
  // The link owns the perf event fd from here and closes it when destroyed.
  return KeepLink(env, link, what, log);
}

// attachKprobe(prog, retprobe, func, offset)
Napi::Value BpfObject::AttachKprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_program* prog = Program(env, info[0]);
  bool ret = info[1].As<Napi::Boolean>().Value();
  std::string func = Str(info[2]);
  LIBBPF_OPTS(bpf_kprobe_opts, opts, .offset = static_cast<size_t>(info[3].As<Napi::Number>().Int64Value()),
              .retprobe = ret);
  LibbpfLogCapture log;
  return KeepLink(env, bpf_program__attach_kprobe_opts(prog, func.c_str(), &opts),
                  std::string("cannot attach ") + (ret ? "kretprobe" : "kprobe") + " to " + func, log);
}

// attachTrace(prog): fentry/fexit, whose target was fixed at load from the section name.
Napi::Value BpfObject::AttachTrace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_program* prog = Program(env, info[0]);
  LibbpfLogCapture log;
  return KeepLink(env, bpf_program__attach_trace(prog),
                  std::string("cannot attach ") + bpf_program__section_name(prog), log);
}

// testRun(prog): runs a program once (BEGIN/END raw_tp programs) and returns its return value.
Napi::Value BpfObject::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_program* prog = Program(env, info[0]);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
  if (err) throw ErrnoError(env, err, std::string("cannot run program '") + bpf_program__name(prog) + "'");
  return Napi::Number::New(env, opts.retval);
}

Napi::Value BpfObject::LinkCount(const Napi::CallbackInfo& info) {
  size_t n = 0;
  for (struct bpf_link* link : links_) n += link != nullptr;
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// detachLink(id): destroys the link an attach call returned; ids stay valid, a second call does nothing.
void BpfObject::DetachLink(const Napi::CallbackInfo& info) {
  int64_t id = info[0].As<Napi::Number>().Int64Value();
  if (id < 1 || static_cast<size_t>(id) > links_.size()) throw Napi::RangeError::New(info.Env(), "no such link");
  struct bpf_link*& link = links_[static_cast<size_t>(id) - 1];
  if (link != nullptr) bpf_link__destroy(link);
  link = nullptr;
}

void BpfObject::DestroyLinks() {
  if (releaseAtExit && !links_.empty()) {
    std::vector<int> fds;
    for (struct bpf_link* link : links_) {
      if (link == nullptr) continue;
      int fd = bpf_link__fd(link);
      if (SlowToRelease(fd)) fds.push_back(fd);
    }
    // Handed over, our closes below are not the last ones and return at once.
    if (!fds.empty()) HandToReaper(fds);
  }
  for (struct bpf_link* link : links_)
    if (link != nullptr) bpf_link__destroy(link);
  links_.clear();
}

void BpfObject::Detach(const Napi::CallbackInfo&) { DestroyLinks(); }

void BpfObject::CloseAll(bool finalizing) {
  StopRing(finalizing);
  DestroyLinks();
  if (obj_ != nullptr) {
    bpf_object__close(obj_);
    obj_ = nullptr;
  }
  elf_.clear();
  elf_.shrink_to_fit();
}

void BpfObject::Close(const Napi::CallbackInfo&) { CloseAll(false); }

// reuseMapFd(map, fd): before load, makes the map the kernel map behind fd (libbpf dups the fd), so
// that several objects share one map. libbpf does not compare the two maps' shapes: the caller must.
void BpfObject::ReuseMapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_map* map = Map(env, info[0]);
  if (loaded_) throw Napi::Error::New(env, "maps must be shared before load");
  int err = bpf_map__reuse_fd(map, info[1].As<Napi::Number>().Int32Value());
  if (err) throw ErrnoError(env, err, std::string("cannot share map '") + bpf_map__name(map) + "'");
}

// setAutoload(prog, load): before load, whether load() loads the program at all.
void BpfObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_program* prog = Program(env, info[0]);
  if (loaded_) throw Napi::Error::New(env, "autoload must be set before load");
  int err = bpf_program__set_autoload(prog, info[1].As<Napi::Boolean>().Value());
  if (err) throw ErrnoError(env, err, std::string("cannot set autoload of '") + bpf_program__name(prog) + "'");
}

// mapFd(map): the fd of a loaded map, owned by this object (valid until close).
Napi::Value BpfObject::MapFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  return Napi::Number::New(env, bpf_map__fd(Map(env, info[0])));
}

}  // namespace kt
