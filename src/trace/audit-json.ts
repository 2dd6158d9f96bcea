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
  readonly trace: {
    readonly file: string;
    readonly lines: number;
    readonly events: number;
    readonly byEvent: Readonly<Record<string, number>>;
    readonly skipped: Readonly<Record<string, number>>;
    readonly lost: number;
    readonly badLines: number;
  };
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
    trace: {
      file: summary.file,
      lines: summary.lines,
      events: summary.events,
      byEvent: summary.byEvent,
      skipped: summary.skipped,
      lost: summary.lost,
      badLines: summary.badLines,
    },
    devices: report.devices,
    errors: report.errors,
    warnings: report.warnings,
    findingCounts: report.findingCounts,
    findings: report.findings,
    preexisting: report.preexisting,
    liveAtEnd: report.liveAtEnd,
  };
}
