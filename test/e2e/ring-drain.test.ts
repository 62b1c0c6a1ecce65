// A ring whose programs submit with BPF_RB_NO_WAKEUP (as the Kafka capture does, so that a busy
// broker's syscalls do not each wake the tracer) never wakes its reader: ringStart's drainMs timer
// delivers its records, ringPause holds them back, and none is lost or delivered twice.
import { describe, expect, it } from 'vitest';
import { openObject, type BpfObject } from '../../src/native/index.js';
import { buildFixtures, canRun, loadedProgramsSettled } from './runtime-helpers.js';

const ok = canRun();
const fx = ok ? buildFixtures() : undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records of the `tick` event (id 3: one per getppid) in a packed batch (4-byte size, then the record). */
function ticks(batch: Buffer): number {
  let n = 0;
  for (let at = 0; at + 4 <= batch.length; at += 4 + batch.readUInt32LE(at)) if (batch.readUInt32LE(at + 4) === 3) n++;
  return n;
}

/** Makes n getppid calls (process.ppid asks the kernel each time). */
function getppid(n: number): void {
  for (let i = 0; i < n; i++) void process.ppid;
}

async function waitFor(done: () => boolean, ms: number): Promise<void> {
  for (let waited = 0; !done() && waited < ms; waited += 10) await sleep(10);
}

describe.runIf(ok)('a ring drained on a timer', () => {
  it('delivers records that wake nobody every drainMs, none while paused, each once', async () => {
    const obj: BpfObject = openObject(fx!.probesQuiet);
    try {
      const pid = Buffer.alloc(4);
      pid.writeUInt32LE(process.pid);
      obj.setGlobal('kt_target_pid', pid);
      obj.load();
      obj.attachTracepoint('ktfx_getppid', 'syscalls', 'sys_enter_getppid');
      let seen = 0;
      // Polled alone, the ring never says it is readable: these records wait in it.
      obj.ringStart('events', (b) => (seen += ticks(b)));
      getppid(40);
      await sleep(300);
      expect(seen).toBe(0);
      obj.ringStop();

      obj.ringStart('events', (b) => (seen += ticks(b)), 20);
      await waitFor(() => seen >= 40, 2000);
      expect(seen).toBe(40);
      getppid(25);
      await waitFor(() => seen >= 65, 2000);
      expect(seen).toBe(65);

      obj.ringPause(true);
      getppid(30);
      await sleep(300);
      expect(seen).toBe(65);
      obj.ringPause(false);
      await waitFor(() => seen >= 95, 2000);
      await sleep(100);
      expect(seen).toBe(95);
    } finally {
      obj.close();
    }
    expect(await loadedProgramsSettled()).toEqual([]);
  });
});
