// --info's layout: bpftrace's runtime test engine reads `NAME: yes` lines of it (Loop support, btf,
// probe_read_kernel, send_signal, ...), so the names and the layout are bpftrace's.
import { describe, expect, it } from 'vitest';
import { formatInfo, type InfoFacts } from '../../src/runtime/info.js';

const facts = (loops: boolean): InfoFacts => ({
  os: 'Linux 6.1.0 #1 SMP',
  arch: 'x86_64',
  version: 'kafkatrace v0.1.0',
  libbpf: 'v1.1',
  features: {
    helpers: { probe_read_kernel: true, send_signal: false },
    maps: { hash: true, perf_event_array: true },
    programs: { tracepoint: true, perf_event: false },
    loops,
  },
  btf: true,
  uprobeRefcount: false,
  kprobes: false,
});

describe('--info', () => {
  it('prints each answer as bpftrace does, in its sections', () => {
    expect(formatInfo(facts(true))).toBe(
      [
        'System\n  OS: Linux 6.1.0 #1 SMP\n  Arch: x86_64\n',
        'Build\n  version: kafkatrace v0.1.0\n  libbpf: v1.1\n  libdw (DWARF support): yes\n',
        'Kernel helpers\n  probe_read_kernel: yes\n  send_signal: no\n',
        'Kernel features\n  Loop support: yes\n  btf: yes\n  uprobe refcount: no\n',
        'Map types\n  hash: yes\n  perf_event_array: yes\n',
        'Probe types\n  kprobe: no\n  tracepoint: yes\n  perf_event: no\n',
      ].join('\n'),
    );
    expect(formatInfo(facts(false))).toContain('\n  Loop support: no\n');
  });
});
