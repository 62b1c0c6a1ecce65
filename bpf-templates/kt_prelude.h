/* The fixed part of every kafkatrace BPF object: headers, the maps and globals the runtime relies on
 * (see the kernel contract), and small helpers. The generated code defines KT_RINGBUF_SIZE,
 * KT_SCRATCH_SIZE and KT_ZERO_SIZE before including this file. */
#ifndef KT_PRELUDE_H
#define KT_PRELUDE_H

#include "kt_system.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the runtime before load: the traced process (0: all) and the start time for `elapsed`. */
const volatile __u32 kt_target_pid = 0;
/* The pid of the -c command (cpid; 0 without one). */
const volatile __u32 kt_child_pid = 0;
const volatile __u64 kt_start_ns = 0;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, KT_RINGBUF_SIZE);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} kt_lost SEC(".maps");

/* 1 once the runtime has stopped the session, before END: bpftrace detaches every probe before END
 * runs, so nothing a probe does from then on may reach the output or the maps. Until then probes run
 * on after an exit(), as bpftrace's do until it detaches them. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} kt_state SEC(".maps");

#define KT_LIVE()                                                                    \
  do {                                                                               \
    __u32 kt_state_key = 0;                                                          \
    __u32 *kt_stopped = bpf_map_lookup_elem(&kt_state, &kt_state_key);               \
    if (!kt_stopped || *kt_stopped)                                                  \
      return 0;                                                                      \
  } while (0)

/* Per-CPU working memory for strings, keys and tuples: the BPF stack has only 512 bytes. */
struct kt_scratch_area {
  __u8 bytes[KT_SCRATCH_SIZE];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct kt_scratch_area);
} kt_scratch SEC(".maps");

/* Zeroes to clear memory and to create map values (hist buckets) without using the stack. */
const volatile __u8 kt_zero[KT_ZERO_SIZE] = {0};

#define KT_FILTER()                                                                  \
  do {                                                                               \
    if (kt_target_pid != 0 && (bpf_get_current_pid_tgid() >> 32) != kt_target_pid)   \
      return 0;                                                                      \
  } while (0)

/* A pointer into the scratch area, computed where it is used: otherwise clang hoists every such
 * address to the function's start and spills them, overflowing the 512-byte stack. */
#define KT_AT(base, off)                \
  ({                                    \
    __u8 *kt_at = (base);               \
    barrier_var(kt_at);                 \
    kt_at + (off);                      \
  })

/* The stack id of kstack(n)/ustack(n): n above the map's own id (src/plan/layout.ts, stackRef). */
static __always_inline __s64 kt_stack_ref(long id, __u64 limit) {
  return id < 0 ? id : (__s64)((__u64)id | (limit << 32));
}

#define KT_CLEAR(p, n) bpf_probe_read_kernel((void *)(p), (n), (const void *)kt_zero)

static __always_inline void kt_count_lost(void)
{
  __u32 zero = 0;
  __u64 *lost = bpf_map_lookup_elem(&kt_lost, &zero);
  if (lost)
    *lost += 1;
}

/* A zeroed ring-buffer record of `size` bytes starting with event `id`, or NULL (counted as lost). */
static __always_inline __u8 *kt_record(__u32 id, __u32 size)
{
  __u8 *r = bpf_ringbuf_reserve(&events, size, 0);
  if (!r) {
    kt_count_lost();
    return 0;
  }
  KT_CLEAR(r, size);
  *(__u32 *)r = id;
  return r;
}

/* A per-CPU map value for `key`, created from zeroes when absent. */
static __always_inline void *kt_lookup_or_init(void *map, const void *key)
{
  void *v = bpf_map_lookup_elem(map, key);
  if (v)
    return v;
  bpf_map_update_elem(map, key, (const void *)kt_zero, BPF_NOEXIST);
  return bpf_map_lookup_elem(map, key);
}

/* Signed division and remainder through unsigned ones: clang 14's BPF backend has no signed
 * division. Like C, the quotient truncates toward zero and the remainder has the dividend's sign. */
static __always_inline __s64 kt_sdiv(__s64 a, __s64 b)
{
  __u64 ua = a < 0 ? -(__u64)a : (__u64)a;
  __u64 ub = b < 0 ? -(__u64)b : (__u64)b;
  __u64 q = ua / ub;
  return (a < 0) != (b < 0) ? -(__s64)q : (__s64)q;
}

