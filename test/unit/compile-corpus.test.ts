// Every example, every stdlib tool and every bpftrace one-liner that the front end accepts on this
// machine compiles to a BPF object with the real clang; libbpf opens the objects of the examples and
// stdlib tools and finds every program the plan attaches.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileScript, planScript } from '../../src/compiler.js';
import { frontend } from '../../src/frontend/index.js';
import { realSystem } from '../../src/frontend/system.js';
import { openObject } from '../../src/native/index.js';

const root = join(import.meta.dirname, '..', '..');
const cacheDir = mkdtempSync(join(tmpdir(), 'kt-corpus-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
const env = { positional: [], unsafe: true, system: realSystem() };

function scripts(dir: string): string[] {
  return readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.ktr'))
    .sort()
    .map((f) => join(dir, f));
}

describe('examples and stdlib compile', () => {
  const files = [...scripts('examples'), ...scripts('stdlib')];
  it('finds the scripts', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });
  for (const file of files) {
    it(file, async () => {
      const source = readFileSync(join(root, file), 'utf8');
      const r = await compileScript(source, file, env, { cacheDir });
      expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.loc.line}:${d.loc.col} ${d.message}`)).toEqual([]);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const kernel = r.compiled.plan.probes.some((p) => p.where === 'kernel');
      expect(r.compiled.object !== undefined).toBe(kernel);
      if (!r.compiled.object) return;
      const obj = openObject(r.compiled.object);
      try {
        const planned = r.compiled.plan.probes.flatMap((p) => p.programs.map((prog) => prog.name));
        expect(obj.programNames().sort()).toEqual(expect.arrayContaining(planned.sort()));
      } finally {
        obj.close();
      }
    });
  }
});

describe('bpftrace one-liners compile', () => {
  const lines = readFileSync(join(root, 'test/fixtures/oneliners/bpftrace.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  // The front end decides what this machine supports (missing binaries and symbols, kprobe-only
  // features); everything it accepts must compile.
  const accepted = lines.filter((l) => {
    const fe = frontend(l, '-e', env);
    return fe.analysis !== undefined && !fe.diagnostics.some((d) => d.severity === 'error');
  });

  it('the front end accepts most of them', () => {
    expect(accepted.length).toBeGreaterThan(lines.length * 0.6);
  });

  it('every accepted one-liner compiles', async () => {
    const failures: string[] = [];
    for (const line of accepted) {
      const planned = planScript(line, '-e', env);
      if (!planned.ok) {
        failures.push(`${line}\n  ${planned.diagnostics.map((d) => d.message).join('; ')}`);
        continue;
      }
      try {
        await compileScript(line, '-e', env, { cacheDir });
      } catch (e) {
        failures.push(`${line}\n  ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
