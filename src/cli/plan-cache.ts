// A cache of whole compilations: script text (and what else shapes its plan) → plan and BPF object.
// A hit skips the front end, code generation and clang altogether, so that a script run a second time
// starts as fast as the runtime can load it. Entries name the files they depend on (uprobe binaries)
// and are ignored when those change; kafkatrace's own code, templates and catalogue are part of the key.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { release, version } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCacheDir } from '../codegen/clang.js';
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

interface Entry {
  plan: string;
  object?: string;
  deps: Dependency[];
}

function cacheDir(): string {
  return join(defaultCacheDir(), 'plans');
}

function stamp(path: string): string {
  try {
    const s = statSync(path);
    return `${path}:${s.size}:${s.mtimeMs}`;
  } catch {
    return `${path}:missing`;
  }
}

/** What kafkatrace itself is made of: its code, its templates and its kafka catalogue. */
function codeIdentity(): string[] {
  const root = packageRoot();
  const templates = join(root, 'bpf-templates');
  return [
    stamp(fileURLToPath(import.meta.url)),
    stamp(join(root, 'stdlib', 'kafka-probes.json')),
    ...readdirSync(templates).sort().map((f) => stamp(join(templates, f))),
  ];
}

export function compilationKey(text: string, file: string, positional: string[], unsafe: boolean): string {
  return createHash('sha256')
    .update(JSON.stringify({ text, file, positional, unsafe, kernel: [release(), version()], code: codeIdentity() }))
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

/** Binaries the plan's uprobes and usdt probes resolved symbols in: their offsets change with them. */
function planDependencies(plan: Plan): Dependency[] {
  const paths = new Set<string>();
  for (const p of plan.probes) {
    for (const prog of p.programs) {
      for (const a of prog.attach) if (a.type === 'uprobe' || a.type === 'uretprobe' || a.type === 'usdt') paths.add(a.binary);
    }
  }
  return [...paths].map(dependencyOf).filter((d): d is Dependency => d !== undefined);
}

export function lookupCompilation(key: string): CachedCompilation | undefined {
  try {
    const entry = JSON.parse(readFileSync(join(cacheDir(), `${key}.json`), 'utf8')) as Entry;
    for (const d of entry.deps) {
      const now = dependencyOf(d.path);
      if (!now || now.size !== d.size || now.mtimeMs !== d.mtimeMs) return undefined;
    }
    return { plan: planFromJson(entry.plan), object: entry.object ? readFileSync(entry.object) : undefined };
  } catch {
    return undefined;
  }
}

/** Records a compilation; `objectPath` is where the object cache keeps its object. Best effort. */
export function storeCompilation(key: string, plan: Plan, objectPath: string | undefined): void {
  const file = join(cacheDir(), `${key}.json`);
  const entry: Entry = { plan: planToJson(plan), object: objectPath, deps: planDependencies(plan) };
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, JSON.stringify(entry));
    renameSync(tmp, file);
  } catch {
    // A read-only or full cache directory only costs the next run a compile.
  }
}
