/**
 * `dmasim bench [--json] [name...]` and `npm run bench`: runs the benchmarks and prints a table, or one JSON
 * document `{ "results": [...] }` for tracking figures over time. Figures are reported, never
 * asserted: a slow machine must not fail the build.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BENCHMARKS } from './registry.js';
import type { BenchResult, KernelFigure } from './types.js';

const ONE = fileURLToPath(new URL('./one.js', import.meta.url));

/** Runs one benchmark in a fresh Node process (see one.ts). */
function runIsolated(name: string): BenchResult {
  return JSON.parse(
    execFileSync(process.execPath, [ONE, name], { encoding: 'utf8' }),
  ) as BenchResult;
}

function meets(r: BenchResult): boolean | undefined {
  if (r.target === undefined) return undefined;
  const v = r.ratio ?? r.value;
  return r.better === 'lower' ? v <= r.target : v >= r.target;
}

function fmt(n: number | undefined): string {
  if (n === undefined) return '';
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

function figureKey(f: KernelFigure): string {
  return `${f.source}|${f.setup}|${f.mapUs}|${f.unmapUs}`;
}

/** Footnote number of each distinct kernel figure, in order of first appearance. */
function figureIds(results: readonly BenchResult[]): Map<string, { id: number; f: KernelFigure }> {
  const ids = new Map<string, { id: number; f: KernelFigure }>();
  for (const f of results.flatMap((r) => r.kernelFigures ?? [])) {
    const key = figureKey(f);
    if (!ids.has(key)) ids.set(key, { id: ids.size + 1, f });
  }
  return ids;
}

function table(results: readonly BenchResult[]): string {
  const figs = figureIds(results);
  const withFigs = figs.size > 0;
  const head = ['benchmark', 'value', 'unit', 'baseline', 'ratio', 'target', 'ok'];
  if (withFigs) head.push('real kernel pairs/s/thread');
  const rows = results.map((r) => {
    const ok = meets(r);
    const target =
      r.target === undefined ? '' : `${r.better === 'lower' ? '<=' : '>='} ${fmt(r.target)}`;
    const row = [
      r.name,
      fmt(r.value),
      r.unit,
      fmt(r.baseline),
      fmt(r.ratio),
      target,
      ok === undefined ? '' : ok ? 'yes' : 'NO',
    ];
    if (withFigs) {
      row.push(
        (r.kernelFigures ?? [])
          .map(
            (f) =>
              `${(f.pairsPerSecPerThread / 1e6).toFixed(2)}M [${figs.get(figureKey(f))?.id ?? '?'}]`,
          )
          .join(', '),
      );
    }
    return row;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  if (withFigs) {
    out.push('', 'Real kernel: published figures, pairs/s/thread = 1/(map+unmap) (see the notes):');
    for (const { id, f } of figs.values()) {
      out.push(`[${id}] map ${f.mapUs} µs + unmap ${f.unmapUs} µs; ${f.source}; ${f.setup}`);
    }
  }
  const notes = new Map<string, string[]>();
  for (const r of results)
    if (r.note !== undefined) notes.set(r.note, [...(notes.get(r.note) ?? []), r.name]);
  for (const [note, names] of notes) out.push('', `${names.join(', ')}: ${note}`);
  return out.join('\n');
}

/** `dmasim bench` and `npm run bench`: @returns the exit status (2: unknown benchmark name). */
export function benchMain(
  args: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): number {
  const json = args.includes('--json');
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    err(
      `bench: unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`,
    );
    return 2;
  }
  const chosen = names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => names.includes(b.name));
  const results: BenchResult[] = [];
  for (const b of chosen) {
    if (!json) err(`running ${b.name}...\n`);
    results.push(runIsolated(b.name));
  }
  out(json ? JSON.stringify({ results }, null, 2) + '\n' : table(results) + '\n');
  return 0;
}
