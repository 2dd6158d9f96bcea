/**
 * What a scenario is (a named, seeded run with its own options) and the environment it runs in:
 * machines and kernels built from the shared options, with the chosen checkers, the trace
 * recorder and the statistics attached at boot, and a place for what happened.
 */
import { CoherenceChecker } from '../check/coherence.js';
import { DmaDebug } from '../check/dma-debug.js';
import type { Finding } from '../check/findings.js';
import { chainDmaDebugHooks } from '../check/hooks-chain.js';
import { IommuExposure } from '../check/iommu-exposure.js';
import type { Device } from '../kernel/device/device.js';
import type { DmaDebugHooks } from '../kernel/dma/hooks.js';
import { Kernel } from '../kernel/kernel.js';
import type { KernelConfig } from '../kernel/kernel.js';
import { ConfigError } from '../lib/errors.js';
import { Machine } from '../machine/machine.js';
import type { MachineConfig } from '../machine/machine.js';
import type { ArchName } from '../machine/profile.js';
import { FtraceRecorder } from '../trace/writer.js';
import { kernelCmdline, machineConfig } from './options.js';
import type { CheckerName, ParamValue, RunOptions } from './options.js';
import { StatsTracker } from './stats.js';
import type { RunStats } from './stats.js';

/** A scenario-specific option: `--<name> <value>` on the command line. */
export interface ParamSpec {
  readonly name: string;
  readonly description: string;
  /** int: a whole number in [min, max]; size: bytes with K/M/G; choice: one of `choices`. */
  readonly kind: 'int' | 'size' | 'choice';
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  readonly default: ParamValue;
}

export interface Scenario {
  readonly name: string;
  /** One line for `dmasim scenarios`. */
  readonly summary: string;
  /** The architectures it runs on (the first is its default). */
  readonly archs: readonly ArchName[];
  readonly params: readonly ParamSpec[];
  /** Files it can write besides the trace: 'pcap' adds --pcap <file>. */
  readonly files?: readonly 'pcap'[];
  /** `dmasim run <name> --help` examples. */
  readonly examples: readonly string[];
  run(env: ScenarioEnv): void;
}

/** One booted kernel of a run, with what is attached to it. */
interface Booted {
  readonly label: string;
  readonly k: Kernel;
  readonly stats: StatsTracker;
  readonly trace: FtraceRecorder | null;
  readonly checkers: readonly { readonly name: CheckerName; all(): readonly Finding[] }[];
}

/** A finding with the kernel it was found on. */
export interface LabelledFinding {
  readonly checker: CheckerName;
  /** The label the scenario booted the kernel under ('' for a run's only kernel). */
  readonly kernel: string;
  readonly finding: Finding;
}

export class ScenarioEnv {
  private readonly booted: Booted[] = [];
  /** Counts and sizes for "what happened", in the order the scenario gave them. */
  readonly happened = new Map<string, number | string>();
  /** Lines of narrative for the human report: what was done and what it showed. */
  readonly narrative: string[] = [];
  /** Files the run produced (pcap and the like), by name. */
  readonly files = new Map<string, Uint8Array | string>();

  constructor(
    readonly options: RunOptions,
    private readonly onProgress: (done: number, total: number) => void = () => undefined,
  ) {}

  /** A scenario option's value (checked and defaulted by the runner). */
  param(name: string): ParamValue {
    const v = this.options.params[name];
    if (v === undefined) throw new ConfigError(`scenario option --${name} has no value`);
    return v;
  }

  int(name: string): number {
    return Number(this.param(name));
  }

  str(name: string): string {
    return String(this.param(name));
  }

  /** The machine configuration of the shared options (some overridden), then `over`. */
  machineConfig(over: MachineConfig = {}, options: OptionOverrides = {}): MachineConfig {
    return { ...machineConfig({ ...this.options, ...options }), ...over };
  }

  /**
   * The kernel configuration of the shared options (some overridden by the scenario): the
   * command line and the chosen checkers' hooks, plus `extra` checkers of the scenario's own.
   * Pass the result to exactly one kernel and call attach() on it right after it boots.
   */
  kernelConfig(
    extraCmdline = '',
    options: OptionOverrides = {},
    extra: readonly ExtraChecker[] = [],
  ): KernelConfig & { readonly pending: PendingCheckers } {
    const pending = new PendingCheckers(this.options.checkers, extra);
    // The shared options' parameters, then the scenario's (they win over those), then the
    // user's --cmdline (which wins over both: of two equal parameters the kernel takes the last).
    const shared = kernelCmdline({ ...this.options, ...options, cmdline: '' });
    const cmdline = [shared, extraCmdline.trim(), this.options.cmdline.trim()]
      .filter((s) => s !== '')
      .join(' ');
    return {
      cmdline,
      ...(pending.hooks === null ? {} : { dmaDebug: pending.hooks }),
      pending,
    };
  }

