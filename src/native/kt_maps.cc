// Reading and writing the object's maps from user space. Values of per-CPU maps come back as one
// Buffer per possible CPU; the kernel lays them out 8-byte aligned, one after another.
#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include "kt_errors.h"
#include "kt_object.h"

namespace kt {

namespace {

struct Shape {
  int fd;
  uint32_t keySize;
  uint32_t valueSize;
  bool perCpu;
  bool array;
  uint32_t cpus;
  size_t stride;      // bytes between two CPUs' values
  size_t valueBytes;  // bytes of one lookup's value buffer
};

Shape ShapeOf(struct bpf_map* map) {
  enum bpf_map_type t = bpf_map__type(map);
  Shape s{};
  s.fd = bpf_map__fd(map);
  s.keySize = bpf_map__key_size(map);
  s.valueSize = bpf_map__value_size(map);
  s.perCpu = t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
             t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
  s.array = t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY;
  s.cpus = s.perCpu ? static_cast<uint32_t>(libbpf_num_possible_cpus()) : 1;
  s.stride = s.perCpu ? (s.valueSize + 7) / 8 * 8 : s.valueSize;
  s.valueBytes = s.stride * s.cpus;
  return s;
}

bool Batchable(enum bpf_map_type t) {
  switch (t) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
      return true;
    default:
      return false;
  }
}

Napi::Array Values(Napi::Env env, const Shape& s, const uint8_t* data) {
  Napi::Array out = Napi::Array::New(env, s.cpus);
  for (uint32_t cpu = 0; cpu < s.cpus; cpu++) {
    out.Set(cpu, Napi::Buffer<uint8_t>::Copy(env, data + cpu * s.stride, s.valueSize));
  }
  return out;
}

Napi::Object Entry(Napi::Env env, const Shape& s, const uint8_t* key, const uint8_t* value) {
  Napi::Object e = Napi::Object::New(env);
  e.Set("key", Napi::Buffer<uint8_t>::Copy(env, key, s.keySize));
  e.Set("values", Values(env, s, value));
  return e;
}

const uint8_t* KeyBytes(Napi::Env env, const Shape& s, const Napi::Value& v) {
  if (!v.IsBuffer()) throw Napi::TypeError::New(env, "a map key must be a Buffer");
  auto key = v.As<Napi::Buffer<uint8_t>>();
  if (key.Length() != s.keySize) {
    throw Napi::RangeError::New(env, "map key has " + std::to_string(key.Length()) + " bytes, the map's keys have " +
                                         std::to_string(s.keySize));
  }
  return key.Data();
}

// Walks a map one key at a time, for map types without batch operations.
void DumpByKeys(Napi::Env env, const Shape& s, const std::string& name, Napi::Array& out) {
  std::vector<uint8_t> key(s.keySize), next(s.keySize), value(s.valueBytes);
  const void* prev = nullptr;
  while (bpf_map_get_next_key(s.fd, prev, next.data()) == 0) {
    if (bpf_map_lookup_elem(s.fd, next.data(), value.data()) == 0) {
      out.Set(out.Length(), Entry(env, s, next.data(), value.data()));
    } else if (errno != ENOENT) {
      throw ErrnoError(env, errno, "cannot read map '" + name + "'");
    }
    key.swap(next);
    prev = key.data();
  }
  if (errno != ENOENT) throw ErrnoError(env, errno, "cannot walk map '" + name + "'");
}

// Returns false when the kernel does not support batch lookups on this map (nothing was added).
bool DumpBatched(Napi::Env env, const Shape& s, const std::string& name, Napi::Array& out) {
  uint32_t chunk = 256;
  size_t tokenSize = std::max<size_t>(s.keySize, 8);
  std::vector<uint8_t> in(tokenSize), next(tokenSize), keys, values;
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    keys.resize(static_cast<size_t>(chunk) * s.keySize);
    values.resize(static_cast<size_t>(chunk) * s.valueBytes);
    uint32_t count = chunk;
    int err = bpf_map_lookup_batch(s.fd, first ? nullptr : in.data(), next.data(), keys.data(), values.data(), &count,
                                   &opts);
    int e = err ? errno : 0;
    if (e == ENOSPC && count == 0) {
      // One hash bucket holds more entries than fit: retry the same position with room for more.
      chunk *= 2;
      continue;
    }
    if (e != 0 && e != ENOENT) {
      if (first && (e == EINVAL || e == EOPNOTSUPP || e == 524)) return false;
      throw ErrnoError(env, e, "cannot read map '" + name + "'");
    }
    for (uint32_t i = 0; i < count; i++) {
      out.Set(out.Length(), Entry(env, s, keys.data() + static_cast<size_t>(i) * s.keySize,
                                  values.data() + static_cast<size_t>(i) * s.valueBytes));
    }
    if (e == ENOENT) return true;
    in.swap(next);
    first = false;
  }
}

}  // namespace

