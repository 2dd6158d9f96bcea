/**
 * The interconnect: where devices are attached as bus masters, each with its requester id,
 * coherency and dma-ranges offset, behind the IOMMU or not. Wiring errors are reported here, when
 * the machine is built, not at the first transfer (gem5 DmaDevice::init).
 */
import { ConfigError } from '../../lib/errors.js';
import type { ArchProfile } from '../profile.js';
import { DmaPort } from './dma-port.js';
import type { DmaPortDeps } from './dma-port.js';

export interface BusMasterConfig {
  /** Device name as the kernel prints it, e.g. "0000:00:02.0"; unique per machine. */
  readonly name: string;
  /** PCI requester id (bus << 8 | device << 3 | function); default: the next free one. */
  readonly requesterId?: number;
  /** Snoops CPU caches; default: the profile's default coherency. */
  readonly coherent?: boolean;
  /** bus = phys + busOffset (dma-ranges); default: the profile's offset. */
  readonly busOffset?: number;
  /** Sits behind the IOMMU; default: true when the machine has one. */
  readonly behindIommu?: boolean;
}

export interface InterconnectDeps extends DmaPortDeps {
  readonly profile: ArchProfile;
}

export class Interconnect {
  private readonly ports = new Map<string, DmaPort>();
  private nextRid = 0x10; // 00:02.0, the first slot after the host bridge

  constructor(private readonly deps: InterconnectDeps) {}

  /** Attaches a bus master and returns its port. */
  attach(cfg: BusMasterConfig): DmaPort {
    const rid = cfg.requesterId ?? this.nextRid;
    if (this.ports.has(cfg.name))
      throw new ConfigError(`bus master "${cfg.name}" is attached twice`);
    if (!Number.isInteger(rid) || rid < 0 || rid > 0xffff) {
      throw new ConfigError(
        `bus master "${cfg.name}": requester id ${String(rid)} is not a 16-bit bus/devfn`,
      );
    }
    const clash = [...this.ports.values()].find((p) => p.requesterId === rid);
    if (clash !== undefined) {
      throw new ConfigError(
        `bus master "${cfg.name}": requester id ${rid.toString(16)} is already used by "${clash.name}"`,
      );
    }
    const behind = cfg.behindIommu ?? this.deps.iommu !== null;
    if (behind && this.deps.iommu === null) {
      throw new ConfigError(
        `bus master "${cfg.name}" is placed behind an IOMMU, but the machine has none (enable the IOMMU)`,
      );
    }
    const offset = cfg.busOffset ?? this.deps.profile.busOffset;
    const port = new DmaPort(
      cfg.name,
      rid,
      cfg.coherent ?? this.deps.profile.defaultCoherent,
      offset,
      {
        ...this.deps,
        iommu: behind ? this.deps.iommu : null,
      },
    );
    this.ports.set(cfg.name, port);
    this.nextRid = Math.max(this.nextRid, rid) + 8; // next device number, function 0
    return port;
  }

  get masters(): readonly DmaPort[] {
    return [...this.ports.values()];
  }
}
