/**
 * Timing helpers for benchmarks. Figures are steady-state bests: the JIT needs a second or so
 * (tens of millions of calls) before a hot path is fully optimised, so rates are measured after a
 * warm-up; and on a shared machine interference only ever slows a run down, so the best of
 * several runs is the figure that describes the code rather than the neighbours.
 */

/** Runs fn `reps` times after one warm-up run and returns the fastest run in milliseconds. */
export function bestOf(reps: number, fn: () => void): number {
  fn();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

export interface RateOptions {
  /** Calls of `op` per batch (one timing check per batch). */
  readonly batch?: number;
  readonly warmupMs?: number;
  readonly windows?: number;
  readonly windowMs?: number;
}

/** Operations per second of `op(n)` (which performs n operations): the best window. */
export function steadyRate(op: (n: number) => void, opts: RateOptions = {}): number {
  const batch = opts.batch ?? 1 << 18;
  const over = (ms: number): number => {
    let n = 0;
    const t0 = performance.now();
    let elapsed = 0;
    while (elapsed < ms) {
      op(batch);
      n += batch;
      elapsed = performance.now() - t0;
    }
    return n / (elapsed / 1000);
  };
  over(opts.warmupMs ?? 1500);
  const rates = Array.from({ length: opts.windows ?? 7 }, () => over(opts.windowMs ?? 200));
  return Math.max(...rates);
}