// mapDump(name): [{ key: Buffer, values: Buffer[] }]
Napi::Value BpfObject::MapDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_map* map = Map(env, info[0]);
  Shape s = ShapeOf(map);
  std::string name = bpf_map__name(map);
  Napi::Array out = Napi::Array::New(env);
  if (!Batchable(bpf_map__type(map)) || !DumpBatched(env, s, name, out)) DumpByKeys(env, s, name, out);
  return out;
}

// mapLookup(name, key): Buffer[] (one per CPU for per-CPU maps), or null when the key is absent.
Napi::Value BpfObject::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_map* map = Map(env, info[0]);
  Shape s = ShapeOf(map);
  const uint8_t* key = KeyBytes(env, s, info[1]);
  std::vector<uint8_t> value(s.valueBytes);
  if (bpf_map_lookup_elem(s.fd, key, value.data()) != 0) {
    if (errno == ENOENT) return env.Null();
    throw ErrnoError(env, errno, std::string("cannot look up in map '") + bpf_map__name(map) + "'");
  }
  return Values(env, s, value.data());
}

// mapUpdate(name, key, values): values holds one Buffer, or one per CPU for per-CPU maps (a single
// Buffer then sets CPU 0 and zeroes the others).
void BpfObject::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_map* map = Map(env, info[0]);
  Shape s = ShapeOf(map);
  const uint8_t* key = KeyBytes(env, s, info[1]);
  Napi::Array values = info[2].As<Napi::Array>();
  if (values.Length() != 1 && values.Length() != s.cpus) {
    throw Napi::RangeError::New(env, "mapUpdate needs 1 or " + std::to_string(s.cpus) + " values");
  }
  std::vector<uint8_t> value(s.valueBytes, 0);
  for (uint32_t cpu = 0; cpu < values.Length(); cpu++) {
    auto v = values.Get(cpu).As<Napi::Buffer<uint8_t>>();
    if (v.Length() != s.valueSize) {
      throw Napi::RangeError::New(env, "map value has " + std::to_string(v.Length()) + " bytes, the map's values have " +
                                           std::to_string(s.valueSize));
    }
    memcpy(value.data() + cpu * s.stride, v.Data(), v.Length());
  }
  if (bpf_map_update_elem(s.fd, key, value.data(), BPF_ANY) != 0) {
    throw ErrnoError(env, errno, std::string("cannot update map '") + bpf_map__name(map) + "'");
  }
}

// mapDelete(name, key): whether the key was there.
Napi::Value BpfObject::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_map* map = Map(env, info[0]);
  Shape s = ShapeOf(map);
  const uint8_t* key = KeyBytes(env, s, info[1]);
  if (bpf_map_delete_elem(s.fd, key) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    throw ErrnoError(env, errno, std::string("cannot delete from map '") + bpf_map__name(map) + "'");
  }
  return Napi::Boolean::New(env, true);
}

namespace {

std::vector<std::vector<uint8_t>> AllKeys(Napi::Env env, const Shape& s, const std::string& name) {
  std::vector<std::vector<uint8_t>> keys;
  std::vector<uint8_t> next(s.keySize);
  const void* prev = nullptr;
  while (bpf_map_get_next_key(s.fd, prev, next.data()) == 0) {
    keys.push_back(next);
    prev = keys.back().data();
  }
  if (errno != ENOENT) throw ErrnoError(env, errno, "cannot walk map '" + name + "'");
  return keys;
}

void ZeroKeys(Napi::Env env, const Shape& s, const std::string& name, const std::vector<std::vector<uint8_t>>& keys) {
  std::vector<uint8_t> zero(s.valueBytes, 0);
  for (const auto& key : keys) {
    // BPF_EXIST: an entry deleted meanwhile by the program stays deleted.
    if (bpf_map_update_elem(s.fd, key.data(), zero.data(), s.array ? BPF_ANY : BPF_EXIST) != 0 && errno != ENOENT) {
      throw ErrnoError(env, errno, "cannot zero map '" + name + "'");
    }
  }
}

}  // namespace

// mapClear(name): removes every entry (array maps, whose entries cannot be removed, are zeroed).
void BpfObject::MapClear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_map* map = Map(env, info[0]);
  Shape s = ShapeOf(map);
  std::string name = bpf_map__name(map);
  auto keys = AllKeys(env, s, name);
  if (s.array) {
    ZeroKeys(env, s, name, keys);
    return;
  }
  for (const auto& key : keys) {
    if (bpf_map_delete_elem(s.fd, key.data()) != 0 && errno != ENOENT) {
      throw ErrnoError(env, errno, "cannot clear map '" + name + "'");
    }
  }
}

// mapZero(name): keeps every key and sets its value (every CPU's) to zero bytes.
void BpfObject::MapZero(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  struct bpf_map* map = Map(env, info[0]);
  Shape s = ShapeOf(map);
  std::string name = bpf_map__name(map);
  ZeroKeys(env, s, name, AllKeys(env, s, name));
}

}  // namespace kt
