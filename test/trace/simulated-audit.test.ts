/**
 * `dmasim check` on the simulator's own trace agrees with the live checkers of the same run: the
 * same kinds for the same mistakes, nothing for a correct run.
 */
import { describe, expect, it } from 'vitest';
import { DmaDebug } from '../../src/check/dma-debug.js';
import { DmaDataDirection } from '../../src/kernel/dma/direction.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import { MIB } from '../../src/lib/units.js';
import { Machine } from '../../src/machine/machine.js';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import { findScenario } from '../../src/scenarios/registry.js';
import { runScenario } from '../../src/scenarios/run.js';
import { auditTrace } from '../../src/trace/audit.js';
import { parseTrace } from '../../src/trace/index.js';
import { FtraceRecorder } from '../../src/trace/writer.js';

function auditKinds(text: string): string[] {
  const { records, summary } = parseTrace(text, { file: 'sim.trace' });
  return auditTrace(records, summary).findings.map((f) => f.kind);
}

describe('dmasim check on a simulated trace', () => {
  it('finds nothing in a correct e1000 run, as the live checkers find nothing', () => {
    const r = runScenario(
      findScenario('e1000'),
      { ...DEFAULT_RUN_OPTIONS, iommu: 'strict', trace: true, params: { count: 3 } },
      'test',
    );
    expect(r.report.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(r.traces).toHaveLength(1);
    expect(auditKinds(r.traces[0]?.text ?? '')).toEqual([]);
  });

  it('names the same mistakes the live dma-debug names', () => {
    const dbg = new DmaDebug({ allErrors: true });
    const k = new Kernel(new Machine({ ramSize: 256 * MIB }), { dmaDebug: dbg });
    dbg.attach(k);
    const rec = new FtraceRecorder(k);
    const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
    const buf = k.kmalloc.kmalloc(4096, GFP_KERNEL);
    if (buf === null) throw new Error('kmalloc failed');
    const TO_DEVICE = DmaDataDirection.TO_DEVICE;
    const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;
    const a = k.dma.dmaMapSingle(dev, buf, 4096, TO_DEVICE);
    expect(k.dma.dmaMappingError(dev, a)).toBe(false);
    k.dma.dmaSyncSingleForCpu(dev, a, 64, FROM_DEVICE); // wrong direction
    k.dma.dmaUnmapSingle(dev, a, 2048, TO_DEVICE); // wrong size
    const b = k.dma.dmaMapSingle(dev, buf, 4096, TO_DEVICE);
    expect(k.dma.dmaMappingError(dev, b)).toBe(false);
    k.dma.dmaUnmapSingle(dev, b, 4096, FROM_DEVICE); // wrong direction
    const live = dbg.findings.all.map((f) => f.kind);
    // A FROM_DEVICE sync of a TO_DEVICE mapping breaks two of check_sync's rules.
    expect(live).toEqual([
      'sync-wrong-direction',
      'sync-device-read-only',
      'unmap-wrong-size',
      'unmap-wrong-direction',
    ]);
    expect(auditKinds(rec.text())).toEqual(live);
  });
});
