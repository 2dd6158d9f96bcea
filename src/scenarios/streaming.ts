/**
 * Streaming DMA in every direction, done right and with one call left out. A small PCI driver maps
 * kmalloc buffers with dma_map_single, and the device really reads and writes them through its
 * DmaPort: a transmit (DMA_TO_DEVICE), a receive (DMA_FROM_DEVICE) and a request/reply in one
 * buffer (DMA_BIDIRECTIONAL), each used twice as drivers recycle buffers. With --mistake the
 * driver never makes one call; on a non-coherent device the bytes go stale where the call was
 * missing, and the checkers name the call. The driver unbinds at the end, so a mapping it never
 * unmapped is reported as dma-debug's leak.
 */
import type { DmaAddr, VirtAddr } from '../lib/addr.js';
import { hex } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import type { Device } from '../kernel/device/device.js';
import type { PciDriver } from '../kernel/device/driver.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { Kernel } from '../kernel/kernel.js';
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import type { DmaPort } from '../machine/bus/dma-port.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

export const STREAMING_MISTAKES = [
  'none',
  'no-sync-for-cpu',
  'no-sync-for-device',
  'no-unmap',
] as const;
type Mistake = (typeof STREAMING_MISTAKES)[number];

const TO_DEVICE = DmaDataDirection.TO_DEVICE;
const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;
const BIDIRECTIONAL = DmaDataDirection.BIDIRECTIONAL;
const DIR_NAMES = new Map([
  [TO_DEVICE, 'DMA_TO_DEVICE'],
  [FROM_DEVICE, 'DMA_FROM_DEVICE'],
  [BIDIRECTIONAL, 'DMA_BIDIRECTIONAL'],
]);

/** QEMU's pci-testdev ids: a plain bus master with no driver of its own in the model. */
const TESTDEV = { vendor: 0x1b36, device: 0x0005 };
const DRIVER = 'dmasim-stream';

/** One streaming mapping the driver holds. */
interface Mapping {
  readonly buf: VirtAddr;
  readonly dma: DmaAddr;
  readonly dir: DmaDataDirection;
}

/** `size` bytes of `text` repeated: readable in the narrative when a look shows stale bytes. */
function pattern(text: string, size: number): Uint8Array {
  const t = new TextEncoder().encode(text);
  return Uint8Array.from({ length: size }, (_, i) => t[i % t.length] ?? 0);
}

function ascii(b: Uint8Array, n = 24): string {
  const s = Array.from(b.subarray(0, n), (v) =>
    v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : '.',
  );
  return s.join('') + (b.length > n ? '…' : '');
}

/** The driver: every DMA API call goes through here, so the mistake can leave one out. */
class StreamingDriver {
  staleBytes = 0;
  staleLooks = 0;
  looks = 0;
  bytesMoved = 0;
  leaked = 0;

  constructor(
    private readonly env: ScenarioEnv,
    private readonly k: Kernel,
    private readonly dev: Device,
    private readonly port: DmaPort,
    private readonly size: number,
    private readonly mistake: Mistake,
  ) {}

  private leftOut(call: string, m: Mistake): boolean {
    if (this.mistake !== m) return false;
    this.env.say(`   (${call} left out)`);
    return true;
  }

  map(fill: string | null, dir: DmaDataDirection): Mapping {
    const buf = this.k.kmalloc.kmalloc(this.size, GFP_KERNEL);
    if (buf === null) throw new ConfigError(`streaming: kmalloc(${this.size}) failed (more --ram)`);
    // The CPU writes the buffer first (the payload, or the memset a receive buffer gets).
    this.k.vm.write(buf, pattern(fill ?? '\0', this.size), 0, this.size);
    const dma = this.k.dma.dmaMapSingle(this.dev, buf, this.size, dir);
    if (this.k.dma.dmaMappingError(this.dev, dma))
      throw new ConfigError(`streaming: dma_map_single failed for ${this.size} bytes`);
    this.env.say(`   dma_map_single(${this.size}, ${DIR_NAMES.get(dir) ?? '?'}) = ${hex(dma)}`);
    return { buf, dma, dir };
  }

  syncForCpu(m: Mapping): void {
    if (this.leftOut('dma_sync_single_for_cpu', 'no-sync-for-cpu')) return;
    this.k.dma.dmaSyncSingleForCpu(this.dev, m.dma, this.size, m.dir);
  }

