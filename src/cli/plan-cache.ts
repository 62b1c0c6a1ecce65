// A cache of whole compilations: script text (and what else shapes its plan) → plan and BPF object.
// A hit skips the front end, code generation and clang altogether, so that a script run a second time
// starts as fast as the runtime can load it. Entries name the files they depend on (uprobe binaries)
// and are ignored when those change, or when the working directory or PATH that found them has
// changed, or when a value the front end read from the machine and baked into the plan (kaddr(),
// cgroupid()) reads otherwise now: a reboot moves kernel symbols, a recreated cgroup has another id.
// kafkatrace's own code, templates and catalogue and the kernel (with its modules) are part of the key. Entries are
// read only from a cache that no other user can write (cache-dir.ts), and what they say is never a
// privilege: whether system() and signal() may run is the command line's to say (trace.ts).
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release, version } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTrusted, trustedCacheDir } from '../cache-dir.js';
import type { Call } from '../frontend/ast.js';
import { traceeBinary } from '../frontend/attach.js';
import { realSystem, type SystemInfo } from '../frontend/system.js';
import { packageRoot } from '../package-root.js';
import { planFromJson, planToJson } from '../plan/json.js';
import type { Plan } from '../plan/types.js';

export interface CachedCompilation {
  plan: Plan;
  object?: Buffer;
}

interface Dependency {
  path: string;
  size: number;
  mtimeMs: number;
}

/** A value the front end read from this machine and baked into the plan; uaddr()'s binary is a Dependency. */
export interface HostFact {
  fn: 'kaddr' | 'cgroupid';
  name: string;
  /** The value, as a decimal string (JSON has no bigint). */
  value: string;
}

interface Entry {
  plan: string;
  /** The object's file name in the object cache (the cache directory itself). */
  object?: string;
  deps: Dependency[];
  /** Where deps were looked up (`uprobe:bash:...` searches PATH, `uprobe:./a.out:...` the working directory). */
  where?: string;
  host?: HostFact[];
}

/** The kaddr() and cgroupid() values of an analysis (Analysis.hostValues), as an entry keeps them. */
export function hostFacts(values: Map<Call, bigint>): HostFact[] {
  const facts: HostFact[] = [];
  for (const [c, value] of values) {
    const a = c.args[0];
    if ((c.name === 'kaddr' || c.name === 'cgroupid') && a?.kind === 'str') facts.push({ fn: c.name, name: a.value, value: value.toString() });
  }
  return facts;
}

function hostValueNow(f: HostFact, system: SystemInfo): bigint | undefined {
  if (f.fn === 'cgroupid') {
    const id = system.cgroupId(f.name);
    return id.ok ? id.value : undefined;
  }
  const symbols = system.kernelSymbols();
  return symbols.ok ? symbols.value.get(f.name) : undefined;
}

function lookedUpFrom(): string {
  return JSON.stringify([process.cwd(), process.env['PATH'] ?? '']);
}

function stamp(path: string): string {
  try {
    const s = statSync(path);
    return `${path}:${s.size}:${s.mtimeMs}`;
  } catch {
    return `${path}:missing`;
  }
}

function stampsIn(dir: string): string[] {
  try {
    return readdirSync(dir).sort().map((f) => stamp(join(dir, f)));
  } catch {
    return [];
  }
}

/** What kafkatrace itself is made of: its version, its code (every chunk of the bundle), its templates and its kafka catalogue. */
function codeIdentity(): string[] {
  const root = packageRoot();
  return [
    stamp(fileURLToPath(import.meta.url)),
    stamp(join(root, 'package.json')),
    ...stampsIn(join(root, 'dist', 'bundle')),
    stamp(join(root, 'stdlib', 'kafka-probes.json')),
    ...stampsIn(join(root, 'bpf-templates')),
  ];
}

/**
 * The kernel a plan was made for: its build, and its loaded modules, whose tracepoints and functions
 * a wildcard probe may match.
 */
export function kernelIdentity(): string {
  let modules = '';
  try {
    modules = readFileSync('/proc/modules', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[0])
      .sort()
      .join(' ');
  } catch {
    // No /proc/modules: a kernel without modules.
  }
  return JSON.stringify([release(), version(), modules]);
}

