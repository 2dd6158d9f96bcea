/**
 * `dmasim check <trace>`: audits a real kernel ftrace file (dma:* events) as dma-debug would and
 * prints the findings and per-device statistics. Exit status 0, 1 when --fail-on matched, 2 for
 * an unreadable or malformed trace (TraceParseError and the read errors are ConfigErrors, which
 * main() prints as "dmasim: <file>:<line>: ..." with status 2).
 *
 * The file streams through the reader and the auditor (trace-file.ts), so memory stays flat.
 */
import type { Command } from 'commander';
import { AUDITED_EVENTS, TraceAuditor } from '../trace/audit.js';
import type { AuditReport } from '../trace/audit.js';
import { auditJson } from '../trace/audit-json.js';
import type { AuditJson } from '../trace/audit-json.js';
import type { DeviceStats } from '../trace/audit-stats.js';
import type { TraceSummary } from '../trace/reader.js';
import { eachTraceRecord } from './trace-file.js';
import { alignTable, whereParts } from './format-report.js';
import type { CliIo } from './io.js';
import { parseKinds } from './run-command.js';

interface CheckFlags {
  json?: boolean;
  lenient?: boolean;
  failOn?: string[];
}

/** Findings shown in full per kind; warnings of --lenient shown in full. */
const FULL_PER_KIND = 3;
const WARNINGS_SHOWN = 5;

/** Reads and audits the file chunk by chunk. */
export function checkTraceFile(
  path: string,
  lenient: boolean,
): { report: AuditReport; summary: TraceSummary } {
  const auditor = new TraceAuditor();
  const summary = eachTraceRecord(
    path,
    lenient,
    (r) => {
      auditor.push(r);
    },
    AUDITED_EVENTS,
  );
  return { report: auditor.finish(summary), summary };
}

function counts(r: Readonly<Record<string, number>>): string {
  const e = Object.entries(r);
  return e.length === 0 ? 'none' : e.map(([k, n]) => `${k} ${n}`).join(', ');
}

function findingLines(doc: AuditJson): string[] {
  if (doc.findings.length === 0 && doc.errors + doc.warnings === 0) return ['Findings: none'];
  const out = [`Findings: ${doc.errors} errors, ${doc.warnings} warnings`];
  for (const [kind, n] of Object.entries(doc.findingCounts)) {
    const of = doc.findings.filter((f) => f.kind === kind);
    out.push(`  ${kind} (${n}, ${of[0]?.severity ?? 'error'})`);
    for (const f of of.slice(0, FULL_PER_KIND)) {
      out.push(`    line ${f.line}${f.device === '' ? '' : ` ${f.device}`}: ${f.message}`);
      const where = whereParts(f.addresses, f.size);
      if (f.mappedAt !== null) where.push(`see line ${f.mappedAt}`);
      if (where.length > 0) out.push(`      ${where.join(', ')}`);
    }
    if (n > FULL_PER_KIND) out.push(`    ... and ${n - FULL_PER_KIND} more`);
  }
  return out;
}

function deviceLines(name: string, s: DeviceStats): string[] {
  const r = s.dmaRange;
  const rows: string[][] = [
    ['streaming maps', `${s.maps} (${s.bytesMapped} bytes)`],
    ['failed maps / allocs', `${s.failedMaps} / ${s.failedAllocs}`],
    ['coherent bytes allocated', String(s.bytesAllocated)],
    [
      'live peak',
      `${s.live.peak}${s.live.peakLine === null ? '' : ` at ${s.live.peakTimestamp ?? ''} (line ${s.live.peakLine})`}`,
    ],
    ['live at end', String(s.live.atEnd)],
    [s.behindIommu ? 'IOVA range' : 'DMA range', r.min === null ? '-' : `${r.min}-${r.max ?? ''}`],
  ];
  if (s.noopFrees > 0) rows.push(['no-op frees (NULL, 0)', String(s.noopFrees)]);
  if (s.swiotlb.bounced > 0)
    rows.push(
      ['SWIOTLB bounces', String(s.swiotlb.bounced)],
      ['SWIOTLB slots high-water', `${s.swiotlb.slotsHighWater} (2 KiB slots)`],
    );
  const out = [`Device ${name}${s.behindIommu ? ' (behind an IOMMU)' : ''}`];
  out.push(...alignTable(rows, '  ', true));
  out.push(
    '  calls',
    ...alignTable(
      Object.entries(s.calls).map(([k, n]) => [k, String(n)]),
      '    ',
    ),
  );
  out.push(
    '  directions',
    ...alignTable(
      Object.entries(s.directions).map(([k, n]) => [k, String(n)]),
      '    ',
    ),
  );
  out.push(
    '  sizes',
    ...alignTable(
      Object.entries(s.sizes).map(([k, n]) => [k, String(n)]),
      '    ',
    ),
  );
  return out;
}

