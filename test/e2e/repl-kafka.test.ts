// Kafka blocks in `kafkatrace repl` on a pseudo-terminal, as root: a typed kafka:produce block
// attaches the capture at once, counts exactly the records kcat produces to a mock broker, and the
// capture goes when the last kafka block is detached: neither the REPL nor this process holds a
// BPF object afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { heldBpf, stillLoaded } from '../helpers/bpf-held.js';
import { produceWithKcat } from '../helpers/kafka-clients.js';
import { PtyRepl, replCanRun } from './repl-pty.js';

const run = replCanRun();
const RECORDS = 25;

describe.runIf(run)('kafka blocks in kafkatrace repl', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let broker: MockBroker;
  const topic = `repl-orders-${process.pid}`;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kt-repl-kafka-'));
    env = { XDG_STATE_HOME: join(dir, 'state'), XDG_CACHE_HOME: join(dir, 'cache') };
    broker = await startMockBroker({ brokers: 1, topics: { [topic]: 1 } });
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts produced records, lists and detaches the block, and leaves no BPF object behind', async () => {
    const repl = new PtyRepl(env);
    try {
      await repl.waitFor(/kt> /);
      // kcat and the broker are both traced: only the client's side counts.
      repl.type(`kafka:produce /args.topic == "${topic}" && args.role == "client"/ { @r[args.topic] = sum(args.records); }\r`);
      await repl.waitFor(/block 1: attached 1 probe\n/);
      await repl.waitFor(/kt> /);
      const held = heldBpf(repl.replPid());
      // The capture's programs and maps are the REPL's now.
      expect(held.progs.size).toBeGreaterThan(0);

      await produceWithKcat({ bootstrap: broker.bootstrap, topic, count: RECORDS });
      // The capture hands records over on its own schedule: ask until they are all counted.
      const want = `@r[${topic}]: ${RECORDS}\n`;
      let printed = '';
      for (let i = 0; i < 100 && printed !== want; i++) {
        printed = await repl.command('.print @r');
        if (printed !== want) await new Promise((r) => setTimeout(r, 100));
      }
      expect(printed).toBe(want);
      expect(await repl.command('.maps')).toBe(want);
      expect(await repl.command('.probes')).toBe('  1  kafka:produce  (@r)\n');
      // An interval block that prints the kafka map runs in user space beside it.
      repl.type('interval:ms:200 { print(@r); }\r');
      await repl.waitFor(/block 2: attached 1 probe\n/);
      await repl.waitFor(new RegExp(`@r\\[${topic}\\]: ${RECORDS}\n`));
      repl.type('.detach 2\r');
      await repl.waitFor(/block 2 detached\n/);
      // A print the timer queued before the detach may still be on its way to the screen.
      await new Promise((r) => setTimeout(r, 300));
      repl.skip();

      expect(await repl.command('.detach 1')).toBe('block 1 detached; maps no block uses any more are gone: @r\n');
      // The last kafka block took the capture with it.
      expect(heldBpf(repl.replPid()).fds).toBe(0);
      expect(await repl.command('.probes')).toBe('no blocks attached\n');

      repl.type('.exit\r');
      expect(await repl.exited).toBe(0);
      expect(heldBpf('self').fds).toBe(0);
      expect(await stillLoaded('prog', held.progs)).toEqual([]);
      expect(await stillLoaded('map', held.maps)).toEqual([]);
    } finally {
      repl.child.kill('SIGKILL');
    }
  }, 120_000);

  it('detaches a kafka block that calls exit(), and .exit takes the capture of the blocks still attached', async () => {
    const repl = new PtyRepl(env);
    try {
      await repl.waitFor(/kt> /);
      repl.type(`kafka:produce /args.topic == "${topic}" && args.role == "client"/ { printf("records %d\\n", args.records); exit(); }\r`);
      await repl.waitFor(/block 1: attached 1 probe\n/);
      repl.type('kafka:request { @requests[args.api] = count(); }\r');
      await repl.waitFor(/block 2: attached 1 probe\n/);
      await repl.waitFor(/kt> /);
      const held = heldBpf(repl.replPid());
      await produceWithKcat({ bootstrap: broker.bootstrap, topic, count: 3 });
      await repl.waitFor(/records [1-3]\n(kt> )?block 1 called exit\(\)\n(kt> )?block 1 detached\n/);
      expect(await repl.command('.probes')).toBe('  2  kafka:request  (@requests)\n');
      // Block 2 still sees the traffic.
      expect(await repl.command('.print @requests')).toMatch(/@requests\[Produce\]: [1-9]/);

      repl.type('.exit\r');
      expect(await repl.exited).toBe(0);
      expect(await stillLoaded('prog', held.progs)).toEqual([]);
      expect(await stillLoaded('map', held.maps)).toEqual([]);
    } finally {
      repl.child.kill('SIGKILL');
    }
  }, 120_000);
});
