// Shared by the runtime's end-to-end tests: building the fixtures (workload, hand-written BPF
// objects, a bundled session runner for child processes), plans for the fixture object, and checks
// that nothing of ours stays loaded.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KType } from '../../src/frontend/ast.js';
import type { ResolvedAttach } from '../../src/frontend/analysis.js';
import { layoutOf } from '../../src/plan/layout.js';
import type { Plan, PlanEvent, PlanMap } from '../../src/plan/types.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(ROOT, 'build', 'test');
const FIXTURES = join(ROOT, 'test', 'fixtures');

/**
 * Whether this test file can run: root with the addon built. Under CI a missing capability fails the
 * test instead of skipping it; elsewhere the reason is printed and the tests return early.
 */
export function canRun(): boolean {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('not root');
  if (!existsSync(join(ROOT, 'build', 'Release', 'kafkatrace_native.node'))) {
    problems.push('addon not built (node scripts/build-native.mjs)');
  }
  if (problems.length === 0) return true;
  if (process.env.CI === 'true') throw new Error(`runtime e2e tests cannot run: ${problems.join(', ')}`);
  console.log(`skipping runtime e2e tests: ${problems.join(', ')}`);
  return false;
}

function newer(src: string, out: string): boolean {
  return !existsSync(out) || statSync(src).mtimeMs > statSync(out).mtimeMs;
}

function bpfObject(name: string, variant = '', defines: string[] = []): string {
  const src = join(FIXTURES, 'runtime', `${name}.bpf.c`);
  const out = join(OUT, `${name}${variant}.bpf.o`);
  if (newer(src, out)) {
    const args = ['-target', 'bpf', '-O2', '-g', '-D__TARGET_ARCH_x86', '-I/usr/include/x86_64-linux-gnu', ...defines.map((d) => `-D${d}`)];
    execFileSync('clang', [...args, '-c', src, '-o', out]);
  }
  return out;
}

interface Fixtures {
  workload: string;
  probes: Buffer;
  /** probes.bpf.c that sends exit(3) on the 5th getppid. */
  probesExit: Buffer;
  /** probes.bpf.c that sends a `tick 7` record per getppid (to overflow a small ring buffer). */
  probesTick: Buffer;
  /** probesTick submitting with BPF_RB_NO_WAKEUP, as the Kafka capture does: no record wakes the reader. */
  probesQuiet: Buffer;
  fentry: Buffer;
  /** A program the verifier rejects. */
  rejected: Buffer;
  /** Paths of the objects above, for runner configs. */
  paths: { probes: string; probesTick: string };
  /** File offset of kt_workload_target in the workload (a uprobe target). */
  targetOffset: number;
  /** A bundled runSession runner for child processes: node runner.mjs CONFIG_JSON. */
  runner: string;
}

let built: Fixtures | undefined;

export function buildFixtures(): Fixtures {
  if (built) return built;
  mkdirSync(OUT, { recursive: true });
  const src = join(FIXTURES, 'workload', 'workload.c');
  const workload = join(OUT, 'workload');
  if (newer(src, workload)) execFileSync('cc', ['-O1', '-g', '-o', workload, src]);
  const nm = execFileSync('nm', [workload], { encoding: 'utf8' });
  const m = /^([0-9a-f]+) T kt_workload_target$/m.exec(nm);
  if (!m) throw new Error('kt_workload_target not found in the workload');
  const runner = join(OUT, 'runtime-runner.mjs');
  const r = spawnSync(
    join(ROOT, 'node_modules', '.bin', 'rolldown'),
    // One file: the session's lazily imported kafka runtime is inlined.
    [join(ROOT, 'test', 'e2e', 'runtime-runner.ts'), '--platform', 'node', '--format', 'esm', '--no-codeSplitting', '--file', runner],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`bundling the runner failed: ${r.stderr}`);
  built = {
    workload,
    probes: readFileSync(bpfObject('probes')),
    probesExit: readFileSync(bpfObject('probes', '-exit', ['FX_EXIT_AFTER=5', 'FX_EXIT_CODE=3'])),
    probesTick: readFileSync(bpfObject('probes', '-tick', ['FX_EMIT_PER_GETPPID=1'])),
    probesQuiet: readFileSync(bpfObject('probes', '-quiet', ['FX_EMIT_PER_GETPPID=1', 'FX_SUBMIT_FLAGS=BPF_RB_NO_WAKEUP'])),
    fentry: readFileSync(bpfObject('fentry')),
    rejected: readFileSync(bpfObject('rejected')),
    paths: { probes: join(OUT, 'probes.bpf.o'), probesTick: join(OUT, 'probes-tick.bpf.o') },
    // PIE text is mapped at file offset == virtual address, so the symbol value is the file offset.
    targetOffset: parseInt(m[1]!, 16),
    runner,
  };
  return built;
}

const s64: KType = { kind: 'int', bits: 64, signed: true };
const oneInt = layoutOf([s64], 8);