export function compilationKey(
  text: string,
  file: string,
  positional: string[],
  unsafe: boolean,
  kernel = kernelIdentity(),
  child = false,
  helperChecks = 0,
  target: { root?: string; traced?: boolean; includes?: string[] } = {},
): string {
  // With -c a script may read cpid, which is an error without it; -k adds checks to the object;
  // --include adds C; a -p target's mount namespace (its /proc/PID/root) is where uprobe binaries
  // resolve; a watchpoint on a function argument needs -c or -p (traced), and lookupCompilation
  // checks its binary.
  const { root: targetRoot, traced, includes = [] } = target;
  return createHash('sha256')
    .update(
      JSON.stringify({
        text,
        file,
        positional,
        unsafe,
        kernel,
        code: codeIdentity(),
        ...(child ? { child } : {}),
        ...(helperChecks ? { helperChecks } : {}),
        ...(targetRoot ? { targetRoot } : {}),
        ...(traced ? { traced } : {}),
        ...(includes.length ? { includes } : {}),
      }),
    )
    .digest('hex');
}

function dependencyOf(path: string): Dependency | undefined {
  try {
    const s = statSync(path);
    return { path, size: s.size, mtimeMs: s.mtimeMs };
  } catch {
    return undefined;
  }
}

/** Binaries the plan's uprobes, usdt probes and watchpoints resolved symbols in: their offsets change with them. */
function planDependencies(plan: Plan): Dependency[] {
  const paths = new Set<string>();
  for (const p of plan.probes) {
    for (const prog of p.programs) {
      for (const a of prog.attach) if (a.type === 'uprobe' || a.type === 'uretprobe' || a.type === 'usdt' || a.type === 'argwatchpoint') paths.add(a.binary);
    }
  }
  return [...paths].map(dependencyOf).filter((d): d is Dependency => d !== undefined);
}

/** Whether the plan's watchpoints on function arguments are on the program traced now (-c, -p). */
function sameTracee(plan: Plan, tracee: string | undefined, system: SystemInfo): boolean {
  const watched = plan.probes.flatMap((p) => p.programs.flatMap((prog) => prog.attach.flatMap((a) => (a.type === 'argwatchpoint' ? [a.binary] : []))));
  if (watched.length === 0) return true;
  const now = tracee === undefined ? undefined : traceeBinary(tracee, system);
  return watched.every((b) => b === now);
}

/** `tracee`: the traced program (-c's, /proc/PID/exe for -p), whose functions argument watchpoints name. */
export function lookupCompilation(key: string, system: SystemInfo = realSystem(), tracee?: string): CachedCompilation | undefined {
  const dir = trustedCacheDir('plans');
  const bytes = dir !== undefined ? readTrusted(join(dir, `${key}.json`)) : undefined;
  if (!bytes) return undefined;
  try {
    const entry = JSON.parse(bytes.toString('utf8')) as Entry;
    if (entry.deps.length > 0 && entry.where !== lookedUpFrom()) return undefined;
    for (const d of entry.deps) {
      const now = dependencyOf(d.path);
      if (!now || now.size !== d.size || now.mtimeMs !== d.mtimeMs) return undefined;
    }
    for (const f of entry.host ?? []) if (hostValueNow(f, system)?.toString() !== f.value) return undefined;
    const plan = planFromJson(entry.plan);
    if (!sameTracee(plan, tracee, system)) return undefined;
    if (entry.object === undefined) return { plan };
    const objects = trustedCacheDir();
    const object = objects !== undefined ? readTrusted(join(objects, basename(entry.object))) : undefined;
    return object ? { plan, object } : undefined;
  } catch {
    return undefined;
  }
}

/** Records a compilation; `objectPath` is where the object cache keeps its object. Best effort. */
export function storeCompilation(key: string, plan: Plan, objectPath: string | undefined, host: HostFact[] = []): void {
  const dir = trustedCacheDir('plans');
  if (dir === undefined) return;
  const file = join(dir, `${key}.json`);
  const deps = planDependencies(plan);
  const entry: Entry = { plan: planToJson(plan), object: objectPath && basename(objectPath), deps, where: deps.length > 0 ? lookedUpFrom() : undefined, host: host.length > 0 ? host : undefined };
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(entry), { flag: 'wx', mode: 0o644 });
    renameSync(tmp, file);
  } catch {
    // A read-only or full cache directory only costs the next run a compile.
    rmSync(tmp, { force: true });
  }
}
