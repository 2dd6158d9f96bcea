/**
 * The JSON document of `dmasim check`: the trace's counts, per-device statistics, the findings
 * (field names as in the run report's findings where they overlap), preexisting calls and the
 * mappings live at the end.
 */
import type { DeviceStats } from './audit-stats.js';
import type { AuditFinding, AuditReport } from './audit-types.js';
import type { TraceSummary } from './reader.js';

export interface AuditJson {
  readonly dmasim: string;
  /** The reader's summary without its warnings (--lenient prints those on stderr). */
  readonly trace: Omit<TraceSummary, 'warnings'>;
  readonly devices: Readonly<Record<string, DeviceStats>>;
  readonly errors: number;
  readonly warnings: number;
  readonly findingCounts: Readonly<Record<string, number>>;
  readonly findings: readonly AuditFinding[];
  readonly preexisting: AuditReport['preexisting'];
  readonly liveAtEnd: AuditReport['liveAtEnd'];
}

/** The document for `report` of the trace `summary` describes. */
export function auditJson(report: AuditReport, summary: TraceSummary, version: string): AuditJson {
  return {
    dmasim: version,
    trace: withoutWarnings(summary),
    devices: report.devices,
    errors: report.errors,
    warnings: report.warnings,
    findingCounts: report.findingCounts,
    findings: report.findings,
    preexisting: report.preexisting,
    liveAtEnd: report.liveAtEnd,
  };
}

function withoutWarnings(s: TraceSummary): Omit<TraceSummary, 'warnings'> {
  const { file, lines, events, byEvent, skipped, lost, badLines } = s;
  return { file, lines, events, byEvent, skipped, lost, badLines };
}
