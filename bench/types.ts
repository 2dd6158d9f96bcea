/** One figure of `npm run bench`; `ratio` = value / baseline, judged against `target`. */
export interface BenchResult {
  /** Stable name, e.g. `machine/device-read`, so figures can be tracked over time. */
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The goal, compared with `ratio` when there is one, else with `value`. */
  readonly target?: number;
  /** The native operation measured in the same run, where the figure is a ratio. */
  readonly baseline?: number;
  readonly ratio?: number;
  /** Which way is better; default higher. */
  readonly better?: 'higher' | 'lower';
}

export interface Benchmark {
  readonly name: string;
  run(): BenchResult | Promise<BenchResult>;
}
