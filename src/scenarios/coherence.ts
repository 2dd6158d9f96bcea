/**
 * The first demonstration: one CPU-write / device-read sequence, and its reverse, on a coherent
 * and a non-coherent device of the same machine. It shows why dma_sync_* exists: without a cache
 * clean the non-coherent device reads stale RAM, and without an invalidate the CPU reads its own
 * stale cache line instead of what the device wrote.
 */
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import { hex } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import { Machine } from '../machine/machine.js';
import type { MachineConfig } from '../machine/machine.js';
import { MemAttr } from '../machine/memory/attr.js';
import type { DmaPort } from '../machine/bus/dma-port.js';
import { ARCH_NAMES } from '../machine/profile.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

export interface Observation {
  /** Who looked: a device name or "cpu". */
  readonly who: string;
  readonly coherent: boolean | null;
  readonly bytes: Uint8Array;
  /** Whether the bytes are the ones most recently written by the other side. */
  readonly fresh: boolean;
  readonly why: string;
}

export interface Step {
  readonly action: string;
  readonly observations: readonly Observation[];
}

export interface CoherenceDemo {
  readonly arch: string;
  readonly seed: number;
  readonly phys: number;
  readonly steps: readonly Step[];
}

const MESSAGE = new TextEncoder().encode('hello, DMA!');
const REPLY = new TextEncoder().encode('device data');

/** Runs the demonstration on a fresh machine built from `cfg`. */
export function runCoherenceDemo(cfg: MachineConfig = {}): CoherenceDemo {
  const m = new Machine(cfg);
  return coherenceDemoOn(m, (m.physmap.ramBanks[0]?.base ?? 0) + 0x10_0000);
}

/** The demonstration on machine `m`, with the buffer at `phys` (free RAM). */
export function coherenceDemoOn(m: Machine, phys: number): CoherenceDemo {
  const coh = m.bus.attach({ name: 'coherent-dev', coherent: true });
  const non = m.bus.attach({ name: 'noncoherent-dev', coherent: false });
  const len = MESSAGE.length;
  const steps: Step[] = [];
  const look = (p: DmaPort, expect: Uint8Array, why: string): Observation => {
    const b = new Uint8Array(len);
    p.read(p.physToBus(phys), b, 0, len);
    const fresh = equal(b, expect);
    return { who: p.name, coherent: p.coherent, bytes: b, fresh, why };
  };

  m.cpu.write(phys, MESSAGE, 0, len, MemAttr.CACHEABLE);
  m.cpu.wmb();
  steps.push({
    action: `CPU stores "hello, DMA!" at ${hex(phys)} through a cacheable mapping (the line is dirty in the cache; RAM still holds zeros)`,
    observations: [
      look(coh, MESSAGE, 'snooped the dirty cache line'),
      look(non, MESSAGE, 'read RAM only: the line was never cleaned'),
    ],
  });

  m.cpu.dcacheClean(phys, len);
  steps.push({
    action: 'CPU cleans the lines (what dma_sync_single_for_device does for a non-coherent device)',
    observations: [look(non, MESSAGE, 'the clean wrote the line back to RAM')],
  });

  non.write(non.physToBus(phys), REPLY, 0, len);
  steps.push({
    action:
      'the non-coherent device writes "device data" to RAM; the CPU still has the old line cached',
    observations: [cpuLook(m, phys, len, 'read its clean but stale cache line')],
  });

  m.cpu.dcacheInval(phys, len);
  steps.push({
    action:
      'CPU invalidates the lines (what dma_sync_single_for_cpu does for a non-coherent device)',
    observations: [cpuLook(m, phys, len, 'the miss refilled the line from RAM')],
  });
  return { arch: m.profile.name, seed: m.seed, phys, steps };
}

function cpuLook(m: Machine, phys: number, len: number, why: string): Observation {
  const b = new Uint8Array(len);
  m.cpu.read(phys, b, 0, len, MemAttr.CACHEABLE);
  return { who: 'cpu', coherent: null, bytes: b, fresh: equal(b, REPLY), why };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** `dmasim run coherence`: the demonstration on the machine of the shared options. */
export const coherenceScenario: Scenario = {
  name: 'coherence',
  summary: 'CPU cache versus DMA: a coherent and a non-coherent device read what the CPU wrote',
  archs: ARCH_NAMES,
  params: [],
  examples: ['dmasim run coherence', 'dmasim run coherence --arch arm64 --json'],
  run(env: ScenarioEnv): void {
    const k = env.boot();
    const m = k.machine;
    const pfn = k.pages.allocPage(GFP_KERNEL);
    if (pfn === null) throw new ConfigError('coherence: no free page for the buffer (more --ram)');
    const d = coherenceDemoOn(m, k.pages.pageToPhys(pfn));
    let stale = 0;
    d.steps.forEach((s, i) => {
      env.say(`${i + 1}. ${s.action}`);
      for (const o of s.observations) {
        if (!o.fresh) stale++;
        const who =
          o.coherent === null ? o.who : `${o.who} (${o.coherent ? 'coherent' : 'non-coherent'})`;
        env.say(`   ${who}: "${ascii(o.bytes)}" ${o.fresh ? 'fresh' : 'STALE'}: ${o.why}`);
      }
    });
    env.count('steps', d.steps.length);
    env.count('stale reads', stale);
    env.count('buffer', hex(d.phys));
    env.count('simulated ns', m.clock.now);
  },
};

function ascii(b: Uint8Array): string {
  return Array.from(b, (v) => (v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : '.')).join('');
}
