/**
 * The composition root of the hardware: builds RAM, the physical map, the cache, the CPUs, the
 * IOMMU and the interconnect from a configuration, checking it first. Holds no kernel state.
 */
import { GIB } from '../lib/units.js';
import { ConfigError } from '../lib/errors.js';
import { Rng } from '../lib/rng.js';
import { DataCache } from './cache/cache.js';
import { Clock } from './clock/clock.js';
import { Cpu } from './cpu/cpu.js';
import { EventBus } from './events.js';
import { Interconnect } from './bus/interconnect.js';
import { Iommu } from './iommu/iommu.js';
import type { IommuConfig } from './iommu/iommu.js';
import type { MmioHandler } from './memory/physmap.js';
import { PhysMap } from './memory/physmap.js';
import { SparseRam } from './memory/ram.js';
import { ARCH_NAMES, findProfile } from './profile.js';
import type { ArchName, ArchProfile, RamBank } from './profile.js';

export interface MachineConfig {
  /** Architecture profile; default x86_64. */
  readonly arch?: ArchName;
  /** RAM in bytes, laid out as the profile's default banks; default 1 GiB. */
  readonly ramSize?: number;
  /** Explicit RAM banks (instead of ramSize). */
  readonly banks?: readonly RamBank[];
  /** Reserved ranges inside RAM (firmware, carve-outs). */
  readonly reserved?: readonly {
    readonly base: number;
    readonly size: number;
    readonly name: string;
  }[];
  /** Number of CPUs; default 2, as in the real traces. */
  readonly cpus?: number;
  /** Seed of every random choice; default 1. */
  readonly seed?: number;
  /** Cache geometry overrides (bytes, ways); the line size is the profile's. */
  readonly cache?: { readonly size?: number; readonly ways?: number };
  /** Write-combining buffer entries per CPU; default from the profile. */
  readonly wcEntries?: number;
  /** Posted-store buffer entries per CPU on weak profiles; 0 disables reordering. */
  readonly storeBufferEntries?: number;
  /** An IOMMU (true for defaults); default none. */
  readonly iommu?: boolean | IommuConfig;
}

const MAX_CPUS = 256;

export class Machine {
  readonly profile: ArchProfile;
  readonly seed: number;
  readonly clock = new Clock();
  readonly events = new EventBus();
  readonly rng: Rng;
  readonly ram = new SparseRam();
  readonly physmap: PhysMap;
  readonly cache: DataCache;
  readonly cpus: readonly Cpu[];
  readonly iommu: Iommu | null;
  readonly bus: Interconnect;
  private current = 0;

  constructor(cfg: MachineConfig = {}) {
    this.profile = pickProfile(cfg.arch ?? 'x86_64');
    this.seed = checkInt(cfg.seed ?? 1, 'seed', 0, 2 ** 32 - 1);
    this.rng = new Rng(this.seed);
    this.physmap = buildPhysMap(this.profile, cfg);
    this.cache = new DataCache(
      {
        size: cfg.cache?.size ?? this.profile.cache.size,
        ways: cfg.cache?.ways ?? this.profile.cache.ways,
        lineSize: this.profile.lineSize,
      },
      this.ram,
      this.events,
      this.clock,
    );
    this.cpus = this.buildCpus(cfg);
    this.iommu = this.buildIommu(cfg.iommu ?? false);
    this.bus = new Interconnect({ ...this.parts(), profile: this.profile, iommu: this.iommu });
  }

  /** The CPU the current operation runs on. */
  get cpu(): Cpu {
    return this.cpus[this.current] as Cpu;
  }

  get currentCpu(): number {
    return this.current;
  }

  /** Makes `id` the current CPU (a trace replay follows the trace's CPU column). */
  runOn(id: number): Cpu {
    const c = this.cpus[id];
    if (c === undefined)
      throw new ConfigError(
        `cpu ${id} does not exist (this machine has cpus 0..${this.cpus.length - 1})`,
      );
    this.current = id;
    return c;
  }

  /** Maps a device register window (a BAR) into the physical address space. */
  addMmio(base: number, size: number, name: string, handler: MmioHandler): void {
    this.physmap.addMmio(base, size, name, handler);
  }

  private parts(): Pick<Machine, 'ram' | 'physmap' | 'cache' | 'events' | 'clock'> {
    return {
      ram: this.ram,
      physmap: this.physmap,
      cache: this.cache,
      events: this.events,
      clock: this.clock,
    };
  }

  private buildCpus(cfg: MachineConfig): Cpu[] {
    const n = checkInt(cfg.cpus ?? 2, 'cpus', 1, MAX_CPUS);
    const wcEntries = checkInt(cfg.wcEntries ?? this.profile.wcEntries, 'wcEntries', 1, 64);
    const sbEntries = checkInt(
      cfg.storeBufferEntries ?? this.profile.storeBuffer.entries,
      'storeBufferEntries',
      0,
      256,
    );
    const cpus: Cpu[] = [];
    for (let id = 0; id < n; id++) {
      const rng = this.rng.fork(`cpu${id}`);
      const cpu = new Cpu(id, {
        ...this.parts(),
        profile: this.profile,
        rng,
        wcEntries,
        storeBufferEntries: sbEntries,
      });
      this.clock.addTimeListener(cpu);
      cpus.push(cpu);
    }
    return cpus;
  }

  private buildIommu(cfg: boolean | IommuConfig): Iommu | null {
    if (cfg === false) return null;
    const walker = {
      read: this.cache.snoopRead.bind(this.cache),
      write: this.ram.write.bind(this.ram),
    };
    return new Iommu(cfg === true ? {} : cfg, {
      walker,
      rng: this.rng.fork('iommu'),
      events: this.events,
      clock: this.clock,
    });
  }
}

function pickProfile(name: string): ArchProfile {
  const p = findProfile(name);
  if (p === undefined)
    throw new ConfigError(`unknown arch "${name}"; accepted: ${ARCH_NAMES.join(', ')}`);
  return p;
}

function checkInt(v: number, what: string, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new ConfigError(`${what} must be an integer from ${lo} to ${hi}, not ${String(v)}`);
  }
  return v;
}

function buildPhysMap(profile: ArchProfile, cfg: MachineConfig): PhysMap {
  const map = new PhysMap(profile.physAddrBits);
  const size = cfg.ramSize ?? GIB;
  if (
    cfg.banks === undefined &&
    (!Number.isSafeInteger(size) || size <= 0 || size % profile.pageSize !== 0)
  ) {
    throw new ConfigError(
      `RAM size ${String(size)} must be a positive multiple of the ${profile.pageSize}-byte page`,
    );
  }
  const banks = cfg.banks ?? profile.ramBanks(size);
  banks.forEach((b, i) => {
    map.addRam(b.base, b.size, banks.length > 1 ? `System RAM (bank ${i})` : 'System RAM');
  });
  for (const r of cfg.reserved ?? []) map.addReserved(r.base, r.size, r.name);
  return map;
}
