/**
 * `trace/check`: what `dmasim check` does on the largest real trace
 * (../shared/traces/E_nvme_iommu_strict.trace): the streaming reader fed in 64 KiB chunks of bytes, each
 * record replayed by the auditor, the report built. Events (parsed records) per second.
 */
import { existsSync, readFileSync } from 'node:fs';
import { AUDITED_EVENTS, TraceAuditor } from '../../src/trace/audit.js';
import { TraceReader } from '../../src/trace/reader.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';

import { TRACE, chunksOf } from './real.js';

/** Parses and audits the whole trace once; returns its event count and error count. */
function checkOnce(chunks: readonly Uint8Array[]): {
  events: number;
  audited: number;
  errors: number;
} {
  const r = new TraceReader({ file: 'E_nvme_iommu_strict.trace', events: AUDITED_EVENTS });
  const a = new TraceAuditor();
  for (const c of chunks) for (const rec of r.pushBytes(c)) a.push(rec);
  for (const rec of r.end()) a.push(rec);
  const summary = r.summary();
  const events = Object.values(summary.byEvent).reduce((x, y) => x + y, 0);
  return { events, audited: summary.events, errors: a.finish(summary).errors };
}

export function benchTraceCheck(): BenchResult {
  const base = { name: 'trace/check', unit: 'events/s', target: 1e6, better: 'higher' } as const;
  if (!existsSync(TRACE))
    return {
      ...base,
      value: 0,
      note: `skipped, the real traces are not there (${TRACE.pathname})`,
    };
  const chunks = chunksOf(readFileSync(TRACE));
  const { events, audited, errors } = checkOnce(chunks);
  const rate = steadyRate(
    (n) => {
      for (let i = 0; i < n; i++) checkOnce(chunks);
    },
    { batch: 4, warmupMs: 1000, windows: 7, windowMs: 300 },
  );
  return {
    ...base,
    value: Math.round(rate * events),
    note: `dmasim check of E_nvme_iommu_strict.trace: ${events} events per pass, ${audited} of them audited (${errors} findings), 64 KiB chunks of bytes`,
  };
}
