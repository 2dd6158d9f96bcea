/**
 * What the checkers report: one Finding per misuse, kept in an in-memory list with counts by kind,
 * the kernel-log lines the checker printed, and a JSON form for scripts. Kinds are stable
 * identifiers (README "Checkers"); scripts and CI match on them.
 */
import type { DmaAddr, PhysAddr } from '../lib/addr.js';

/** One misuse the checker saw. */
export interface Finding {
  /** Stable identifier of the check, e.g. 'unmap-wrong-size' (README "Checkers"). */
  readonly kind: string;
  /** dev_name of the device, e.g. "0000:00:01.0"; "NULL" when there is none. */
  readonly device: string;
  /** dev_driver_string: the bound driver's name, else the bus name. */
  readonly driver: string;
  /** The kernel's message, without the "DMA-API: <driver> <device>: " prefix. */
  readonly message: string;
  /** Bus address the call named, when it named one. */
  readonly dmaAddr?: DmaAddr;
  /** CPU physical address of the mapping involved, when known. */
  readonly phys?: PhysAddr;
  /** Kernel virtual address as printed (%px), when the call passed one. */
  readonly vaddr?: string;
  /** Bytes the call named. */
  readonly size?: number;
  /** Simulated time of the call (of the access, for the coherence checker), in ns. */
  readonly time: number;
  /** The call that made the mapping involved, when the checker knows it (coherence checker). */
  readonly origin?: string;
  /** One line saying what to change (coherence checker). */
  readonly fix?: string;
  /** Whether it reached the kernel log (error limit and driver filter let it through). */
  readonly printed: boolean;
}

/** The JSON document of a checker's report. */
export interface FindingsJson {
  readonly errorCount: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly findings: readonly Finding[];
  readonly log: readonly string[];
}

/** The findings of one checker, in the order they happened. */
export class FindingList {
  private readonly items: Finding[] = [];
  private readonly byKind = new Map<string, number>();
  private readonly text: string[] = [];

  /** Records `f`. */
  add(f: Finding): void {
    this.items.push(f);
    this.byKind.set(f.kind, (this.byKind.get(f.kind) ?? 0) + 1);
  }

  /** Records a line the checker printed to the kernel log. */
  addLine(line: string): void {
    this.text.push(line);
  }

  /** Every finding so far. */
  get all(): readonly Finding[] {
    return this.items;
  }

  /** The findings of one kind. */
  ofKind(kind: string): Finding[] {
    return this.items.filter((f) => f.kind === kind);
  }

  /** How many findings of `kind` (0 if none). */
  count(kind: string): number {
    return this.byKind.get(kind) ?? 0;
  }

  /** Counts by kind, kinds in order of first appearance. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.byKind);
  }

  /** The lines printed to the kernel log, in order. */
  get lines(): readonly string[] {
    return this.text;
  }

  /** Forgets every finding and line. */
  clear(): void {
    this.items.length = 0;
    this.byKind.clear();
    this.text.length = 0;
  }

  toJSON(): FindingsJson {
    return {
      errorCount: this.items.length,
      counts: this.counts(),
      findings: this.items,
      log: this.text,
    };
  }
}
