/**
 * The report of one run, as the human summary and the JSON document (schema/run-report.schema.json)
 * both draw on it. Field names are stable: scripts and CI read them.
 */
import type { Finding } from '../check/findings.js';
import { hex } from '../lib/addr.js';
import type { LabelledFinding, ScenarioEnv } from './scenario.js';
import type { CheckerName, ParamValue, RunOptions } from './options.js';
import { kernelCmdline } from './options.js';
import type { RunStats } from './stats.js';

export type Severity = 'error' | 'warning';

export interface ReportFinding {
  readonly kind: string;
  readonly severity: Severity;
  readonly checker: CheckerName;
  /** The label of the kernel it was found on, when a scenario boots more than one. */
  readonly kernel: string;
  readonly device: string;
  readonly driver: string;
  readonly message: string;
  /** Hex strings; null where the finding has no such address. */
  readonly addresses: {
    readonly virt: string | null;
    readonly phys: string | null;
    readonly bus: string | null;
  };
  readonly size: number | null;
  /** Simulated ns. */
  readonly time: number;
  readonly origin: string | null;
  readonly fix: string | null;
}

export interface RunReport {
  readonly dmasim: string;
  readonly scenario: string;
  readonly config: {
    readonly arch: string;
    readonly ramSize: number;
    readonly iommu: string;
    readonly swiotlb: string;
    readonly swiotlbSize: number | null;
    /** The full kernel command line the options produced. */
    readonly cmdline: string;
    readonly coherent: boolean | null;
    readonly checkers: readonly CheckerName[];
    readonly params: Readonly<Record<string, ParamValue>>;
  };
  readonly seed: number;
  /** Counts, sizes and times the scenario reported, by name. */
  readonly happened: Readonly<Record<string, number | string>>;
  readonly narrative: readonly string[];
  /** One entry per kernel the scenario booted. */
  readonly stats: readonly { readonly kernel: string; readonly stats: RunStats }[];
  readonly findings: readonly ReportFinding[];
  /** Counts of findings by kind. */
  readonly findingCounts: Readonly<Record<string, number>>;
  /** Files written, by kind: { file, bytes }. */
  readonly outputs: Readonly<Record<string, { readonly file: string; readonly bytes: number }>>;
}

/**
 * Kinds that point at a risk, not a broken rule: where kmalloc put a buffer next to others in a
 * page the device can reach is worth knowing, but the driver did nothing wrong.
 */
const WARNINGS = new Set(['iommu-subpage-exposure']);

export function severityOf(kind: string): Severity {
  return WARNINGS.has(kind) ? 'warning' : 'error';
}

function toReportFinding(l: LabelledFinding): ReportFinding {
  const f: Finding = l.finding;
  return {
    kind: f.kind,
    severity: severityOf(f.kind),
    checker: l.checker,
    kernel: l.kernel,
    device: f.device,
    driver: f.driver,
    message: f.message,
    addresses: {
      virt: f.vaddr ?? null,
      phys: f.phys === undefined ? null : hex(f.phys),
      bus: f.dmaAddr === undefined ? null : hex(f.dmaAddr),
    },
    size: f.size ?? null,
    time: f.time,
    origin: f.origin ?? null,
    fix: f.fix ?? null,
  };
}

/** The report of a finished run; `outputs` names the files the caller wrote. */
export function buildReport(
  version: string,
  scenario: string,
  o: RunOptions,
  env: ScenarioEnv,
  outputs: RunReport['outputs'] = {},
): RunReport {
  const findings = env.findings().map(toReportFinding);
  const counts: Record<string, number> = {};
  for (const f of findings) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
  return {
    dmasim: version,
    scenario,
    config: {
      arch: o.arch,
      ramSize: o.ramSize,
      iommu: o.iommu,
      swiotlb: o.swiotlb,
      swiotlbSize: o.swiotlbSize ?? null,
      cmdline: kernelCmdline(o),
      coherent: o.coherent ?? null,
      checkers: o.checkers,
      params: o.params,
    },
    seed: o.seed,
    happened: Object.fromEntries(env.happened),
    narrative: env.narrative,
    stats: env.stats().map((s) => ({ kernel: s.label, stats: s.stats })),
    findings,
    findingCounts: counts,
    outputs,
  };
}
