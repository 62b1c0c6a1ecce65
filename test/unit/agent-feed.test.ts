// The agent's one Kafka feed: started by the first script with kafka probes, shared by the others,
// closed once the last has released it (no capture left copying traffic nobody reads), and started
// afresh for the next.
import { describe, expect, it } from 'vitest';
import { prefixedLines, SharedFeed } from '../../src/agent/runner.js';
import type { KafkaFeed, KafkaFeedOptions } from '../../src/runtime/kafka-source.js';
import { createOutput } from '../../src/runtime/output.js';

function fakeFeeds() {
  const made: { closed: boolean }[] = [];
  let failNext = false;
  const start = (): KafkaFeed => {
    if (failNext) {
      failNext = false;
      throw new Error('the capture cannot start');
    }
    const state = { closed: false };
    made.push(state);
    return {
      attach: () => ({ detach: () => {} }),
      stop: () => void (state.closed = true),
      close: () => void (state.closed = true),
      counters: () => {
        throw new Error('not used');
      },
    };
  };
  return { made, start, failOnce: () => (failNext = true) };
}

describe('SharedFeed', () => {
  it('starts every capture with the configuration\'s namespace filter and nothing else', async () => {
    const seen: KafkaFeedOptions['capture'][] = [];
    const fakes = fakeFeeds();
    const shared = new SharedFeed(createOutput({ format: 'text', write: () => {} }), (o) => (seen.push(o.capture), fakes.start()), { netns: 4026532281 });
    (await shared.acquire()).release();
    (await shared.acquire()).release();
    expect(seen).toEqual([{ netns: 4026532281 }, { netns: 4026532281 }]);
  });

  it('starts once for concurrent users, closes after the last release, restarts for the next', async () => {
    const fakes = fakeFeeds();
    const shared = new SharedFeed(createOutput({ format: 'text', write: () => {} }), fakes.start);
    expect(shared.current()).toBeUndefined();
    const [a, b] = await Promise.all([shared.acquire(), shared.acquire()]);
    expect(a.feed).toBe(b.feed);
    expect(fakes.made).toHaveLength(1);
    a.release();
    a.release();
    expect(fakes.made[0]!.closed).toBe(false);
    b.release();
    expect(fakes.made[0]!.closed).toBe(true);
    expect(shared.current()).toBeUndefined();
    const c = await shared.acquire();
    expect(fakes.made).toHaveLength(2);
    expect(shared.current()).toBe(c.feed);
    shared.close();
    expect(fakes.made[1]!.closed).toBe(true);
  });

  it('a user that waited while the last one released the feed gets a fresh one, never a closed one', async () => {
    const fakes = fakeFeeds();
    const shared = new SharedFeed(createOutput({ format: 'text', write: () => {} }), fakes.start);
    const a = await shared.acquire();
    const waiting = shared.acquire();
    a.release();
    const b = await waiting;
    expect(fakes.made.map((f) => f.closed)).toEqual([true, false]);
    expect(shared.current()).toBe(b.feed);
    b.release();
  });

  it('a capture that cannot start fails that user, and the next one tries again', async () => {
    const fakes = fakeFeeds();
    const shared = new SharedFeed(createOutput({ format: 'text', write: () => {} }), fakes.start);
    fakes.failOnce();
    await expect(shared.acquire()).rejects.toThrow('the capture cannot start');
    const ok = await shared.acquire();
    expect(fakes.made).toHaveLength(1);
    ok.release();
    expect(fakes.made[0]!.closed).toBe(true);
  });
});

describe('prefixedLines', () => {
  it('prefixes whole lines, holding a partial one until its end comes', () => {
    const out: string[] = [];
    const write = prefixedLines('[a] ', (s) => out.push(s));
    write('one\ntw');
    write('o\n\nthree');
    write('\n');
    expect(out).toEqual(['[a] one\n', '[a] two\n\n', '[a] three\n']);
  });
});
