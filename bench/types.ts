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
  /** Published figures of the real kernel, printed beside the value for comparison only. */
  readonly kernelFigures?: readonly KernelFigure[];
  /** What the figure and its comparison mean (printed under the table). */
  readonly note?: string;
}

/** One published measurement of the real kernel (e.g. dma_map_benchmark, facts §9.3). */
export interface KernelFigure {
  /** Who published it, where. */
  readonly source: string;
  /** Machine, options and what is not stated. */
  readonly setup: string;
  /** Average dma_map latency, µs. */
  readonly mapUs: number;
  /** Average dma_unmap latency, µs. */
  readonly unmapUs: number;
  /** 1e6 / (mapUs + unmapUs): map+unmap pairs per second of one thread. */
  readonly pairsPerSecPerThread: number;
}

export interface Benchmark {
  readonly name: string;
  run(): BenchResult | Promise<BenchResult>;
}
