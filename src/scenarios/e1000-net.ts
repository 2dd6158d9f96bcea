/**
 * A host with an Intel 82540EM on a 1 Gbit/s link to a peer: the hardware (device model, link,
 * responder), the kernel with the e1000 driver bound and eth0 up with 10.0.2.15, as the real
 * traces' QEMU guest had it (the peer is the emulator's gateway 10.0.2.2). Workloads then ping or
 * send through `host` and run the clock.
 */
import { IrqLine } from '../machine/bus/irq.js';
import { Machine } from '../machine/machine.js';
import type { MachineConfig } from '../machine/machine.js';
import { Kernel } from '../kernel/kernel.js';
import type { KernelConfig } from '../kernel/kernel.js';
import type { PciDevice } from '../kernel/device/pci.js';
import { InetHost } from '../kernel/net/inet.js';
import { E1000 } from '../devices/e1000/e1000.js';
import { PCI_ID } from '../devices/e1000/regs.js';
import { Link } from '../devices/net/link.js';
import type { NetAttachment } from '../devices/net/port.js';
import { NetReflector } from '../devices/net/reflector.js';
import { NetResponder } from '../devices/net/responder.js';
import { parseIp, parseMac } from '../lib/net/frame-defs.js';
import { ConfigError } from '../lib/errors.js';
import { e1000Adapters, e1000Driver } from '../drivers/e1000/main.js';
import type { E1000Adapter, E1000Options } from '../drivers/e1000/adapter.js';

export interface E1000NetConfig {
  readonly machine?: MachineConfig;
  readonly kernel?: KernelConfig;
  readonly driver?: E1000Options;
  /** Override the profile's coherency for the NIC. */
  readonly coherent?: boolean;
  /** The other end: the responder (ARP, ping, UDP echo, TCP discard; default) or a reflector. */
  readonly peer?: 'responder' | 'reflector';
  /** The peer keeps the TCP streams it receives (to compare them with what was sent). */
  readonly peerKeepsTcpData?: boolean;
  /** Called once the kernel has booted, before any device exists (attach checkers here). */
  readonly onBoot?: (k: Kernel) => void;
}

export interface E1000Net {
  readonly k: Kernel;
  readonly nic: E1000;
  readonly pdev: PciDevice;
  readonly adapter: E1000Adapter;
  readonly host: InetHost;
  /** The responder (not on the link when the reflector is). */
  readonly peer: NetResponder;
  readonly reflector: NetReflector | null;
  readonly link: Link;
  /** The NIC's end of the link: `nic.connectLink(null)` unplugs it, `nic.connectLink(cable)` back. */
  readonly cable: NetAttachment;
}

/** QEMU's e1000 MAC and the slirp network of the real traces. */
export const HOST_MAC = '52:54:00:12:34:56';
export const PEER_MAC = '52:55:0a:00:02:02';
export const HOST_IP = '10.0.2.15';
export const PEER_IP = '10.0.2.2';

/** Where BAR0 goes on each profile: a hole in its physical map (the PCI memory window). */
const BAR0: Record<string, number> = {
  x86_64: 0xfebc_0000,
  arm64: 0x1000_0000,
  arm32: 0x1000_0000,
  prep: 0xc000_0000,
};

/** Builds the machine, boots the kernel, binds e1000 and brings eth0 up (the link comes up later). */
export function e1000Net(cfg: E1000NetConfig = {}): E1000Net {
  const m = new Machine(cfg.machine ?? {});
  const k = new Kernel(m, cfg.kernel ?? {});
  cfg.onBoot?.(k);
  const irq = new IrqLine('e1000');
  const nic = new E1000({ clock: m.clock, irq, mac: parseMac(HOST_MAC), name: '0000:00:01.0' });
  const base = BAR0[m.profile.name] ?? 0xfebc_0000;
  const pdev = k.devices.pciDeviceAdd({
    slot: 1,
    vendor: PCI_ID.VENDOR,
    device: PCI_ID.DEVICE,
    classCode: PCI_ID.CLASS,
    bars: [{ index: 0, base, size: PCI_ID.BAR0_SIZE, handler: nic.mmio }],
    irq,
    ...(cfg.coherent === undefined ? {} : { coherent: cfg.coherent }),
  });
  if (pdev.dmaPort === null) throw new ConfigError('e1000: the PCI device has no bus-master port');
  nic.attachPort(pdev.dmaPort);
  const link = new Link(m.clock);
  const cable = link.attach(nic);
  nic.connectLink(cable);
  const peer = new NetResponder({
    mac: parseMac(PEER_MAC),
    ip: parseIp(PEER_IP),
    keepTcpData: cfg.peerKeepsTcpData === true,
  });
  const reflector = cfg.peer === 'reflector' ? new NetReflector() : null;
  if (reflector !== null) reflector.connect(link);
  else peer.connect(link);
  if (k.devices.driverRegister(e1000Driver(k, cfg.driver)) !== 0 || pdev.driver === null)
    throw new ConfigError('e1000: the driver did not bind to 0000:00:01.0 (see the kernel log)');
  const adapter = e1000Adapters.get(pdev);
  if (adapter === undefined) throw new ConfigError('e1000: probe left no adapter');
  const host = new InetHost(adapter.netdev, k.skbs, parseIp(HOST_IP));
  const rc = adapter.netdev.open();
  if (rc !== 0) throw new ConfigError(`e1000: ifup eth0 failed with ${rc}`);
  return { k, nic, pdev, adapter, host, peer, reflector, link, cable };
}
