// The agent's supervisor against a fake factory and a fake clock: back-off on failure, reloads that
// keep unchanged scripts (the same run object, never restarted), stop everything.
import { describe, expect, it } from 'vitest';
import type { AgentScript } from '../../src/agent/config.js';
import { health } from '../../src/agent/server.js';
import { Supervisor, type Clock, type RunningScript } from '../../src/agent/supervisor.js';

class FakeClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void }[] = [];
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return () => (this.timers = this.timers.filter((x) => x !== timer));
  }
  /** Moves time on, firing what falls due, and lets the promises they start settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
  pending(): number[] {
    return this.timers.map((x) => x.at - this.t);
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

class FakeRun implements RunningScript {
  stopped = false;
  private end!: (why: string) => void;
  readonly ended = new Promise<string>((resolve) => (this.end = resolve));
  constructor(readonly script: AgentScript) {}
  crash(why: string): void {
    this.end(why);
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

function script(name: string, text = `BEGIN { } // ${name}`, extra: Partial<AgentScript> = {}): AgentScript {
  return { name, path: `/s/${name}.ktr`, text, args: [], labels: {}, print: false, ...extra };
}

function setup(failing: Set<string> = new Set()) {
  const clock = new FakeClock();
  const runs: FakeRun[] = [];
  const reports: string[] = [];
  const starts: string[] = [];
  const sup = new Supervisor<FakeRun>(
    async (s) => {
      starts.push(s.name);
      if (failing.has(s.name)) throw new Error(`${s.name} does not compile`);
      const r = new FakeRun(s);
      runs.push(r);
      return r;
    },
    { report: (l) => reports.push(l), clock, backoff: { initialMs: 1000, maxMs: 8000 } },
  );
  return { sup, clock, runs, reports, starts, failing };
}

describe('agent supervisor', () => {
  it('retries a script that cannot start, doubling the delay up to the cap, and says so', async () => {
    const { sup, clock, reports, starts } = setup(new Set(['bad']));
    await sup.apply([script('good'), script('bad')]);
    await settle();
    expect(sup.states()).toEqual([
      { name: 'good', state: 'running', restarts: 0 },
      { name: 'bad', state: 'failed', reason: 'bad does not compile', retryInMs: 1000, restarts: 0 },
    ]);
    expect(reports).toEqual(['script bad failed: bad does not compile; retrying in 1 s']);
    await clock.advance(1000);
    await clock.advance(2000);
    await clock.advance(4000);
    await clock.advance(8000);
    await clock.advance(8000);
    expect(reports.map((r) => r.replace(/.*retrying in /, ''))).toEqual(['1 s', '2 s', '4 s', '8 s', '8 s', '8 s']);
    expect(starts.filter((s) => s === 'bad')).toHaveLength(6);
    expect(sup.states()[1]).toMatchObject({ state: 'failed', restarts: 5, retryInMs: 8000 });
    expect(health(sup.states())).toEqual({
      status: 200,
      body: { scripts: [{ name: 'good', state: 'running', restarts: 0 }, { name: 'bad', state: 'failed', reason: 'bad does not compile', retry_in_s: 8, restarts: 5 }] },
    });
    expect(starts.filter((s) => s === 'good')).toHaveLength(1);
  });

  it('restarts a script that ends by itself, releasing it first; the others keep running', async () => {
    const { sup, clock, runs } = setup();
    await sup.apply([script('a'), script('b')]);
    await settle();
    const [a, b] = runs;
    a!.crash('stopped on its own (exit code 3)');
    await settle();
    expect(a!.stopped).toBe(true);
    expect(b!.stopped).toBe(false);
    expect(sup.states()[0]).toMatchObject({ state: 'failed', reason: 'stopped on its own (exit code 3)' });
    expect(health(sup.states()).status).toBe(200);
    await clock.advance(1000);
    expect(runs).toHaveLength(3);
    expect(sup.states()).toEqual([
      { name: 'a', state: 'running', restarts: 1 },
      { name: 'b', state: 'running', restarts: 0 },
    ]);
    expect(sup.running().map((r) => r.run)).toEqual([runs[2], b]);
  });

  it('starts from the first delay again after a script ran for the cap before failing', async () => {
    const { sup, clock, runs, reports } = setup();
    await sup.apply([script('a')]);
    await settle();
    runs[0]!.crash('x');
    await settle();
    await clock.advance(1000);
    runs[1]!.crash('x');
    await settle();
    expect(reports.at(-1)).toMatch(/retrying in 2 s$/);
    await clock.advance(2000);
    await clock.advance(8000);
    runs[2]!.crash('x');
    await settle();
    expect(reports.at(-1)).toMatch(/retrying in 1 s$/);
  });

  it('on reload starts the added, stops the removed, restarts the changed and keeps the rest as they run', async () => {
    const { sup, runs, starts } = setup();
    await sup.apply([script('keep'), script('drop'), script('edit'), script('relabel'), script('args')]);
    await settle();
    const byName = (n: string) => runs.find((r) => r.script.name === n && !r.stopped)!;
    const keep = byName('keep');
    const drop = byName('drop');
    const edit = byName('edit');
    const relabel = byName('relabel');
    const args = byName('args');
    await sup.apply([
      script('keep'),
      script('edit', 'BEGIN { printf("changed") }'),
      script('relabel', undefined, { labels: { team: 'x' } }),
      script('args', undefined, { args: ['1'] }),
      script('new'),
    ]);
    await settle();
    expect(keep.stopped).toBe(false);
    expect([drop, edit, relabel, args].map((r) => r.stopped)).toEqual([true, true, true, true]);
    expect(sup.states().map((s) => [s.name, s.state])).toEqual([
      ['keep', 'running'],
      ['edit', 'running'],
      ['relabel', 'running'],
      ['args', 'running'],
      ['new', 'running'],
    ]);
    expect(sup.running().find((r) => r.script.name === 'keep')!.run).toBe(keep);
    expect(starts.filter((s) => s === 'keep')).toHaveLength(1);
    expect(starts.filter((s) => s === 'edit')).toHaveLength(2);
  });

  it('a reload that removes a failed script cancels its retry', async () => {
    const { sup, clock, starts } = setup(new Set(['bad']));
    await sup.apply([script('bad'), script('ok')]);
    await settle();
    await sup.apply([script('ok')]);
    expect(clock.pending()).toEqual([]);
    await clock.advance(60_000);
    expect(starts).toEqual(['bad', 'ok']);
    expect(clock.pending()).toEqual([]);
  });

  it('a script removed while it starts is stopped once it has started', async () => {
    const clock = new FakeClock();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const runs: FakeRun[] = [];
    const sup = new Supervisor<FakeRun>(
      async (s) => {
        await gate;
        const r = new FakeRun(s);
        runs.push(r);
        return r;
      },
      { report: () => {}, clock },
    );
    void sup.apply([script('slow')]);
    await settle();
    expect(sup.states()).toEqual([{ name: 'slow', state: 'starting', restarts: 0 }]);
    expect(health(sup.states()).status).toBe(503);
    // The removal waits for the start: what it loads is released before the removal is done.
    let removed = false;
    const removal = sup.apply([]).then(() => (removed = true));
    await settle();
    expect(removed).toBe(false);
    release();
    await removal;
    expect(runs[0]!.stopped).toBe(true);
    expect(sup.states()).toEqual([]);
  });

  it('stop() stops every script and nothing is retried after it', async () => {
    const { sup, clock, runs, starts } = setup(new Set(['bad']));
    await sup.apply([script('a'), script('bad')]);
    await settle();
    await sup.stop();
    expect(runs.every((r) => r.stopped)).toBe(true);
    await clock.advance(60_000);
    expect(starts).toEqual(['a', 'bad']);
    expect(health(sup.states())).toEqual({ status: 503, body: { scripts: [] } });
  });
});
