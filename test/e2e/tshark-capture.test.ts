// The tshark capture helper: a test that fails before stopping its capture must not leave tshark or
// its dumpcap running once it removes the capture.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startCapture, tsharkProblem } from '../helpers/tshark.js';

const missing = tsharkProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);

/** Processes whose command line names `text`. */
function processesNaming(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', text], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe.runIf(process.getuid?.() === 0 && missing === undefined)('tshark capture helper', () => {
  it('remove() without stop() ends tshark and its dumpcap', async () => {
    // A port nothing else here captures: the filter names it, and so the processes' command lines.
    const port = 40_000 + (process.pid % 20_000);
    const capture = await startCapture([port]);
    const filter = `tcp port ${port}`;
    expect(processesNaming(filter).length).toBeGreaterThan(0);
    capture.remove();
    const until = Date.now() + 10_000;
    while (processesNaming(filter).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(processesNaming(filter)).toEqual([]);
  }, 30_000);
});
