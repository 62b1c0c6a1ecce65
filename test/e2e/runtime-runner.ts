// A session in its own process, for tests of signals, -p, -c and leaks: bundled by the tests into
// build/test/runtime-runner.mjs and run as `node runtime-runner.mjs CONFIG_JSON`, where the config
// holds { plan, object (path), pid?, command?, durationMs?, crashAfterMs? }. Prints "READY" on stderr
// once attached, the session's output on stdout, STOPPED_IN_MS (from the stop to the maps printed) on stderr,
// and exits with the session's exit code.
import { readFileSync } from 'node:fs';
import { KtError } from '../../src/errors.js';
import { createOutput } from '../../src/runtime/output.js';
import { runSession } from '../../src/runtime/session.js';
import type { Plan } from '../../src/plan/types.js';

interface RunnerConfig {
  plan: Plan;
  object: string;
  pid?: number;
  command?: string;
  durationMs?: number;
  /** Throw an uncaught exception this many ms after attaching. */
  crashAfterMs?: number;
}

const config = JSON.parse(process.argv[2]!) as RunnerConfig;
const output = createOutput({ format: 'text', write: (s) => void process.stdout.write(s) });
let stopAt: bigint | undefined;
let printedAt: bigint | undefined;

const ready = {
  ...output,
  flush() {
    output.flush();
    printedAt = process.hrtime.bigint();
  },
  attached(n: number) {
    output.attached(n);
    process.stderr.write('READY\n');
    if (config.crashAfterMs !== undefined) {
      setTimeout(() => {
        throw new Error('crash requested by the test');
      }, config.crashAfterMs);
    }
  },
};

runSession(config.plan, readFileSync(config.object), {
  output: ready,
  pid: config.pid,
  command: config.command,
  durationMs: config.durationMs,
  onCommandExit: (s) => process.stderr.write(`COMMAND ${s.code ?? s.signal}\n`),
  onStop: () => (stopAt = process.hrtime.bigint()),
}).then(
  (code) => {
    // From the stop to the maps printed (END, drain, maps), for the tests' speed bound.
    if (stopAt !== undefined && printedAt !== undefined) {
      process.stderr.write(`STOPPED_IN_MS ${Number(printedAt - stopAt) / 1e6}\n`);
    }
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(e instanceof KtError ? `error: ${e.message}\n` : `${String(e)}\n`);
    process.exitCode = 1;
  },
);
