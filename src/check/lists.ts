/**
 * Small helpers for the checkers' bookkeeping, which runs on every map and unmap (DESIGN
 * "Performance"): no allocation per call.
 */

/**
 * Counts the entries of a Map that were emptied but kept (deleting a key and adding it back on
 * the next map costs far more than keeping it); drops them all once they are many and outnumber
 * the live ones, so memory stays bounded by what is live.
 */
export class EmptiedKeys<K, V> {
  private n = 0;

  constructor(
    private readonly map: Map<K, V>,
    private readonly isEmpty: (v: V) => boolean,
  ) {}

  /** An entry became empty. @returns true when the empty entries were dropped just now */
  emptied(): boolean {
    if (++this.n < 1024 || this.n * 2 < this.map.size) return false;
    for (const [k, v] of this.map) if (this.isEmpty(v)) this.map.delete(k);
    this.n = 0;
    return true;
  }

  /** An empty entry is in use again. */
  refilled(): void {
    this.n--;
  }
}

/**
 * An ordered list whose storage never shrinks: a JS array emptied by pop() or `length` gives its
 * storage back and allocates it again on the next push, which on a map/unmap cycle is most of the
 * cost of the list.
 */
export class SeqList<T> {
  private readonly items: (T | undefined)[] = [];
  /** How many items. */
  n = 0;

  /** Item `i` (0 <= i < n). */
  at(i: number): T {
    return this.items[i] as T;
  }

  push(x: T): void {
    this.items[this.n++] = x;
  }

  /** Removes and returns the last item, or undefined when empty. */
  pop(): T | undefined {
    if (this.n === 0) return undefined;
    const x = this.items[--this.n];
    this.items[this.n] = undefined;
    return x;
  }

  /** Removes the first `x`, keeping the order of the rest. */
  remove(x: T): boolean {
    const items = this.items;
    const n = this.n;
    let i = 0;
    while (i < n && items[i] !== x) i++;
    if (i === n) return false;
    for (let j = i + 1; j < n; j++) items[j - 1] = items[j];
    items[n - 1] = undefined;
    this.n = n - 1;
    return true;
  }
}
