// `kafkatrace repl` on a pseudo-terminal (util-linux `script`) for the e2e tests: type lines, wait
// for output, and find the REPL process to check what BPF objects it holds.
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT } from '../helpers/cli.js';
import { canRun } from './runtime-helpers.js';

export function replCanRun(): boolean {
  if (!canRun()) return false;
  const problems: string[] = [];
  if (spawnSync('script', ['--version']).status !== 0) problems.push('`script` (util-linux) is missing');
  if (!existsSync(join(ROOT, 'dist', 'bundle', 'kafkatrace.mjs'))) problems.push('the CLI is not built (npm run build)');
  if (problems.length === 0) return true;
  if (process.env.CI === 'true') throw new Error(`repl e2e tests cannot run: ${problems.join(', ')}`);
  console.log(`skipping repl e2e tests: ${problems.join(', ')}`);
  return false;
}

function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

export function loaded(kind: 'prog' | 'map'): { id: number; name?: string }[] {
  return JSON.parse(execFileSync('bpftool', [kind, 'show', '-j'], { encoding: 'utf8' })) as { id: number; name?: string }[];
}

/** The REPL on a pseudo-terminal: type lines, wait for output. */
export class PtyRepl {
  readonly child: ChildProcessWithoutNullStreams;
  private raw = '';
  /** Where the output not yet consumed by expectOutput starts. */
  private mark = 0;
  readonly exited: Promise<number | null>;

  constructor(env: NodeJS.ProcessEnv, args: string[] = []) {
    const cmd = `stty cols 200 rows 50; exec '${process.execPath}' '${BIN}' repl${args.map((a) => ` '${a}'`).join('')}`;
    this.child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env } });
    this.child.stdout.on('data', (d: Buffer) => (this.raw += d.toString()));
    this.child.stderr.on('data', (d: Buffer) => (this.raw += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get text(): string {
    return stripAnsi(this.raw);
  }

  /** The REPL process itself (script's child). */
  replPid(): number {
    const children = readFileSync(`/proc/${this.child.pid}/task/${this.child.pid}/children`, 'utf8').trim();
    return Number(children.split(/\s+/)[0]);
  }

  type(s: string): void {
    this.child.stdin.write(s);
  }

  /** Waits until the output after the last wait matches re; returns that output. */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const fresh = this.text.slice(this.mark);
      const m = re.exec(fresh);
      if (m) {
        this.mark += m.index + m[0].length;
        return fresh.slice(0, m.index + m[0].length);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in:\n${this.text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Marks everything printed so far as consumed. */
  skip(): void {
    this.mark = this.text.length;
  }

  /** Runs a dot command and returns what it printed before the next prompt. */
  async command(line: string): Promise<string> {
    this.type(line + '\r');
    const out = await this.waitFor(/\nkt> /);
    return out.slice(out.indexOf('\n') + 1, -'kt> '.length);
  }
}
