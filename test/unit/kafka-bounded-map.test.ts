// BoundedMap forgets the least recently set key past its limit; setting the key set last again
// takes a shortcut (no move), which must not change that order.
import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../src/kafka/exchange/bounded-map.js';

describe('BoundedMap', () => {
  it('forgets the least recently set key past its limit', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2).set('a', 3).set('c', 4);
    expect([...m]).toEqual([['a', 3], ['c', 4]]);
  });

  it('keeps the order when the key set last is set again', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2).set('b', 3).set('b', 4).set('c', 5);
    expect([...m]).toEqual([['b', 4], ['c', 5]]);
  });

  it('stays within its limit when the key set last is deleted and set again', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2);
    m.delete('b');
    m.set('b', 3).set('c', 4);
    expect([...m]).toEqual([['b', 3], ['c', 4]]);
    m.clear();
    m.set('c', 5).set('d', 6).set('e', 7);
    expect([...m]).toEqual([['d', 6], ['e', 7]]);
  });
});
