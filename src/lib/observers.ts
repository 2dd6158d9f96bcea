/**
 * A list of observers with an `on` flag: emitters test `on` before building what they would send,
 * so with nobody listening the cost is one branch.
 */
export class Observers<T> {
  /** True when at least one observer listens. */
  on = false;
  private list: ((v: T) => void)[] = [];

  /** Adds an observer; the returned function removes it. */
  subscribe(fn: (v: T) => void): () => void {
    this.list = [...this.list, fn];
    this.on = true;
    return () => {
      this.list = this.list.filter((x) => x !== fn);
      this.on = this.list.length > 0;
    };
  }

  /** Sends `v` to every observer. */
  readonly emit = (v: T): void => {
    for (const fn of this.list) fn(v);
  };
}
