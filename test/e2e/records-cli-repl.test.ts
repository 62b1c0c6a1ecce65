// One script, run by `kafkatrace -e` and typed into `kafkatrace repl` (stdin piped), as root: the
// records of its kernel probe (printf, cat, system(), print, clear, zero, exit) come out the same,
// in the same order, from both, and so do a kafka probe's printf and system() lines. The truth is
// outside kafkatrace: the file cat() reads, the shell's output for system() and the number of
// records kcat produces are the test's own random values.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockBroker } from '../../src/demo/mock-broker.js';
import { BIN, kafkatrace, ROOT } from '../helpers/cli.js';
import { produceWithKcat } from '../helpers/kafka-clients.js';
import { PtyRepl, replCanRun } from './repl-pty.js';

const run = replCanRun();

/** kafkatrace with piped stdio: what it printed so far, and a wait for what it prints next. */
function started(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = async (done: (stdout: string) => boolean, what: string): Promise<void> => {
    for (const deadline = Date.now() + 30_000; !done(stdout); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout:\n${stdout}\nstderr:\n${stderr}`);
    }
  };
  return { child, exited, until, stdout: () => stdout, stderr: () => stderr };
}

describe.runIf(run)('records through a script and through the REPL', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-records-'));
    env = { XDG_CACHE_HOME: join(dir, 'cache'), XDG_STATE_HOME: join(dir, 'state') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints and acts on them alike', () => {
    const n = 1 + Math.floor(Math.random() * 1_000_000);
    const content = `content ${Math.random().toString(36).slice(2)}\n`;
    const file = join(dir, 'cat-me');
    writeFileSync(file, content);
    const missing = join(dir, 'missing');
    const script =
      `BEGIN { printf("first %d\\n", ${n}); cat("${file}"); cat("${missing}"); system("echo shell %d", ${n} + 1); ` +
      `@c = count(); @c = count(); print(@c); clear(@c); @z[7] = ${n}; print(@z); zero(@z); print(@z); ` +
      `printf("last\\n"); exit(); printf("never\\n"); }`;
    // What the records print, in order; cat()'s error goes where errors go.
    const head = `first ${n}\n${content}`;
    const tail = `shell ${n + 1}\n@c: 2\n@z[7]: ${n}\n@z[7]: 0\nlast\n`;
    const catError = `ERROR: failed to open file '${missing}': No such file or directory\n`;

    const cli = kafkatrace(['--unsafe', '-e', script], { env });
    expect(cli.code).toBe(0);
    expect(cli.stderr).toBe(catError);
    // At exit the script prints its maps: @c cleared (a count() without keys stays at 0, as in bpftrace), @z zeroed.
    expect(cli.stdout).toBe(`Attaching 1 probe...\n${head}${tail}\n\n@c: 0\n@z[7]: 0\n`);

    const repl = kafkatrace(['repl', '--unsafe'], { env, input: script + '\n' });
    expect(repl.code).toBe(0);
    // The REPL has one output, errors included; the input's end detaches the block without a word.
    expect(repl.stdout.replace(/kt> /g, '')).toBe(`block 1: attached 1 probe\n${head}${catError}${tail}`);
    expect(repl.stderr).toBe('');
  }, 90_000);

  it('on a terminal, prints what came before a system() command before the command\'s output', async () => {
    const n = 1 + Math.floor(Math.random() * 1_000_000);
    const repl = new PtyRepl(env, ['--unsafe']);
    try {
      await repl.waitFor(/kt> /);
      // The records arrive while the prompt waits: printf's line is held to go above it.
      repl.type(`interval:ms:300 { printf("before %d\\n", ${n}); system("echo after %d", ${n}); exit(); }\r`);
      await repl.waitFor(/block 1 detached\n/);
      const text = repl.text;
      expect(text.indexOf(`before ${n}\n`)).toBeGreaterThan(0);
      expect(text.indexOf(`after ${n}\n`)).toBeGreaterThan(text.indexOf(`before ${n}\n`));
      repl.type('.exit\r');
      expect(await repl.exited).toBe(0);
    } finally {
      repl.child.kill('SIGKILL');
    }
  }, 60_000);

  it('prints a kafka probe\'s lines and runs its system() commands in order, both ways', async () => {
    const topic = `records-${process.pid}`;
    const broker = await startMockBroker({ topics: { [topic]: 1 } });
    try {
      const script =
        `kafka:produce /args.topic == "${topic}" && args.role == "client"/ ` +
        `{ printf("produce %d\\n", args.records); system("echo shell %d", args.records); }`;
      /** The produce lines' records, each line followed at once by the shell's line for it. */
      const produced = (out: string): number => {
        const lines = out.replace(/kt> /g, '').split('\n').filter((l) => /^(produce|shell) \d+$/.test(l));
        let total = 0;
        for (let i = 0; i < lines.length; i += 2) {
          const n = /^produce (\d+)$/.exec(lines[i]!)?.[1];
          expect(n, out).toBeDefined();
          expect(lines[i + 1], out).toBe(`shell ${n}`);
          total += Number(n);
        }
        return total;
      };
      for (const args of [['--unsafe', '-e', script], ['repl', '--unsafe']]) {
        const count = 1 + Math.floor(Math.random() * 40);
        const p = started(args, env);
        try {
          if (args[0] === 'repl') p.child.stdin.write(script + '\n');
          await p.until((out) => /Attaching 1 probe\.\.\.\n|block 1: attached 1 probe\n/.test(out), 'the probe to attach');
          await produceWithKcat({ bootstrap: broker.bootstrap, topic, count });
          // Lines may sit in the output until the next write: wait for the count, then end the run.
          await p.until((out) => out.includes(`shell `) && produced(out.slice(0, out.lastIndexOf('\n') + 1)) >= count, `${count} records`);
          if (args[0] === 'repl') p.child.stdin.end();
          else p.child.kill('SIGINT');
          expect(await p.exited).toBe(0);
          expect(produced(p.stdout())).toBe(count);
          expect(p.stderr()).toBe('');
        } finally {
          p.child.kill('SIGKILL');
        }
      }
    } finally {
      await broker.stop();
    }
  }, 90_000);
});
