// Requests awaiting their response on one connection, by correlation id, oldest first. Most
// connections have one request in flight at a time: a Map that goes from one entry to none
// shrinks its table, and the set and delete of every exchange then cost some 300 ns, several times
// the rest of pairing. The first request waits in a slot of its own instead; the Map holds only
// requests sent while it waits (pipelining), so the slot, when full, always holds the oldest.
// The Map's oldest is not found by iterating it: V8's Map keeps deleted entries as holes until it
// rehashes and iteration walks them, so when requests get no answer and each new one evicts the
// oldest, that cost some 2 µs per frame. Once an oldest is asked for, a queue of what is set keeps
// the order instead, until the Map is empty again.
export class PendingRequests<V extends object> {
  private slotId = 0;
  private slot: V | undefined;
  private readonly more = new Map<number, V>();
  /** The Map's ids and values in the order set, from `head` on; an entry whose id has gone or holds another value since is stale. */
  private order: { ids: number[]; values: V[]; head: number } | null = null;

  get size(): number {
    return (this.slot === undefined ? 0 : 1) + this.more.size;
  }

  get(id: number): V | undefined {
    if (this.slot !== undefined && this.slotId === id) return this.slot;
    return this.more.size === 0 ? undefined : this.more.get(id);
  }

  /** Adds a request as the newest (its id must not be waiting already). */
  set(id: number, value: V): void {
    if (this.slot === undefined && this.more.size === 0) {
      this.slotId = id;
      this.slot = value;
    } else {
      this.more.set(id, value);
      if (this.order) {
        this.order.ids.push(id);
        this.order.values.push(value);
        // Stale and passed entries go in one pass: the queue stays within twice the Map (+16).
        if (this.order.ids.length > 2 * this.more.size + 16) this.order = this.liveOrder(this.order);
      }
    }
  }

  delete(id: number): boolean {
    if (this.slot !== undefined && this.slotId === id) {
      this.slot = undefined;
      return true;
    }
    if (!this.more.delete(id)) return false;
    if (this.more.size === 0) this.order = null;
    return true;
  }

  clear(): void {
    this.slot = undefined;
    this.more.clear();
    this.order = null;
  }

  /** The oldest waiting request, if any. */
  oldest(): [number, V] | undefined {
    if (this.slot !== undefined) return [this.slotId, this.slot];
    if (this.more.size === 0) return undefined;
    const order = (this.order ??= { ids: [...this.more.keys()], values: [...this.more.values()], head: 0 });
    for (;;) {
      const id = order.ids[order.head]!;
      const value = order.values[order.head]!;
      if (this.more.get(id) === value) return [id, value];
      order.head++;
    }
  }

  /** The queue's entries that are still in the Map, in order. */
  private liveOrder(order: { ids: number[]; values: V[]; head: number }): { ids: number[]; values: V[]; head: number } {
    const live: { ids: number[]; values: V[]; head: number } = { ids: [], values: [], head: 0 };
    for (let i = order.head; i < order.ids.length; i++) {
      if (this.more.get(order.ids[i]!) !== order.values[i]) continue;
      live.ids.push(order.ids[i]!);
      live.values.push(order.values[i]!);
    }
    return live;
  }

  /** Waiting requests, oldest first. */
  *entries(): IterableIterator<[number, V]> {
    if (this.slot !== undefined) yield [this.slotId, this.slot];
    yield* this.more.entries();
  }
}
