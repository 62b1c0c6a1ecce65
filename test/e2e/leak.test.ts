// Nothing is left behind: after many sessions in a row (stopped, failed, SIGTERMed and SIGKILLed in
// child processes) no program or map of ours is loaded, and the process's memory stays bounded.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KtError } from '../../src/errors.js';
import type { Output } from '../../src/runtime/output.js';
import { runSession } from '../../src/runtime/session.js';
import { BEGIN, buildFixtures, ROOT, canRun, END, fixturePlan, GETPPID, loadedPrograms, loadedProgramsSettled, WRITE } from './runtime-helpers.js';

const ok = canRun();
const fx = ok ? buildFixtures() : undefined;

/** An Output that prints nothing and aborts the session as soon as it is attached. */
function stopAtOnce(abort: AbortController): Output {
  return {
    attached: () => abort.abort(),
    event: () => true,
    printMap: () => {},
    printMaps: () => {},
    lost: () => {},
    outOfWatchpoints: () => {},
    kafkaHealth: () => {},
    mapFull: () => {},
    error: () => {},
    warning: () => {},
    syscall: () => {},
    helperError: () => {},
    flush: () => {},
  };
}

async function shortSession(): Promise<number> {
  const abort = new AbortController();
  return runSession(fixturePlan([BEGIN, GETPPID, WRITE, END]), fx!.probes, {
    signals: false,
    abort: abort.signal,
    output: stopAtOnce(abort),
  });
}

function fixtureMapsLoaded(): boolean {
  const maps = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' })) as { name?: string }[];
  return maps.some((m) => m.name === 'fx_total');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function nothingLoadedSoon(): Promise<void> {
  expect(await loadedProgramsSettled()).toEqual([]);
  for (let i = 0; i < 60 && fixtureMapsLoaded(); i++) await sleep(50);
  expect(fixtureMapsLoaded()).toBe(false);
}

describe.runIf(ok)('leaks', () => {
  it('many sessions in a row leave no program or map and a bounded RSS', async () => {
    for (let i = 0; i < 10; i++) expect(await shortSession()).toBe(0);
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 40; i++) {
      expect(await shortSession()).toBe(0);
      // A session that fails to load must release what it opened too.
      await expect(
        runSession(fixturePlan([['ktfx_fentry', [{ type: 'fentry', func: 'do_sys_openat2' }]]]), fx!.fentry, {
          signals: false,
          output: stopAtOnce(new AbortController()),
        }),
      ).rejects.toBeInstanceOf(KtError);
    }
    const growth = process.memoryUsage().rss - before;
    expect(growth).toBeLessThan(40 * 1024 * 1024);
    await nothingLoadedSoon();
  }, 120_000);

  it('frees a loaded, attached object when it is garbage collected', async () => {
    // A child with --expose-gc loads and attaches, drops the object, collects, and reports what
    // bpftool then sees while it is still alive.
    const script = `
      const { execFileSync } = require('node:child_process');
      const a = require(${JSON.stringify(join(ROOT, 'build', 'Release', 'kafkatrace_native.node'))});
      const loaded = () => JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'])).filter((p) => (p.name || '').startsWith('ktfx_')).length;
      (() => {
        const o = new a.BpfObject(require('node:fs').readFileSync(${JSON.stringify(fx?.paths.probes ?? '')}), 'kafkatrace');
        o.load();
        o.attachTracepoint('ktfx_getppid', 'syscalls', 'sys_enter_getppid');
        o.ringStart('events', () => {});
        o.ringStop();
      })();
      const before = loaded();
      setTimeout(() => {
        gc();
        setTimeout(() => {
          gc();
          let after = loaded();
          for (let i = 0; i < 60 && after > 0; i++) { execFileSync('sleep', ['0.05']); after = loaded(); }
          console.log(JSON.stringify({ before, after }));
        }, 50);
      }, 10);`;
    const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
    const { before, after } = JSON.parse(out) as { before: number; after: number };
    expect(before).toBeGreaterThan(0);
    expect(after).toBe(0);
  });

  it('child sessions ended by SIGTERM and SIGKILL leave nothing loaded', async () => {
    const plan = fixturePlan([BEGIN, GETPPID, END]);
    for (const signal of ['SIGTERM', 'SIGKILL', 'SIGTERM', 'SIGKILL', 'SIGINT'] as const) {
      const child = spawn(process.execPath, [fx!.runner, JSON.stringify({ object: fx!.paths.probes, plan, durationMs: 60_000 })], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      await new Promise<void>((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('READY\n')) resolve();
        });
        child.on('exit', () => reject(new Error(`runner exited early: ${err}`)));
      });
      expect(loadedPrograms().length).toBeGreaterThan(0);
      const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig)));
      child.kill(signal);
      expect(await exited).toBe(signal === 'SIGKILL' ? 'SIGKILL' : 0);
    }
    await nothingLoadedSoon();
  }, 120_000);
});
