import { afterEach, describe, expect, it } from 'vitest';
import { PrometheusExporter } from '../../src/export/server.js';
import { KtError } from '../../src/errors.js';
import { parseCli } from '../../src/cli/args.js';
import type { PlanMap } from '../../src/plan/types.js';
import type { SessionControl } from '../../src/runtime/session.js';

const CALLS: PlanMap = {
  name: '@calls', bpfName: 'm_calls', home: 'kernel', keyTypes: [{ kind: 'str', size: 16 }], keyLayout: { size: 16, fields: [] },
  value: { kind: 'count' }, valueSize: 8, perCpu: true, bpfType: 'percpu_hash', maxEntries: 4096, keyNames: ['comm'],
};

/** A session whose @calls[workload] grows by one on every read. */
function fakeControl(): SessionControl & { reads: number; healthReads: number; ended: boolean } {
  const c = {
    reads: 0,
    healthReads: 0,
    ended: false,
    snapshots() {
      if (c.ended) throw new KtError('session-ended', 'the session has ended');
      c.reads++;
      return [{ name: '@calls', value: CALLS.value, keyTypes: CALLS.keyTypes, entries: [{ keys: ['workload'], value: BigInt(c.reads) }] }];
    },
    health: () => (c.healthReads++, { eventsLost: 0n, probesAttached: 2, kafkaFramesFailed: 0 }),
    render: { symbols: { ksym: () => '', usym: () => '', username: () => '', cgroupPath: () => '' } },
  };
  return c;
}

const open: PrometheusExporter[] = [];
afterEach(async () => {
  for (const e of open.splice(0)) await e.close();
});

async function listen(host = '127.0.0.1'): Promise<PrometheusExporter> {
  const e = await PrometheusExporter.listen({ kind: 'prometheus', host, port: 0 }, [CALLS]);
  open.push(e);
  return e;
}

function url(e: PrometheusExporter, path = '/metrics'): string {
  const { host, port } = e.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
}

describe('the Prometheus exporter', () => {
  it('answers 503 until the session has started and after it has stopped', async () => {
    const e = await listen();
    const before = await fetch(url(e));
    expect(before.status).toBe(503);
    expect(await before.text()).toBe('kafkatrace: the script is not running\n');
    e.attach(fakeControl());
    expect((await fetch(url(e))).status).toBe(200);
    e.detach();
    expect((await fetch(url(e))).status).toBe(503);
  });

  it('reads the maps afresh on every scrape and reports the previous scrape time', async () => {
    const e = await listen();
    const control = fakeControl();
    e.attach(control);
    const first = await fetch(url(e));
    expect(first.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const firstText = await first.text();
    expect(firstText).toContain('kafkatrace_calls_total{comm="workload"} 1\n');
    expect(firstText).toContain('kafkatrace_scrape_duration_seconds 0\n');
    expect(firstText).toContain('kafkatrace_probes_attached 2\n');
    const second = await (await fetch(url(e))).text();
    expect(second).toContain('kafkatrace_calls_total{comm="workload"} 2\n');
    const duration = Number(/^kafkatrace_scrape_duration_seconds (\S+)$/m.exec(second)?.[1]);
    expect(duration).toBeGreaterThan(0);
    expect(duration).toBeLessThan(1);
  });

  it('writes the metrics once when the session starts, maps unread, so that the first scrape finds the code compiled', async () => {
    const e = await listen();
    const control = fakeControl();
    e.attach(control);
    expect(control.healthReads).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(control.healthReads).toBe(1);
    expect(control.reads).toBe(0);
    const text = await (await fetch(url(e))).text();
    expect(text).toContain('kafkatrace_calls_total{comm="workload"} 1\n');
    expect(text).toContain('kafkatrace_scrape_duration_seconds 0\n');
  });

  it('turns a failing read into a 503 with its message', async () => {
    const e = await listen();
    const control = fakeControl();
    control.ended = true;
    e.attach(control);
    const r = await fetch(url(e));
    expect(r.status).toBe(503);
    expect(await r.text()).toBe('kafkatrace: the session has ended\n');
  });

  it('serves /metrics only', async () => {
    const e = await listen();
    const r = await fetch(url(e, '/'));
    expect(r.status).toBe(404);
    expect(await r.text()).toBe('kafkatrace serves its metrics on /metrics\n');
    expect((await fetch(url(e), { method: 'POST' })).status).toBe(405);
  });

  it('listens on IPv6 loopback', async () => {
    const e = await listen('::1');
    e.attach(fakeControl());
    expect(e.address.host).toBe('::1');
    expect(await (await fetch(url(e))).text()).toContain('kafkatrace_calls_total{comm="workload"} 1\n');
  });

  it('says so in one line when the port is taken', async () => {
    const first = await listen();
    const port = first.address.port;
    await expect(PrometheusExporter.listen({ kind: 'prometheus', host: '127.0.0.1', port }, [CALLS])).rejects.toThrow(
      new KtError('listen-failed', `cannot serve Prometheus metrics on 127.0.0.1:${port}: the address is already in use (choose another with --export prometheus=ADDR:PORT)`),
    );
  });
});

describe('--export on the command line', () => {
  it('is parsed for scripts and refused elsewhere', () => {
    expect(parseCli(['-e', 'BEGIN {}', '--export', 'prometheus']).exportTarget).toEqual({ kind: 'prometheus', host: '127.0.0.1', port: 9464 });
    expect(parseCli(['run', 'x.ktr', '--export', 'prometheus=[::1]:9000']).exportTarget).toEqual({ kind: 'prometheus', host: '::1', port: 9000 });
    expect(() => parseCli(['-e', 'BEGIN {}', '--export', 'prometheus=1.2.3.4:x'])).toThrow(expect.objectContaining({ errorCode: 'usage' }));
    expect(() => parseCli(['-e', 'BEGIN {}', '--export', 'graphite'])).toThrow(/unknown exporter 'graphite'/);
    expect(() => parseCli(['check', 'x.ktr', '--export', 'prometheus'])).toThrow(/--export only applies when a script runs, not to check/);
  });
});
