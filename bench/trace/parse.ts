/**
 * `trace/parse`: the streaming ftrace reader on the largest real trace
 * (../shared/traces/E_nvme_iommu_strict.trace, 8912 lines), fed in 64 KiB chunks of bytes as a file read
 * would feed it. Lines per second, every line counted (headers, skipped events and records).
 */
import { existsSync, readFileSync } from 'node:fs';
import { TraceReader } from '../../src/trace/reader.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';

import { TRACE, chunksOf } from './real.js';

/** Reads the whole trace once; returns its line count. */
function parseOnce(chunks: readonly Uint8Array[]): number {
  const r = new TraceReader({ file: 'E_nvme_iommu_strict.trace' });
  for (const c of chunks) r.pushBytes(c);
  r.end();
  return r.summary().lines;
}

export function benchTraceParse(): BenchResult {
  if (!existsSync(TRACE)) {
    return {
      name: 'trace/parse',
      value: 0,
      unit: 'lines/s',
      target: 1e6,
      better: 'higher',
      note: `skipped, the real traces are not there (${TRACE.pathname})`,
    };
  }
  const chunks = chunksOf(readFileSync(TRACE));
  const lines = parseOnce(chunks);
  const rate = steadyRate(
    (n) => {
      for (let i = 0; i < n; i++) parseOnce(chunks);
    },
    { batch: 4, warmupMs: 1000, windows: 7, windowMs: 300 },
  );
  return {
    name: 'trace/parse',
    value: Math.round(rate * lines),
    unit: 'lines/s',
    target: 1e6,
    better: 'higher',
    note: `${lines} lines of E_nvme_iommu_strict.trace per pass, 64 KiB chunks of bytes`,
  };
}
