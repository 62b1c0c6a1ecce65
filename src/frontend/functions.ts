// The functions a script can call, with the signatures quoted in messages.

export const FUNCTION_SIGNATURES: Record<string, string> = {
  printf: 'printf(fmt, ...)',
  print: 'print(@map[, top[, div]]) or print(value)',
  time: 'time([fmt])',
  str: 'str(ptr[, length])',
  buf: 'buf(ptr, length)',
  join: 'join(argv[, separator])',
  ksym: 'ksym(addr)',
  usym: 'usym(addr)',
  ntop: 'ntop([af, ]addr)',
  pton: 'pton("address")',
  strncmp: 'strncmp(s1, s2, length)',
  strcontains: 'strcontains(haystack, needle)',
  exit: 'exit([code])',
  cat: 'cat(fmt, ...)',
  debugf: 'debugf(fmt, ...)',
  signal: 'signal(sig)',
  unwatch: 'unwatch(addr)',
  system: 'system(fmt, ...)',
  kaddr: 'kaddr("symbol")',
  uaddr: 'uaddr("symbol")',
  cgroupid: 'cgroupid("/sys/fs/cgroup/path")',
  cgroup_path: 'cgroup_path(id[, "filter"])',
  sizeof: 'sizeof(type or expression)',
  macaddr: 'macaddr(addr)',
  strerror: 'strerror(errno)',
  bswap: 'bswap(n)',
  uptr: 'uptr(addr)',
  kptr: 'kptr(addr)',
  strftime: 'strftime(fmt, nsecs)',
  reg: 'reg("name")',
  kstack: 'kstack([limit])',
  ustack: 'ustack([limit])',
  count: '@map = count()',
  sum: '@map = sum(value)',
  avg: '@map = avg(value)',
  min: '@map = min(value)',
  max: '@map = max(value)',
  stats: '@map = stats(value)',
  hist: '@map = hist(value)',
  lhist: '@map = lhist(value, min, max, step)',
  delete: 'delete(@map[key])',
  clear: 'clear(@map)',
  zero: 'zero(@map)',
  has_key: 'has_key(@map, key)',
};

/** bpftrace functions kafkatrace does not have, and why: a script that calls one gets this, not "unknown". */
export const MISSING_FUNCTIONS: Record<string, string> = {
  override: 'override() is not supported (it needs kprobes and CONFIG_BPF_KPROBE_OVERRIDE)',
};

/** Aggregations: only valid as the value assigned to a map. */
export const MAP_FUNCTIONS = new Set(['count', 'sum', 'avg', 'min', 'max', 'stats', 'hist', 'lhist']);