  syncForDevice(m: Mapping): void {
    if (this.leftOut('dma_sync_single_for_device', 'no-sync-for-device')) return;
    this.k.dma.dmaSyncSingleForDevice(this.dev, m.dma, this.size, m.dir);
  }

  unmap(m: Mapping): void {
    if (this.leftOut('dma_unmap_single', 'no-unmap')) {
      this.leaked++;
      return;
    }
    this.k.dma.dmaUnmapSingle(this.dev, m.dma, this.size, m.dir);
  }

  /** kfree, unless the buffer is still mapped: the device may still write it. */
  free(m: Mapping): void {
    if (this.mistake !== 'no-unmap') this.k.kmalloc.kfree(m.buf);
  }

  cpuWrite(m: Mapping, text: string): void {
    this.k.vm.write(m.buf, pattern(text, this.size), 0, this.size);
  }

  /**
   * The doorbell: writel() to the device's register carries the write barrier that drains the
   * CPU's earlier stores, so the device never races them (the model's test device has no register;
   * the barrier is what matters).
   */
  private doorbell(): void {
    this.k.machine.cpu.wmb();
  }

  deviceWrite(m: Mapping, text: string): void {
    this.doorbell();
    this.port.write(m.dma, pattern(text, this.size), 0, this.size);
    this.bytesMoved += this.size;
    this.env.say(`   device writes "${ascii(pattern(text, this.size))}"`);
  }

  cpuLook(m: Mapping, text: string): void {
    const b = new Uint8Array(this.size);
    this.k.vm.read(m.buf, b, 0, this.size);
    this.judge('CPU', b, text);
  }

  deviceLook(m: Mapping, text: string): void {
    const b = new Uint8Array(this.size);
    this.doorbell();
    this.port.read(m.dma, b, 0, this.size);
    this.bytesMoved += this.size;
    this.judge('device', b, text);
  }

  private judge(who: string, seen: Uint8Array, text: string): void {
    const want = pattern(text, this.size);
    const stale = seen.reduce((n, v, i) => n + (v === want[i] ? 0 : 1), 0);
    this.looks++;
    this.staleBytes += stale;
    if (stale > 0) this.staleLooks++;
    const verdict =
      stale === 0 ? 'fresh' : `STALE (${stale} of ${this.size} bytes differ from "${text}…")`;
    this.env.say(`   ${who} reads "${ascii(seen)}" ${verdict}`);
  }
}

/** A transmit, then the buffer refilled and sent again (the sync pair around the CPU's write). */
function toDevice(d: StreamingDriver, say: (s: string) => void): void {
  say('DMA_TO_DEVICE: the CPU fills a packet, the device sends it; then the buffer is reused');
  const m = d.map('tx packet A|', TO_DEVICE);
  d.deviceLook(m, 'tx packet A|');
  d.syncForCpu(m);
  d.cpuWrite(m, 'tx packet B|');
  d.syncForDevice(m);
  d.deviceLook(m, 'tx packet B|');
  d.unmap(m);
  d.free(m);
}

/** A receive, the buffer handed back to the device, a second receive completed by the unmap. */
function fromDevice(d: StreamingDriver, say: (s: string) => void): void {
  say('DMA_FROM_DEVICE: the device fills a receive buffer twice; the CPU reads each frame');
  const m = d.map(null, FROM_DEVICE);
  d.deviceWrite(m, 'rx frame C|');
  d.syncForCpu(m);
  d.cpuLook(m, 'rx frame C|');
  d.syncForDevice(m);
  d.deviceWrite(m, 'rx frame D|');
  d.unmap(m);
  d.cpuLook(m, 'rx frame D|');
  d.free(m);
}

/** A request the device reads and answers in place, then the next request. */
function bidirectional(d: StreamingDriver, say: (s: string) => void): void {
  say('DMA_BIDIRECTIONAL: the device reads a request and writes its reply into the same buffer');
  const m = d.map('request E|', BIDIRECTIONAL);
  d.deviceLook(m, 'request E|');
  d.deviceWrite(m, 'reply F|');
  d.syncForCpu(m);
  d.cpuLook(m, 'reply F|');
  d.cpuWrite(m, 'request G|');
  d.syncForDevice(m);
  d.deviceLook(m, 'request G|');
  d.unmap(m);
  d.free(m);
}

