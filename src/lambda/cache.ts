/** A size-bounded least-recently-used map whose entries expire. Map iteration order is insertion order. */
export class TtlLru<K, V> {
  private readonly map = new Map<K, { value: V; expiresAt: number }>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.map.size;
  }

  /** The value if present and not expired at `nowMs`; a hit becomes the most recently used entry. */
  get(key: K, nowMs: number): { value: V } | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (nowMs >= e.expiresAt) {
      this.map.delete(key);
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, e);
    return { value: e.value };
  }

  set(key: K, value: V, expiresAt: number): void {
    if (this.max <= 0) return;
    this.map.delete(key);
    this.map.set(key, { value, expiresAt });
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}
