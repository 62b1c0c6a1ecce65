// How many Produce and Fetch responses reached the fast lane (src/kafka/lane/fast-lane.ts), and how many it
// took, while a function ran: tests that compare the lane with the schema decoder's path check that
// the lane was exercised at all. The method is wrapped by hand: a vitest spy keeps every call's
// arguments (the frames' bytes), which the fuzz tests' memory bounds would count.
import { FastLane } from '../../src/kafka/lane/fast-lane.js';

export function laneResponses(f: () => void): { tried: number; taken: number } {
  const counts = { tried: 0, taken: 0 };
  const respond = FastLane.prototype.respond;
  FastLane.prototype.respond = function (this: FastLane, ...args: Parameters<FastLane['respond']>): boolean {
    counts.tried++;
    const ok = respond.apply(this, args);
    if (ok) counts.taken++;
    return ok;
  };
  try {
    f();
  } finally {
    FastLane.prototype.respond = respond;
  }
  return counts;
}
