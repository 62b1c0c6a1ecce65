// One script, run by `kafkatrace -e` and typed into `kafkatrace repl` (stdin piped), as root: the
// records of its kernel probe (printf, cat, system(), print, clear, zero, exit) come out the same,
// in the same order, from both. The truth is outside kafkatrace: the file cat() reads and the
// shell's output for system() are the test's own random values.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkatrace } from '../helpers/cli.js';
import { PtyRepl, replCanRun } from './repl-pty.js';

const run = replCanRun();

describe.runIf(run)('a kernel probe\'s records through a script and through the REPL', () => {
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
    // At exit the script prints its maps: @c cleared, @z zeroed.
    expect(cli.stdout).toBe(`Attaching 1 probe...\n${head}${tail}\n\n\n@z[7]: 0\n`);

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
});
