// `--info`: what this kernel supports of what kafkatrace uses, in bpftrace's --info layout (its
// runtime tests read `NAME: yes` lines from it to decide which cases to run). Every answer comes
// from the kernel: libbpf's probes, a program loaded to see, or the files that announce a feature.
import { existsSync } from 'node:fs';
import { machine, release, type, version } from 'node:os';
import { loadNative, type KernelFeatures } from '../native/index.js';
import { kprobesAvailable, uprobeRefcountAvailable } from './attach.js';

export interface InfoFacts {
  os: string;
  arch: string;
  version: string;
  libbpf: string;
  features: KernelFeatures;
  btf: boolean;
  /** The kernel sets USDT semaphores itself (uprobe ref_ctr_offset). */
  uprobeRefcount: boolean;
  kprobes: boolean;
}

const yes = (b: boolean): string => (b ? 'yes' : 'no');

function section(title: string, rows: [string, string][]): string {
  return `${title}\n${rows.map(([k, v]) => `  ${k}: ${v}\n`).join('')}`;
}

export function formatInfo(f: InfoFacts): string {
  const entries = (r: Record<string, boolean>): [string, string][] => Object.entries(r).map(([k, v]) => [k, yes(v)]);
  return [
    section('System', [
      ['OS', f.os],
      ['Arch', f.arch],
    ]),
    section('Build', [
      ['version', f.version],
      ['libbpf', f.libbpf],
      // kafkatrace reads DWARF itself (src/frontend/dwarf.ts); the row keeps bpftrace's name, which its runtime tests look for.
      ['libdw (DWARF support)', 'yes'],
    ]),
    section('Kernel helpers', entries(f.features.helpers)),
    section('Kernel features', [
      ['Loop support', yes(f.features.loops)],
      ['btf', yes(f.btf)],
      ['uprobe refcount', yes(f.uprobeRefcount)],
    ]),
    section('Map types', entries(f.features.maps)),
    section('Probe types', [['kprobe', yes(f.kprobes)], ...entries(f.features.programs)]),
  ].join('\n');
}

export function gatherInfo(kafkatraceVersion: string): InfoFacts {
  const native = loadNative();
  return {
    os: `${type()} ${release()} ${version()}`,
    arch: machine(),
    version: kafkatraceVersion,
    libbpf: native.libbpfVersion(),
    features: native.kernelFeatures(),
    btf: existsSync('/sys/kernel/btf/vmlinux'),
    uprobeRefcount: uprobeRefcountAvailable(),
    kprobes: kprobesAvailable(),
  };
}
