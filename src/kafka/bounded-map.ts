// A Map that forgets its oldest entries past a size limit, for per-connection and per-process state
// that must not grow without bound on a long-running tracer.
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }

  override set(key: K, value: V): this {
    // Deleted first so that a key set again moves to the newest end.
    this.delete(key);
    super.set(key, value);
    if (this.size > this.limit) this.delete(this.keys().next().value as K);
    return this;
  }
}
