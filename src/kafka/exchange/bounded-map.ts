// A Map that forgets its oldest entries past a size limit, for per-connection and per-process state
// that must not grow without bound on a long-running tracer.
export class BoundedMap<K, V> extends Map<K, V> {
  /** The key set last (when hasNewest). */
  private newest: K | undefined;
  private hasNewest = false;

  constructor(private readonly limit: number) {
    super();
  }

  override set(key: K, value: V): this {
    // A key set again moves to the newest end: deleted first, then added. The key set last is there
    // already (or, deleted since, is added there with the map no larger than before the delete), and
    // a delete and an add on a small Map make it rebuild its table: it is only set.
    if (this.hasNewest && this.newest === key) {
      super.set(key, value);
      return this;
    }
    this.delete(key);
    super.set(key, value);
    this.newest = key;
    this.hasNewest = true;
    if (this.size > this.limit) this.delete(this.keys().next().value as K);
    return this;
  }
}