const FIXES: Record<Mistake, string> = {
  none: 'every sync and unmap was made: each side read what the other wrote',
  'no-sync-for-cpu':
    'dma_sync_single_for_cpu (or the unmap) after the device writes makes its bytes visible to the CPU and gives the buffer back to it',
  'no-sync-for-device':
    'dma_sync_single_for_device after the CPU writes cleans its cache lines to RAM and gives the buffer back to the device',
  'no-unmap':
    'dma_unmap_single makes the last device writes visible (DMA_FROM_DEVICE) and releases the mapping; dma-debug reports what is still mapped when the driver unbinds',
};

/** Adds the device and binds the scenario's driver to it. */
function bindDriver(env: ScenarioEnv, k: Kernel): { drv: PciDriver; dev: Device } {
  const coherent = env.options.coherent;
  const pdev = k.devices.pciDeviceAdd({
    slot: 1,
    ...TESTDEV,
    ...(coherent === undefined ? {} : { coherent }),
  });
  const drv: PciDriver = { name: DRIVER, bus: 'pci', idTable: [TESTDEV], probe: () => 0 };
  if (k.devices.driverRegister(drv) !== 0 || pdev.driver === null)
    throw new ConfigError(`streaming: ${DRIVER} did not bind to ${pdev.name}`);
  return { drv, dev: pdev };
}

function report(env: ScenarioEnv, d: StreamingDriver, mistake: Mistake): void {
  env.count('looks', d.looks);
  env.count('stale looks', d.staleLooks);
  env.count('stale bytes', d.staleBytes);
  env.count('bytes moved', d.bytesMoved);
  env.count('mappings leaked', d.leaked);
  const errors = env.findings().length;
  env.say(
    d.staleBytes > 0
      ? `${d.staleBytes} stale bytes in ${d.staleLooks} of ${d.looks} looks; ${errors} checker findings.`
      : `every look saw fresh bytes; ${errors} checker findings${errors > 0 ? ' (the rule was broken even where the bytes came out right)' : ''}.`,
  );
  env.say(`${mistake === 'none' ? 'Correct' : 'Fix'}: ${FIXES[mistake]}.`);
}

/** `dmasim run streaming`: map/sync/unmap in every direction, right or with one call left out. */
export const streamingScenario: Scenario = {
  name: 'streaming',
  summary: 'dma_map_single/sync/unmap in all three directions, with --mistake leaving one call out',
  archs: ['arm64', 'x86_64', 'arm32', 'prep'],
  params: [
    {
      name: 'mistake',
      description: 'the DMA API call the driver never makes',
      kind: 'choice',
      choices: STREAMING_MISTAKES,
      default: 'none',
    },
    {
      name: 'size',
      description: 'bytes per buffer',
      kind: 'size',
      min: 64,
      max: 1024 * 1024,
      default: 4096,
    },
  ],
  examples: [
    'dmasim run streaming',
    'dmasim run streaming --mistake no-sync-for-cpu',
    'dmasim run streaming --arch x86_64 --mistake no-sync-for-device --json',
    'dmasim run streaming --mistake no-unmap --size 64K',
  ],
  run(env: ScenarioEnv): void {
    const mistake = env.str('mistake') as Mistake;
    const k = env.boot();
    const { drv, dev } = bindDriver(env, k);
    const port = dev.dmaPort;
    if (port === null) throw new ConfigError('streaming: the device has no DMA port');
    const say = (s: string): void => {
      env.say(s);
    };
    say(
      `${dev.name} (${port.coherent ? 'coherent' : 'non-coherent'}) on ${k.machine.profile.name}, driver ${DRIVER}, mistake: ${mistake}`,
    );
    env.count('device', port.coherent ? 'coherent' : 'non-coherent');
    const d = new StreamingDriver(env, k, dev, port, env.int('size'), mistake);
    const steps = [toDevice, fromDevice, bidirectional];
    steps.forEach((step, i) => {
      step(d, say);
      env.progress(i + 1, steps.length);
    });
    say(`the driver unbinds (${DRIVER} removed)`);
    k.devices.driverUnregister(drv);
    report(env, d, mistake);
  },
};
