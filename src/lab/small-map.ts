// A Map for the few interfaces of one host. A JavaScript Map starts with a hash table of several
// hundred bytes, and a big lab has one per host (100k hosts, most with one or two interfaces):
// this keeps up to SMALL entries in one array, in insertion order, and becomes a real Map past it.

/** Entries kept in the array: looked up by a scan, as fast as hashing for so few. */
export const SMALL = 8;

export class SmallMap<V> implements Map<string, V> {
  /** Keys and values alternating, in insertion order; null once `big` holds the entries. */
  private pairs: (string | V)[] | null = [];
  private big: Map<string, V> | null = null;

  get size(): number {
    return this.big ? this.big.size : this.pairs!.length / 2;
  }

  get [Symbol.toStringTag](): string {
    return 'Map';
  }

  private indexOf(key: string): number {
    const p = this.pairs!;
    for (let i = 0; i < p.length; i += 2) if (p[i] === key) return i;
    return -1;
  }

  get(key: string): V | undefined {
    if (this.big) return this.big.get(key);
    const i = this.indexOf(key);
    return i < 0 ? undefined : (this.pairs![i + 1] as V);
  }

  has(key: string): boolean {
    return this.big ? this.big.has(key) : this.indexOf(key) >= 0;
  }

  set(key: string, value: V): this {
    if (this.big) {
      this.big.set(key, value);
      return this;
    }
    const p = this.pairs!;
    const i = this.indexOf(key);
    if (i >= 0) p[i + 1] = value;
    // A new array of exactly the size needed: one grown by push keeps room for 17.
    else if (p.length < 2 * SMALL) this.pairs = p.concat([key, value]);
    else {
      this.big = new Map(this.entries());
      this.big.set(key, value);
      this.pairs = null;
    }
    return this;
  }

  delete(key: string): boolean {
    if (this.big) return this.big.delete(key);
    const i = this.indexOf(key);
    if (i >= 0) this.pairs!.splice(i, 2);
    return i >= 0;
  }

  clear(): void {
    this.big = null;
    this.pairs = [];
  }

  forEach(fn: (value: V, key: string, map: Map<string, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }

  /**
   * Entries added while iterating are seen, as with a Map: the length is read each step, and
   * once the entries move to a Map the iteration goes on there after those already given.
   * (Deleting while iterating is not supported: nothing needs it.)
   */
  entries(): MapIterator<[string, V]> {
    return this.walk(
      (p, i) => [p[i] as string, p[i + 1] as V],
      (big) => big.entries(),
    );
  }

  keys(): MapIterator<string> {
    return this.walk(
      (p, i) => p[i] as string,
      (big) => big.keys(),
    );
  }

  values(): MapIterator<V> {
    return this.walk(
      (p, i) => p[i + 1] as V,
      (big) => big.values(),
    );
  }

  /** What each entry gives (`at` from the pairs, `rest` from the Map), in the order above. */
  private *walk<T>(at: (pairs: (string | V)[], i: number) => T, rest: (big: Map<string, V>) => MapIterator<T>): MapIterator<T> {
    let given = 0;
    for (; this.pairs && 2 * given < this.pairs.length; given++) yield at(this.pairs, 2 * given);
    if (!this.big) return;
    let i = 0;
    for (const item of rest(this.big)) if (i++ >= given) yield item;
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}
