/**
 * What a trace audit reports (audit.ts): findings with the line they were found on, the calls on
 * mappings made before the trace began, the mappings still live at its end, per-device statistics.
 */
import type { DeviceStats } from './audit-stats.js';

/** dma-debug's names of the mapping types (type2name), plus the 6.13+ noncoherent allocations. */
export type AuditEntryType = 'single' | 'scatter-gather' | 'coherent' | 'noncoherent' | 'resource';

export type AuditSeverity = 'error' | 'warning';

/** One misuse seen in the trace. */
export interface AuditFinding {
  /** Stable identifier; the live dma-debug checker's kind where it means the same. */
  readonly kind: string;
  readonly severity: AuditSeverity;
  /** dev_name of the device ("" for trace-wide findings). */
  readonly device: string;
  /** The kernel's dma-debug message (without the "DMA-API: <driver> <device>: " prefix). */
  readonly message: string;
  /** Line of the call in the trace file (0 for trace-wide findings). */
  readonly line: number;
  /** Its timestamp as printed ("" for trace-wide findings). */
  readonly timestamp: string;
  /** The event name of the call. */
  readonly event: string;
  /** Hex strings; null where the finding has no such address. virt is the hashed %p pointer. */
  readonly addresses: {
    readonly virt: string | null;
    readonly phys: string | null;
    readonly bus: string | null;
  };
  /** Bytes the call named. */
  readonly size: number | null;
  /** Line of the map or allocation the finding is about (or of the earlier unmap), if any. */
  readonly mappedAt: number | null;
}

/** A call on a mapping the trace did not see being made (the trace starts mid-flight). */
export interface PreexistingCall {
  readonly device: string;
  readonly event: string;
  readonly line: number;
  readonly bus: string;
  readonly size: number | null;
}

/** A mapping or allocation made in the trace and still live at its end. */
export interface LiveMapping {
  readonly device: string;
  readonly type: AuditEntryType;
  readonly event: string;
  readonly line: number;
  readonly timestamp: string;
  readonly bus: string;
  readonly size: number;
  readonly direction: string;
}

export interface AuditReport {
  readonly devices: Readonly<Record<string, DeviceStats>>;
  /** The first maxFindings findings, in trace order. */
  readonly findings: readonly AuditFinding[];
  /** Every finding counted by kind (also those past maxFindings). */
  readonly findingCounts: Readonly<Record<string, number>>;
  readonly errors: number;
  readonly warnings: number;
  readonly preexisting: {
    readonly count: number;
    readonly byEvent: Readonly<Record<string, number>>;
    readonly first: readonly PreexistingCall[];
  };
  /** Not leaks: the trace shows no driver unbind (the dma events have no such marker). */
  readonly liveAtEnd: {
    readonly count: number;
    readonly byDevice: Readonly<Record<string, number>>;
    readonly first: readonly LiveMapping[];
  };
}
