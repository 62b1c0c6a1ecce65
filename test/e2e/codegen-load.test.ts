// Every construct, example and stdlib tool passes the kernel's verifier: each object is loaded with
// bpftool into a private bpffs directory that is removed afterwards (nothing stays loaded).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileScript } from '../../src/compiler.js';
import { realSystem } from '../../src/frontend/system.js';
import { CONSTRUCTS, POSITIONAL } from '../fixtures/codegen/constructs.js';

const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'kt-load-'));
const pinDir = `/sys/fs/bpf/kt-codegen-test-${process.pid}`;
afterAll(() => {
  rmSync(pinDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'loading BPF programs needs root';
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
  } catch {
    return 'bpftool is not installed';
  }
  return undefined;
}

const reason = whyNot();
const env = { positional: POSITIONAL, unsafe: true, system: realSystem() };

/** Loads every program of the object; returns the verifier's complaint, or '' when all loaded. */
function load(object: Buffer, name: string): string {
  const file = join(work, `${name.replace(/[^A-Za-z0-9]/g, '_')}.bpf.o`);
  writeFileSync(file, object);
  try {
    execFileSync('bpftool', ['prog', 'loadall', file, pinDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    return '';
  } catch (e) {
    const stderr = String((e as { stderr?: Buffer }).stderr ?? e);
    return stderr.split('\n').slice(-15).join('\n');
  } finally {
    rmSync(pinDir, { recursive: true, force: true });
  }
}

async function check(name: string, source: string): Promise<void> {
  if (reason) {
    if (process.env['CI'] === 'true') throw new Error(`cannot run the load test: ${reason}`);
    console.log(`codegen-load: not loading (${reason})`);
    return;
  }
  const r = await compileScript(source, name, env, { cacheDir: join(work, 'cache') });
  expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
  if (!r.ok || !r.compiled.object) return;
  expect(load(r.compiled.object, name)).toBe('');
}

describe('generated objects load', () => {
  // usdt needs a binary with USDT notes, which this machine's libc may lack; the unit tests compile it.
  for (const [name, source] of Object.entries(CONSTRUCTS).filter(([n]) => n !== 'usdt args')) {
    it(name, () => check(name, source.replaceAll('/usr/bin/bash', '/bin/bash')));
  }
  const files = ['examples', 'stdlib'].flatMap((d) =>
    readdirSync(join(root, d))
      .filter((f) => f.endsWith('.ktr'))
      .map((f) => join(d, f)),
  );
  for (const file of files) {
    it(file, () => check(file, readFileSync(join(root, file), 'utf8')));
  }
  it('leaves nothing pinned', () => {
    expect(() => readdirSync(pinDir)).toThrow();
  });
});
