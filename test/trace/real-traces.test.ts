/**
 * The reader against the five real Linux 6.12 traces: every dma, iommu and swiotlb line parses,
 * and printing the record back with the model's printer gives the fields text byte for byte.
 * Skipped when the shared traces are not beside the checkout.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { traceEventFields } from '../../src/kernel/dma/trace.js';
import { readTraceFile } from '../../src/trace/file.js';
import { EVENT_PARSERS, isModelTraceEvent, parseTrace } from '../../src/trace/index.js';
import type { TraceRecord } from '../../src/trace/index.js';

import { DIR, NAMES } from './real.js';
const PARSED =
  /: (dma_(?!pool)\w+|map|unmap|add_device_to_group|attach_device_to_domain|swiotlb_bounced): /;

/** The fields text of a raw line: after "<timestamp>: <event>: ". */
function fieldsOf(line: string, rec: TraceRecord): string {
  const at = line.indexOf(`${rec.timestamp}: `) + rec.timestamp.length + 2;
  return line.slice(at + line.slice(at).indexOf(': ') + 2);
}

describe.skipIf(!existsSync(DIR))('the real traces', () => {
  for (const name of NAMES) {
    it(`${name}: every event line round-trips through the model's printer`, () => {
      const text = readFileSync(new URL(`${name}.trace`, DIR), 'utf8');
      const lines = text.split('\n');
      const { records, summary } = parseTrace(text, { file: `${name}.trace` });
      const wanted = lines.filter((l) => !l.startsWith('#') && PARSED.test(l)).length;
      expect(records.length).toBe(wanted);
      expect(summary.events).toBe(wanted);
      expect(summary.badLines).toBe(0);
      for (const rec of records) {
        const line = lines[rec.line - 1]!;
        expect(isModelTraceEvent(rec.ev)).toBe(true);
        if (!isModelTraceEvent(rec.ev)) continue;
        expect(traceEventFields(rec.ev), `${name}:${rec.line}`).toBe(fieldsOf(line, rec));
        expect(line).toContain(`${rec.task}-${rec.pid}`);
      }
      const counted = Object.values(summary.byEvent).reduce((a, b) => a + b, 0);
      expect(counted).toBe(lines.filter((l) => l !== '' && !l.startsWith('#')).length);
    });
  }

  it('counts the events it skips, by name', () => {
    const text = readFileSync(new URL('B_e1000_iommu_strict.trace', DIR), 'utf8');
    const names = text
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => /: (\w+): /.exec(l.slice(l.indexOf('] ')))?.[1] ?? '?');
    const count = (keep: (n: string) => boolean): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const n of names.filter(keep)) out[n] = (out[n] ?? 0) + 1;
      return out;
    };
    const { summary } = parseTrace(text);
    expect(summary.byEvent).toEqual(count(() => true));
    expect(summary.skipped).toEqual(count((n) => !EVENT_PARSERS.has(n)));
    expect(Object.keys(summary.skipped)).toContain('qi_submit');
  });

  it('streams a file and returns the same records as the whole-string parse', async () => {
    const path = new URL('E_nvme_direct.trace', DIR).pathname;
    const gen = readTraceFile(path);
    const got: TraceRecord[] = [];
    let r = await gen.next();
    while (r.done !== true) {
      got.push(r.value);
      r = await gen.next();
    }
    const want = parseTrace(readFileSync(path, 'utf8'), { file: path });
    expect(got).toEqual(want.records);
    expect(r.value).toEqual(want.summary);
  });

  it('keeps the columns: task with "/" and ":", flags, the exact timestamp and ns', () => {
    const { records } = parseTrace(readFileSync(new URL('E_nvme_direct.trace', DIR), 'utf8'));
    const kw = records.find((x) => x.task.startsWith('kworker/'));
    expect(kw).toBeDefined();
    const first = records[0]!;
    expect(first.timestampNs).toBe(
      Number(first.timestamp.split('.')[0]) * 1e9 + Number(first.timestamp.split('.')[1]) * 1e3,
    );
    expect(first.flags).toMatch(/^[^ ]{5}$/);
  });
});