/** The report for a person at a terminal. */
export function formatCheck(doc: AuditJson): string {
  const t = doc.trace;
  const out = [
    `dmasim ${doc.dmasim}: check ${t.file}`,
    `  lines     ${t.lines}`,
    `  events    ${t.events} audited; not used by the audit (counted): ${counts(t.skipped)}`,
  ];
  if (t.lost > 0) out.push(`  lost      ${t.lost} events (the ring buffer overflowed)`);
  if (t.badLines > 0) out.push(`  bad lines ${t.badLines} (skipped, --lenient)`);
  out.push('', ...findingLines(doc), '');
  const pre = doc.preexisting;
  out.push(`Preexisting (unmap/free/sync of mappings made before the trace began): ${pre.count}`);
  for (const p of pre.first)
    out.push(
      `  line ${p.line} ${p.device}: ${p.event} ${p.bus}${p.size === null ? '' : ` size=${p.size}`}`,
    );
  const live = doc.liveAtEnd;
  out.push(`Live at end (not leaks: the trace shows no driver unbind): ${live.count}`);
  for (const l of live.first)
    out.push(`  line ${l.line} ${l.device}: ${l.event} ${l.bus} size=${l.size} ${l.direction}`);
  for (const [name, s] of Object.entries(doc.devices)) out.push('', ...deviceLines(name, s));
  return out.join('\n') + '\n';
}

function failOn(doc: AuditJson, kinds: readonly string[] | undefined): boolean {
  if (kinds === undefined) return false;
  if (kinds.includes('any') && doc.errors + doc.warnings > 0) return true;
  if (kinds.includes('error') && doc.errors > 0) return true;
  if (kinds.includes('warning') && doc.warnings > 0) return true;
  return Object.keys(doc.findingCounts).some((k) => kinds.includes(k));
}

export function addCheckCommand(
  program: Command,
  io: CliIo,
  version: string,
  status: { code: number },
): void {
  program
    .command('check')
    .description('audit a kernel ftrace file (dma:* events) as dma-debug would, with statistics')
    .argument('<trace>', 'the trace: /sys/kernel/tracing/trace text or trace-cmd report output')
    .option('--json', 'print one JSON document and nothing else')
    .option('--lenient', 'skip malformed lines with a warning instead of stopping (status 2)')
    .option(
      '--fail-on <kinds>',
      'exit with status 1 when a finding of these kinds (or any, error, warning) occurs',
      parseKinds,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ dmasim check trace.txt\n  $ dmasim check trace.txt --json --fail-on error',
    )
    .action((file: string, f: CheckFlags) => {
      const { report, summary } = checkTraceFile(file, f.lenient === true);
      for (const w of summary.warnings.slice(0, WARNINGS_SHOWN))
        io.stderr(`warning: ${w.message}\n`);
      if (summary.badLines > 0)
        io.stderr(`dmasim: ${summary.badLines} malformed lines skipped (--lenient)\n`);
      const doc = auditJson(report, summary, version);
      io.stdout(f.json === true ? JSON.stringify(doc, null, 2) + '\n' : formatCheck(doc));
      status.code = failOn(doc, f.failOn) ? 1 : 0;
    });
}
