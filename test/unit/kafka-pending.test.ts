// PendingRequests (a connection's requests awaiting their answers) against a plain list of
// [id, request] in the order set, on random mixes of sets, answers, evictions of the oldest and
// reused correlation ids; and evictions that never walk the Map's deleted entries.
import { describe, expect, it } from 'vitest';
import { PendingRequests } from '../../src/kafka/exchange/pending.js';
import { rng } from '../helpers/seeded.js';

interface Req {
  id: number;
  n: number;
}

describe('PendingRequests', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`keeps what a list in set order keeps (seed ${seed})`, () => {
      const random = rng(seed);
      const pending = new PendingRequests<Req>();
      let model: Req[] = [];
      const ids = 1 + Math.floor(random() * 200);
      for (let n = 0; n < 20_000; n++) {
        const r = random();
        if (r < 0.5) {
          // A request; a correlation id already waiting is given up first, as Connection does.
          const id = Math.floor(random() * ids);
          if (pending.get(id)) {
            expect(pending.delete(id)).toBe(true);
            model = model.filter((q) => q.id !== id);
          }
          const req = { id, n };
          pending.set(id, req);
          model.push(req);
        } else if (r < 0.75) {
          // An answer, to a waiting request or to none.
          const id = Math.floor(random() * ids);
          expect(pending.delete(id)).toBe(model.some((q) => q.id === id));
          model = model.filter((q) => q.id !== id);
        } else if (r < 0.98) {
          const oldest = pending.oldest();
          expect(oldest).toEqual(model[0] && [model[0].id, model[0]]);
          if (oldest && random() < 0.8) {
            pending.delete(oldest[0]);
            model.shift();
          }
        } else {
          pending.clear();
          model = [];
        }
        expect(pending.size).toBe(model.length);
      }
      expect([...pending.entries()]).toEqual(model.map((q) => [q.id, q]));
    });
  }

  it('evicts the oldest of thousands of unanswered requests without iterating the Map', () => {
    const pending = new PendingRequests<Req>();
    const max = 4096;
    for (let id = 0; id < max; id++) pending.set(id, { id, n: id });
    // The first request waits apart; the next eviction is the Map's first.
    pending.delete(pending.oldest()![0]);
    pending.set(max, { id: max, n: max });
    pending.oldest();
    // V8 walks a Map's deleted entries when iterating it: each eviction doing so made a flood of
    // unanswered requests cost microseconds per frame.
    const more = (pending as unknown as { more: Map<number, Req> }).more;
    let iterations = 0;
    for (const method of ['entries', 'keys', 'values', 'forEach', Symbol.iterator] as const) {
      const own = more[method].bind(more) as (...a: unknown[]) => unknown;
      Object.defineProperty(more, method, { value: (...a: unknown[]) => (iterations++, own(...a)) });
    }
    for (let id = max + 1; id < 10 * max; id++) {
      const [oldestId, oldest] = pending.oldest()!;
      expect(oldestId).toBe(id - max);
      expect(oldest.id).toBe(id - max);
      pending.delete(oldestId);
      pending.set(id, { id, n: id });
    }
    expect(iterations).toBe(0);
    expect(pending.size).toBe(max);
  });
});
