/** The run report for a person at a terminal: header, what happened, findings, statistics. */
import type { ReportFinding, RunReport } from '../scenarios/report.js';
import type { RunStats } from '../scenarios/stats.js';

/** Findings shown in full per kind; the rest are counted. */
const FULL_PER_KIND = 3;

/** Rows of cells as aligned columns: the first column left-aligned, the others right-aligned unless `left`. */
export function alignTable(
  rows: readonly (readonly string[])[],
  indent = '  ',
  left = false,
): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === 0 || left ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
  );
}

function bytes(n: number): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} B`;
}

function header(r: RunReport): string[] {
  const c = r.config;
  const swiotlb = c.swiotlbSize === null ? c.swiotlb : `${c.swiotlb}, ${bytes(c.swiotlbSize)}`;
  const params = Object.entries(c.params).map(([k, v]) => `--${k} ${String(v)}`);
  return [
    `dmasim ${r.dmasim}: ${r.scenario}${params.length > 0 ? ` (${params.join(' ')})` : ''}`,
    `  machine   ${c.arch}, ${bytes(c.ramSize)} RAM, IOMMU ${c.iommu}, SWIOTLB ${swiotlb}${c.coherent === null ? '' : c.coherent ? ', devices coherent' : ', devices non-coherent'}`,
    `  cmdline   ${c.cmdline === '' ? '(empty)' : c.cmdline}`,
    `  checkers  ${c.checkers.length === 0 ? 'none' : c.checkers.join(', ')}`,
    `  seed      ${r.seed}`,
  ];
}

/** "virt ..., phys ..., bus ..., N bytes" parts of a finding, those it has. */
export function whereParts(a: ReportFinding['addresses'], size: number | null): string[] {
  return [
    a.virt === null ? '' : `virt ${a.virt}`,
    a.phys === null ? '' : `phys ${a.phys}`,
    a.bus === null ? '' : `bus ${a.bus}`,
    size === null ? '' : `${size} bytes`,
  ].filter((s) => s !== '');
}

function finding(f: ReportFinding): string[] {
  const where = whereParts(f.addresses, f.size);
  const out = [`    ${f.device} (${f.driver}) at ${f.time} ns: ${f.message}`];
  // dma-debug and the coherence checker print the addresses in the message already.
  if (where.length > 0 && !f.message.includes(' address=')) out.push(`      ${where.join(', ')}`);
  if (f.origin !== null) out.push(`      mapped by ${f.origin}`);
  if (f.fix !== null) out.push(`      fix: ${f.fix}`);
  return out;
}

function findings(r: RunReport): string[] {
  if (r.findings.length === 0) return ['Findings: none'];
  const out = [`Findings: ${r.findings.length}`];
  const kinds = [...new Set(r.findings.map((f) => f.kind))];
  for (const kind of kinds) {
    const all = r.findings.filter((f) => f.kind === kind);
    const first = all[0];
    const label = first === undefined ? '' : ` [${first.severity}, ${first.checker}]`;
    out.push(`  ${kind}${label}: ${all.length}`);
    for (const f of all.slice(0, FULL_PER_KIND)) out.push(...finding(f));
    if (all.length > FULL_PER_KIND) out.push(`    ... and ${all.length - FULL_PER_KIND} more`);
  }
  return out;
}

export function statsLines(s: RunStats): string[] {
  const rows: string[][] = [
    ['kernel command line', s.cmdline === '' ? '(empty)' : s.cmdline],
    ['RAM', bytes(s.ramBytes)],
    ['simulated time', `${(s.simulatedNs / 1e6).toFixed(3)} ms`],
    ['cache hits / misses', `${s.cache.hits} / ${s.cache.misses}`],
    ['cache write-backs / evictions', `${s.cache.writebacks} / ${s.cache.evictions}`],
    ['lines cleaned / invalidated', `${s.cache.linesCleaned} / ${s.cache.linesInvalidated}`],
  ];
  if (s.iotlb !== null)
    rows.push(
      ['IOTLB hits / misses', `${s.iotlb.hits} / ${s.iotlb.misses}`],
      ['IOTLB invalidation requests', String(s.iotlb.invalidationRequests)],
      [
        'IOTLB invalidation CPU time',
        `${(s.iotlb.invalidationWaitNs / 1000).toFixed(1)} µs (${s.iotlb.invalidationNs} ns each)`,
      ],
      ['IOTLB entries invalidated / faults', `${s.iotlb.invalidations} / ${s.iotlb.faults}`],
    );
  if (s.iova !== null)
    rows.push([
      'IOVA mapped now / peak',
      `${bytes(s.iova.liveBytes)} / ${bytes(s.iova.peakBytes)}`,
    ]);
  if (s.swiotlb !== null)
    rows.push(
      [
        'SWIOTLB slots used / high-water',
        `${s.swiotlb.used} / ${s.swiotlb.highWater} of ${s.swiotlb.slots}`,
      ],
      ['SWIOTLB bounces', String(s.swiotlb.bounces)],
    );
  rows.push([
    'DMA mappings live / peak',
    `${s.mappings.live} / ${s.mappings.peak} (at ${s.mappings.peakAtNs} ns)`,
  ]);
  for (const z of s.zones)
    rows.push([`zone ${z.name} free / managed pages`, `${z.freePages} / ${z.managedPages}`]);
  return alignTable(rows);
}

export function formatReport(r: RunReport): string {
  const out = [...header(r), ''];
  if (r.narrative.length > 0) out.push(...r.narrative.map((l) => `  ${l}`), '');
  const happened = Object.entries(r.happened).map(([k, v]) => [k, String(v)]);
  if (happened.length > 0) out.push('What happened:', ...alignTable(happened), '');
  out.push(...findings(r), '');
  for (const s of r.stats) {
    out.push(s.kernel === '' ? 'Statistics:' : `Statistics (${s.kernel}):`, ...statsLines(s.stats));
    out.push('');
  }
  const files = Object.entries(r.outputs);
  if (files.length > 0) {
    out.push('Files:');
    out.push(...alignTable(files.map(([k, f]) => [k, f.file, `${f.bytes} bytes`])));
  }
  return out.join('\n').trimEnd() + '\n';
}