  /** Attaches the checkers of `cfg`, the trace recorder and the statistics to a booted kernel. */
  attach(k: Kernel, cfg: { readonly pending: PendingCheckers }, label = ''): void {
    cfg.pending.attach(k);
    this.booted.push({
      label,
      k,
      stats: new StatsTracker(k),
      trace: this.options.trace ? new FtraceRecorder(k) : null,
      checkers: cfg.pending.list,
    });
  }

  /**
   * A new machine and kernel from the shared options, checkers attached. `over.options` replaces
   * shared options for this kernel only (a scenario about the IOMMU turns it on whatever --iommu
   * says), `over.machine` the machine configuration, `over.cmdline` adds parameters (the user's
   * --cmdline still comes last), `over.checkers` adds the scenario's own checkers.
   */
  boot(label = '', over: BootOverrides = {}): Kernel {
    const m = new Machine(this.machineConfig(over.machine, over.options));
    const cfg = this.kernelConfig(over.cmdline, over.options, over.checkers);
    const k = new Kernel(m, cfg);
    this.attach(k, cfg, label);
    return k;
  }

  /**
   * A PCI bus-master device on `k` (an 82540EM's ids, so drivers of the seeds' examples bind
   * nothing), coherent as the arch has it unless --coherent / --no-coherent said otherwise.
   */
  addDevice(k: Kernel, slot = 1): Device {
    const c = this.options.coherent;
    return k.devices.pciDeviceAdd({
      slot,
      vendor: 0x8086,
      device: 0x100e,
      ...(c === undefined ? {} : { coherent: c }),
    });
  }

  /** Records a figure of what happened. */
  count(name: string, value: number | string): void {
    this.happened.set(name, value);
  }

  say(line: string): void {
    this.narrative.push(line);
  }

  progress(done: number, total: number): void {
    this.onProgress(done, total);
  }

  /** The kernels booted so far, with their labels. */
  get kernels(): readonly { readonly label: string; readonly k: Kernel }[] {
    return this.booted;
  }

  findings(): LabelledFinding[] {
    return this.booted.flatMap((b) =>
      b.checkers.flatMap((c) =>
        c.all().map((finding) => ({ checker: c.name, kernel: b.label, finding })),
      ),
    );
  }

  /** Statistics per booted kernel. */
  stats(): { readonly label: string; readonly stats: RunStats }[] {
    return this.booted.map((b) => ({ label: b.label, stats: b.stats.snapshot() }));
  }

  /** The trace of each booted kernel (one file per kernel). */
  traces(): { readonly label: string; readonly text: string }[] {
    return this.booted.flatMap((b) =>
      b.trace === null ? [] : [{ label: b.label, text: b.trace.text() }],
    );
  }
}

/** Shared options a scenario may replace for one kernel. */
export type OptionOverrides = Partial<
  Pick<RunOptions, 'arch' | 'ramSize' | 'iommu' | 'swiotlb' | 'swiotlbSize'>
>;

/** A checker a scenario attaches for its own use, whatever --checkers says. */
export interface ExtraChecker extends DmaDebugHooks {
  attach(k: Kernel): void;
}

export interface BootOverrides {
  readonly machine?: MachineConfig;
  readonly options?: OptionOverrides;
  readonly cmdline?: string;
  readonly checkers?: readonly ExtraChecker[];
}

/** The checkers chosen for one kernel, made before it boots (their hooks go into its config). */
export class PendingCheckers {
  readonly list: { readonly name: CheckerName; all(): readonly Finding[] }[] = [];
  readonly hooks: DmaDebugHooks | null;
  private readonly attachers: ((k: Kernel) => void)[] = [];

  constructor(names: readonly CheckerName[], extra: readonly ExtraChecker[] = []) {
    const hooks: DmaDebugHooks[] = [...extra];
    for (const x of extra)
      this.attachers.push((k) => {
        x.attach(k);
      });
    for (const name of names) {
      const c =
        name === 'dma-debug'
          ? new DmaDebug({ allErrors: true })
          : name === 'coherence'
            ? new CoherenceChecker({ log: false })
            : new IommuExposure({ log: false });
      hooks.push(c);
      this.attachers.push((k) => {
        c.attach(k);
      });
      this.list.push({ name, all: () => c.findings.all });
    }
    this.hooks = hooks.length === 0 ? null : chainDmaDebugHooks(...hooks);
  }

  attach(k: Kernel): void {
    for (const a of this.attachers) a(k);
  }
}