function perCpuMap(name: string, bpfName: string, value: PlanMap['value'], valueSize: number): PlanMap {
  return {
    name,
    bpfName,
    home: 'kernel',
    keyTypes: [],
    keyLayout: { size: 4, fields: [] },
    value,
    valueSize,
    perCpu: true,
    bpfType: 'percpu_hash',
    maxEntries: 1024,
  };
}

/** The maps of probes.bpf.c, by their script names. */
const FIXTURE_MAPS: PlanMap[] = [
  perCpuMap('@calls', 'm_calls', { kind: 'count' }, 8),
  perCpuMap('@bytes', 'm_bytes', { kind: 'sum', signed: false }, 8),
  perCpuMap('@sizes', 'm_sizes', { kind: 'hist' }, 66 * 8),
  perCpuMap('@raw', 'm_raw', { kind: 'count' }, 8),
  perCpuMap('@profile', 'm_profile', { kind: 'count' }, 8),
  perCpuMap('@interval', 'm_interval', { kind: 'count' }, 8),
  perCpuMap('@faults', 'm_faults', { kind: 'count' }, 8),
  perCpuMap('@uprobe', 'm_uprobe', { kind: 'count' }, 8),
  perCpuMap('@uretprobe', 'm_uretprobe', { kind: 'count' }, 8),
  perCpuMap('@usdt', 'm_usdt', { kind: 'count' }, 8),
];

/** The records probes.bpf.c emits. */
export const FIXTURE_EVENTS: PlanEvent[] = [
  { id: 0, kind: 'printf', format: 'begin %d\n', layout: oneInt },
  { id: 1, kind: 'printf', format: 'end %d\n', layout: oneInt },
  { id: 2, kind: 'exit', layout: oneInt },
  { id: 3, kind: 'printf', format: 'tick %d\n', layout: oneInt },
];

/** Which maps each fixture program writes. */
const PROGRAM_MAPS: Record<string, string[]> = {
  ktfx_getppid: ['@calls'],
  ktfx_write: ['@bytes', '@sizes'],
  ktfx_raw: ['@raw'],
  ktfx_profile: ['@profile'],
  ktfx_interval: ['@interval'],
  ktfx_faults: ['@faults'],
  ktfx_uprobe: ['@uprobe'],
  ktfx_uretprobe: ['@uretprobe'],
  ktfx_usdt: ['@usdt'],
};

/**
 * A plan over probes.bpf.c with one probe per entry: [program, attach points]; its maps are those
 * the programs write, as a code generator would list them.
 */
export function fixturePlan(probes: [string, ResolvedAttach[]][], ringbufSize = 1 << 16): Plan {
  return {
    version: 1,
    file: 'fixture.ktr',
    probes: probes.map(([name, attach], index) => ({
      index,
      where: 'kernel',
      programs: [{ name, attach }],
      attach: [],
      text: attach.map((a) => a.type).join(','),
    })),
    maps: FIXTURE_MAPS.filter((m) => probes.some(([name]) => PROGRAM_MAPS[name]?.includes(m.name))),
    events: FIXTURE_EVENTS,
    ringbufSize,
    unsafe: false,
  };
}

export const BEGIN: [string, ResolvedAttach[]] = ['ktfx_begin', [{ type: 'begin' }]];
export const END: [string, ResolvedAttach[]] = ['ktfx_end', [{ type: 'end' }]];
export const GETPPID: [string, ResolvedAttach[]] = [
  'ktfx_getppid',
  [{ type: 'tracepoint', category: 'syscalls', name: 'sys_enter_getppid' }],
];
export const WRITE: [string, ResolvedAttach[]] = [
  'ktfx_write',
  [{ type: 'tracepoint', category: 'syscalls', name: 'sys_enter_write' }],
];

/** Names of loaded BPF programs that start with `prefix` (the fixtures' are ktfx_). */
export function loadedPrograms(prefix = 'ktfx_'): string[] {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { name?: string }[];
  return progs.map((p) => p.name ?? '').filter((n) => n.startsWith(prefix));
}

/**
 * loadedPrograms() once the kernel has caught up: a closed program is freed after an RCU grace
 * period, and a killed process's fds close as it exits, so wait up to 3 s for the list to empty.
 */
export async function loadedProgramsSettled(prefix = 'ktfx_'): Promise<string[]> {
  for (let i = 0; i < 60 && loadedPrograms(prefix).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  return loadedPrograms(prefix);
}

/** Output that collects what would be printed. */
export function collector(): { text: () => string; write: (s: string) => void; errors: string[]; writeError: (s: string) => void } {
  let out = '';
  const errors: string[] = [];
  return { text: () => out, write: (s) => void (out += s), errors, writeError: (s) => void errors.push(s) };
}

/** Whether bpftrace is installed, for the tests that compare with it where it is. */
export function hasBpftrace(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v bpftrace'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
