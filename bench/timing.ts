/** Timing helpers for benchmarks: best-of-N wall time, so a noisy neighbour does not skew ratios. */

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

/** Operations per second of `op`, called `n` times per timed run. */
export function rate(n: number, reps: number, op: (n: number) => void): number {
  const ms = bestOf(reps, () => {
    op(n);
  });
  return (n / ms) * 1000;
}
