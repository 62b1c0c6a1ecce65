// Requests awaiting their response on one connection, by correlation id, oldest first. Most
// connections have one request in flight at a time: a Map that goes from one entry to none
// shrinks its table, and the set and delete of every exchange then cost some 300 ns, several times
// the rest of pairing. The first request waits in a slot of its own instead; the Map holds only
// requests sent while it waits (pipelining), so the slot, when full, always holds the oldest.
export class PendingRequests<V> {
  private slotId = 0;
  private slot: V | undefined;
  private readonly more = new Map<number, V>();

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
    }
  }

  delete(id: number): boolean {
    if (this.slot !== undefined && this.slotId === id) {
      this.slot = undefined;
      return true;
    }
    return this.more.delete(id);
  }

  clear(): void {
    this.slot = undefined;
    this.more.clear();
  }

  /** The oldest waiting request, if any. */
  oldest(): [number, V] | undefined {
    if (this.slot !== undefined) return [this.slotId, this.slot];
    return this.more.entries().next().value;
  }

  /** Waiting requests, oldest first. */
  *entries(): IterableIterator<[number, V]> {
    if (this.slot !== undefined) yield [this.slotId, this.slot];
    yield* this.more.entries();
  }
}
