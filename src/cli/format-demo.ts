/** Text rendering of the coherence demonstration for a terminal. */
import type { CoherenceDemo, Observation } from '../scenarios/coherence.js';

function show(b: Uint8Array): string {
  const hexes = Array.from(b, (v) => v.toString(16).padStart(2, '0')).join(' ');
  const text = Array.from(b, (v) => (v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : '.')).join(
    '',
  );
  return `${hexes}  "${text}"`;
}

function row(o: Observation): string {
  const who =
    o.coherent === null ? o.who : `${o.who} (${o.coherent ? 'coherent' : 'non-coherent'})`;
  return `    ${who.padEnd(34)} ${show(o.bytes)}  ${o.fresh ? 'fresh' : 'STALE'}: ${o.why}`;
}

export function formatDemo(d: CoherenceDemo): string {
  const lines = [`dmasim demo: CPU cache versus DMA (arch ${d.arch}, seed ${d.seed})`, ''];
  d.steps.forEach((s, i) => {
    lines.push(`${i + 1}. ${s.action}`);
    for (const o of s.observations) lines.push(row(o));
    lines.push('');
  });
  lines.push(
    'A coherent device snoops the CPU cache; a non-coherent one sees RAM only, so the driver',
  );
  lines.push(
    'must clean before the device reads and invalidate before the CPU reads (dma_sync_*).',
  );
  return lines.join('\n') + '\n';
}