static __always_inline __s64 kt_smod(__s64 a, __s64 b)
{
  __u64 ua = a < 0 ? -(__u64)a : (__u64)a;
  __u64 ub = b < 0 ? -(__u64)b : (__u64)b;
  __u64 r = ua % ub;
  return a < 0 ? -(__s64)r : (__s64)r;
}

/* The bucket of a power-of-two histogram: 0 negative, 1 zero, k + 2 for [2^k, 2^(k+1)). */
static __always_inline __u32 kt_hist_bucket(__s64 value)
{
  if (value < 0)
    return 0;
  if (value == 0)
    return 1;
  __u64 v = (__u64)value;
  __u32 r = 0;
  if (v >> 32) { v >>= 32; r += 32; }
  if (v >> 16) { v >>= 16; r += 16; }
  if (v >> 8) { v >>= 8; r += 8; }
  if (v >> 4) { v >>= 4; r += 4; }
  if (v >> 2) { v >>= 2; r += 2; }
  if (v >> 1) { r += 1; }
  return r + 2;
}

#define KT_MAX_CPUS 4096

/* Reading a per-CPU map in a probe merges the CPUs with bpf_loop, so the verifier checks the loop body
 * once instead of once per CPU. KT_PERCPU_READERS(map) defines the readers of one map:
 * kt_sum_MAP(key, i) sums the u64 at index i over CPUs; kt_minmax_MAP(key, is_min, is_signed) merges
 * per-CPU { s64 value; u64 set }. */
struct kt_percpu_ctx {
  const void *key;
  __u32 index;
  int is_min;
  int is_signed;
  int found;
  __s64 value;
};

#define KT_PERCPU_READERS(map)                                                              \
  static long kt_sum_cb_##map(__u32 cpu, void *arg)                                         \
  {                                                                                         \
    struct kt_percpu_ctx *c = arg;                                                          \
    __s64 *v = bpf_map_lookup_percpu_elem(&map, c->key, cpu);                               \
    if (!v)                                                                                 \
      return 1;                                                                             \
    c->value += v[c->index & 1];                                                            \
    return 0;                                                                               \
  }                                                                                         \
  static long kt_minmax_cb_##map(__u32 cpu, void *arg)                                      \
  {                                                                                         \
    struct kt_percpu_ctx *c = arg;                                                          \
    __s64 *v = bpf_map_lookup_percpu_elem(&map, c->key, cpu);                               \
    if (!v)                                                                                 \
      return 1;                                                                             \
    if (!v[1])                                                                              \
      return 0;                                                                             \
    __s64 x = v[0];                                                                         \
    int better = c->is_signed ? (c->is_min ? x < c->value : x > c->value)                   \
                              : (c->is_min ? (__u64)x < (__u64)c->value : (__u64)x > (__u64)c->value); \
    if (!c->found || better)                                                                \
      c->value = x;                                                                         \
    c->found = 1;                                                                           \
    return 0;                                                                               \
  }                                                                                         \
  static __always_inline __s64 kt_sum_##map(const void *key, __u32 index)                   \
  {                                                                                         \
    struct kt_percpu_ctx c = {.key = key, .index = index};                                  \
    bpf_loop(KT_MAX_CPUS, kt_sum_cb_##map, &c, 0);                                          \
    return c.value;                                                                         \
  }                                                                                         \
  static __always_inline __s64 kt_minmax_##map(const void *key, int is_min, int is_signed)  \
  {                                                                                         \
    struct kt_percpu_ctx c = {.key = key, .is_min = is_min, .is_signed = is_signed};        \
    bpf_loop(KT_MAX_CPUS, kt_minmax_cb_##map, &c, 0);                                       \
    return c.value;                                                                         \
  }

/* Compares two NUL-padded strings over their first n bytes: 0 when equal. */
static __always_inline int kt_strncmp(const __u8 *a, const __u8 *b, __u32 n)
{
  for (__u32 i = 0; i < n; i++) {
    if (a[i] != b[i])
      return 1;
    if (a[i] == 0)
      return 0;
  }
  return 0;
}

/* Whether `needle` (nsize bytes, NUL-padded) occurs in `hay` (hsize bytes). */
static __always_inline int kt_strcontains(const __u8 *hay, __u32 hsize, const __u8 *needle, __u32 nsize)
{
  if (needle[0] == 0)
    return 1;
  for (__u32 i = 0; i < hsize; i++) {
    if (hay[i] == 0)
      return 0;
    __u32 j = 0;
    for (; j < nsize && i + j < hsize; j++) {
      if (needle[j] == 0 || needle[j] != hay[i + j])
        break;
    }
    if (j == nsize || needle[j] == 0)
      return 1;
  }
  return 0;
}

#endif
