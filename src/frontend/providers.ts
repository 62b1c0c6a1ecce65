// Probe providers, their aliases, and the perf events software/hardware probes accept.

export type Provider =
  | 'BEGIN'
  | 'END'
  | 'tracepoint'
  | 'rawtracepoint'
  | 'uprobe'
  | 'uretprobe'
  | 'usdt'
  | 'profile'
  | 'interval'
  | 'software'
  | 'hardware'
  | 'kprobe'
  | 'kretprobe'
  | 'fentry'
  | 'fexit'
  | 'watchpoint'
  | 'asyncwatchpoint'
  | 'kafka';

export const PROVIDER_ALIASES: Record<string, Provider> = {
  BEGIN: 'BEGIN',
  END: 'END',
  tracepoint: 'tracepoint',
  t: 'tracepoint',
  rawtracepoint: 'rawtracepoint',
  rt: 'rawtracepoint',
  uprobe: 'uprobe',
  u: 'uprobe',
  uretprobe: 'uretprobe',
  ur: 'uretprobe',
  usdt: 'usdt',
  U: 'usdt',
  profile: 'profile',
  p: 'profile',
  interval: 'interval',
  i: 'interval',
  software: 'software',
  s: 'software',
  hardware: 'hardware',
  h: 'hardware',
  kprobe: 'kprobe',
  k: 'kprobe',
  kretprobe: 'kretprobe',
  kr: 'kretprobe',
  fentry: 'fentry',
  f: 'fentry',
  fexit: 'fexit',
  fr: 'fexit',
  watchpoint: 'watchpoint',
  w: 'watchpoint',
  asyncwatchpoint: 'asyncwatchpoint',
  aw: 'asyncwatchpoint',
  kafka: 'kafka',
};

/** Full provider names, for suggestions (aliases are too short to suggest usefully). */
export const PROVIDER_NAMES = [...new Set(Object.values(PROVIDER_ALIASES))];

/** Software events: canonical name, aliases, and bpftrace's default sampling period. */
export const SOFTWARE_EVENTS: { name: string; aliases: string[]; period: number }[] = [
  { name: 'cpu-clock', aliases: ['cpu'], period: 1_000_000 },
  { name: 'task-clock', aliases: [], period: 1_000_000 },
  { name: 'page-faults', aliases: ['faults'], period: 100 },
  { name: 'context-switches', aliases: ['cs'], period: 1000 },
  { name: 'cpu-migrations', aliases: [], period: 1 },
  { name: 'minor-faults', aliases: [], period: 100 },
  { name: 'major-faults', aliases: [], period: 1 },
  { name: 'alignment-faults', aliases: [], period: 1 },
  { name: 'emulation-faults', aliases: [], period: 1 },
  { name: 'dummy', aliases: [], period: 1 },
  { name: 'bpf-output', aliases: [], period: 1 },
];

export const HARDWARE_EVENTS: { name: string; aliases: string[]; period: number }[] = [
  { name: 'cpu-cycles', aliases: ['cycles'], period: 1_000_000 },
  { name: 'instructions', aliases: [], period: 1_000_000 },
  { name: 'cache-references', aliases: [], period: 1_000_000 },
  { name: 'cache-misses', aliases: [], period: 1_000_000 },
  { name: 'branch-instructions', aliases: ['branches'], period: 100_000 },
  { name: 'branch-misses', aliases: [], period: 100_000 },
  { name: 'bus-cycles', aliases: [], period: 100_000 },
  { name: 'frontend-stalls', aliases: [], period: 1_000_000 },
  { name: 'backend-stalls', aliases: [], period: 1_000_000 },
  { name: 'ref-cycles', aliases: [], period: 1_000_000 },
];
