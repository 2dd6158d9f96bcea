/**
 * `dmasim fidelity <trace>`: how closely the simulated kernel's algorithms reproduce a real
 * trace's addresses — the IOVAs of a trace recorded behind an IOMMU (the allocation sequence
 * replayed through the simulated IOVA allocator) and the bounce slots of a swiotlb=force trace
 * (through the simulated slot search). The trace is held in memory for the comparison.
 */
import type { Command } from 'commander';
import { iovaAgreement } from '../trace/fidelity.js';
import type { FidelityReport } from '../trace/fidelity.js';
import { swiotlbAgreement } from '../trace/fidelity-swiotlb.js';
import type { TraceRecord } from '../trace/reader.js';
import { alignTable } from './format-report.js';
import type { CliIo } from './io.js';
import { eachTraceRecord } from './trace-file.js';

interface FidelityJson {
  readonly dmasim: string;
  readonly trace: { readonly file: string; readonly lines: number; readonly events: number };
  /** Null when the trace shows no IOMMU (no iommu:map events) or no bouncing. */
  readonly iova: FidelityReport | null;
  readonly swiotlb: FidelityReport | null;
}

function section(title: string, r: FidelityReport | null, why: string): string[] {
  if (r === null) return [`${title}: not compared (${why})`];
  const out = [
    `${title}: ${r.percent.toFixed(2)}% (${r.agreed} of ${r.compared} at the recorded address)`,
    ...alignTable([
      ['unmaps of mappings made before the trace began', String(r.preexisting)],
      ['maps not replayable', String(r.skipped)],
    ]),
  ];
  if (r.firstDivergences.length > 0) {
    out.push('  first divergences (line, event, recorded, simulated):');
    out.push(
      ...alignTable(
        r.firstDivergences.map((d) => [
          `line ${d.line}`,
          d.event,
          `0x${d.recorded.toString(16)}`,
          `0x${d.simulated.toString(16)}`,
        ]),
        '    ',
      ),
    );
  }
  return out;
}

function bigints(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
}

export function addFidelityCommand(program: Command, io: CliIo, version: string): void {
  program
    .command('fidelity')
    .description("compare a real trace's IOVAs and bounce slots with the simulated kernel's")
    .argument('<trace>', 'a trace recorded behind an IOMMU, or with swiotlb=force')
    .option('--json', 'print one JSON document and nothing else')
    .addHelpText(
      'after',
      '\nExamples:\n  $ dmasim fidelity iommu-strict.trace\n  $ dmasim fidelity swiotlb-force.trace --json',
    )
    .action((file: string, f: { json?: boolean }) => {
      const records: TraceRecord[] = [];
      const summary = eachTraceRecord(file, false, (r) => {
        records.push(r);
      });
      const iommu = records.some((r) => r.ev.event === 'map');
      const bounced = records.some((r) => r.ev.event === 'swiotlb_bounced');
      const doc: FidelityJson = {
        dmasim: version,
        trace: { file, lines: summary.lines, events: summary.events },
        iova: iommu ? iovaAgreement(records) : null,
        swiotlb: bounced ? swiotlbAgreement(records) : null,
      };
      if (f.json === true) {
        io.stdout(JSON.stringify(doc, bigints, 2) + '\n');
        return;
      }
      const out = [
        `dmasim ${version}: fidelity ${file} (${summary.lines} lines, ${summary.events} events)`,
        '',
        ...section('IOVA agreement', doc.iova, 'no iommu:map events'),
        '',
        ...section('SWIOTLB slot agreement', doc.swiotlb, 'no swiotlb_bounced events'),
      ];
      io.stdout(out.join('\n') + '\n');
    });
}
