/**
 * The e1000 driver's life cycle (e1000_main.c): e1000_probe (DMA masks, BAR0, reset, the MAC
 * address from the EEPROM, the net_device), e1000_open/e1000_up (rings, configure, IRQ, NAPI,
 * interrupts on), e1000_intr and the NAPI poll e1000_clean, the watchdog that brings the link
 * (and TCTL.EN) up, e1000_down/e1000_close and e1000_remove.
 * MODEL: 82540EM only (no 82542-82547 paths or their errata but e1000_tx_map's), no ethtool, VLAN,
 * multicast, jumbo frames, TX hang detection or adaptive ITR (the rate is fixed).
 */
import type { VirtAddr } from '../../lib/addr.js';
import type { IrqLine } from '../../machine/bus/irq.js';
import type { PciDevice } from '../../kernel/device/pci.js';
import type { PciDriver } from '../../kernel/device/driver.js';
import { pciResourceLen, pciResourceStart } from '../../kernel/device/pci.js';
import { DMA_MASK_32 } from '../../kernel/device/dma-mask.js';
import { IrqReturn } from '../../kernel/irq.js';
import type { Kernel } from '../../kernel/kernel.js';
import { Napi, NetDevice } from '../../kernel/net/netdevice.js';
import { KernelTimer } from '../../kernel/timer.js';
import { formatMac } from '../../lib/net/frame-defs.js';
import {
  CTRL,
  EEPROM,
  EERD,
  ICR,
  IMS_ENABLE_MASK,
  PCI_ID,
  RCTL,
  REG,
  STATUS,
  TCTL,
} from '../../devices/e1000/regs.js';
import type { E1000Adapter, E1000Options, RxBuffer, TxBuffer } from './adapter.js';
import { descUnused, emptyRing, er32, ew32, flush, info } from './adapter.js';
import { e1000CheckOptions } from './param.js';
import {
  allocRxBuffers,
  cleanRxIrq,
  cleanRxRing,
  configureRx,
  freeRxResources,
  setupRctl,
  setupRxResources,
} from './rx.js';
import { configureTx, freeTxResources, setupTxResources, xmitFrame } from './tx.js';
import { cleanTxIrq, cleanTxRing } from './tx-clean.js';

/** The watchdog period (2 * HZ). */
const WATCHDOG_NS = 2e9;
/** MAXIMUM_ETHERNET_VLAN_SIZE: rx_buffer_len for a 1500-byte MTU. */
const RX_BUFFER_LEN = 1522;

/** What a bound e1000 leaves for the rest of the system: its adapter, by device. */
export const e1000Adapters = new WeakMap<PciDevice, E1000Adapter>();

/**
 * The e1000 pci_driver for `k`; register it with k.devices.driverRegister. Each probe names its
 * interface eth0, eth1, ... as register_netdev does.
 */
export function e1000Driver(k: Kernel, opts: E1000Options = {}): PciDriver {
  let nextIf = 0;
  return {
    name: 'e1000',
    bus: 'pci',
    idTable: [{ vendor: PCI_ID.VENDOR, device: PCI_ID.DEVICE }],
    probe: (pdev) => probe(k, pdev, opts, `eth${nextIf++}`),
    remove: (pdev) => {
      remove(pdev);
    },
  };
}

/** e1000_probe. @returns 0 or a negative errno */
function probe(k: Kernel, pdev: PciDevice, opts: E1000Options, ifname: string): number {
  // The 82540 is a PCI (not PCI-X) part: 32-bit DMA only.
  if (k.dma.dmaSetMaskAndCoherent(pdev, DMA_MASK_32) !== 0) {
    k.log.print('err', 'e1000: No usable DMA config, aborting');
    return -5;
  }
  const start = pciResourceStart(pdev, 0);
  const hwAddr = start === 0 ? null : k.vmap.ioremap(start, pciResourceLen(pdev, 0));
  const irq = pdev.irqLine;
  if (hwAddr === null || irq === null) return -5;
  const netdev = new NetDevice(ifname);
  const a = newAdapter(k, pdev, irq, netdev, hwAddr, opts);
  ew32(a, REG.CTRL, CTRL.RST); // e1000_reset_hw
  ew32(a, REG.IMC, 0xffffffff);
  if (!readMacAddr(a)) {
    k.log.print('err', `e1000 ${pdev.name}: The EEPROM Checksum Is Not Valid`);
    k.vmap.iounmap(hwAddr);
    return -5;
  }
  netdev.features.sg = true;
  netdev.features.ipCsum = true;
  netdev.features.tso = true;
  netdev.ops = {
    open: () => open(a),
    stop: () => {
      close(a);
    },
    startXmit: (skb) => xmitFrame(a, skb),
  };
  e1000Adapters.set(pdev, a);
  pdev.drvdata = a;
  info(a, 'info', `(PCI:33MHz:32-bit) ${formatMac(netdev.devAddr)}`);
  info(a, 'info', 'Intel(R) PRO/1000 Network Connection');
  return 0;
}

function newAdapter(
  k: Kernel,
  pdev: PciDevice,
  irq: IrqLine,
  netdev: NetDevice,
  hwAddr: VirtAddr,
  opts: E1000Options,
): E1000Adapter {
  const params = e1000CheckOptions(opts, (msg) => {
    k.log.print('info', `e1000 ${pdev.name}: ${msg}`);
  });
  const o = { ...params, mistakes: opts.mistakes ?? {} };
  const a: E1000Adapter = {
    k,
    pdev,
    netdev,
    hwAddr,
    irq,
    opts: o,
    napi: new Napi(k.machine.clock, (budget) => clean(a, budget), netdev),
    watchdog: new KernelTimer(k.machine.clock, () => {
      watchdog(a);
    }),
    txRing: emptyRing<TxBuffer>(o.txDescriptors, REG.TDH, REG.TDT),
    rxRing: emptyRing<RxBuffer>(o.rxDescriptors, REG.RDH, REG.RDT),
    rxBufferLen: RX_BUFFER_LEN,
    txdCmd: 0,
    lastTxTso: false,
    discarding: false,
    detectTxHung: false,
    down: true,
    counters: {
      allocRxBuffFailed: 0,
      txDmaFailed: 0,
      hwCsumErr: 0,
      hwCsumGood: 0,
      restartQueue: 0,
      txTimeoutCount: 0,
    },
  };
  return a;
}

/** e1000_read_mac_addr through EERD, and the EEPROM checksum (the 64 words sum to 0xBABA). */
function readMacAddr(a: E1000Adapter): boolean {
  let sum = 0;
  const words: number[] = [];
  for (let w = 0; w < EEPROM.WORDS; w++) {
    ew32(a, REG.EERD, EERD.START | (w << EERD.ADDR_SHIFT));
    let v = er32(a, REG.EERD);
    for (let spin = 0; (v & EERD.DONE) === 0 && spin < 100; spin++) v = er32(a, REG.EERD);
    const word = v >>> EERD.DATA_SHIFT;
    words.push(word);
    sum = (sum + word) & 0xffff;
  }
  for (let i = 0; i < 3; i++) {
    const w = words[i] ?? 0;
    a.netdev.devAddr[2 * i] = w & 0xff;
    a.netdev.devAddr[2 * i + 1] = w >> 8;
  }
  return sum === EEPROM.SUM;
}

/** e1000_open: rings, configuration, the IRQ, NAPI, interrupts, and a kick to the watchdog. */
function open(a: E1000Adapter): number {
  a.netdev.netifCarrierOff();
  let rc = setupTxResources(a);
  if (rc !== 0) return rc;
  rc = setupRxResources(a);
  if (rc !== 0) {
    freeTxResources(a);
    return rc;
  }
  configure(a);
  a.k.irq.requestIrq(a.irq, () => intr(a), a.netdev.name);
  a.down = false;
  a.napi.enable();
  ew32(a, REG.IMS, IMS_ENABLE_MASK);
  flush(a);
  a.netdev.netifStartQueue();
  // Fire a link status change interrupt to start the watchdog.
  ew32(a, REG.ICS, ICR.LSC);
  return 0;
}

/** e1000_configure: TX, RCTL, RX, and every free RX slot filled. */
function configure(a: E1000Adapter): void {
  ew32(
    a,
    RAL0,
    a.netdev.devAddr.reduce((v, b, i) => (i < 4 ? v + b * 2 ** (8 * i) : v), 0),
  );
  ew32(
    a,
    RAH0,
    ((a.netdev.devAddr[4] ?? 0) | ((a.netdev.devAddr[5] ?? 0) << 8) | 0x80000000) >>> 0,
  );
  configureTx(a);
  setupRctl(a);
  configureRx(a);
  allocRxBuffers(a, descUnused(a.rxRing));
}

const RAL0 = 0x5400;
const RAH0 = 0x5404;

/** e1000_intr: read (and so clear) ICR, mask everything, hand the work to NAPI. */
function intr(a: E1000Adapter): IrqReturn {
  const icr = er32(a, REG.ICR);
  if (icr === 0) return IrqReturn.NONE;
  if ((icr & (ICR.LSC | ICR.RXSEQ)) !== 0 && !a.down) a.watchdog.mod(1e6);
  ew32(a, REG.IMC, 0xffffffff);
  flush(a);
  a.napi.schedule();
  return IrqReturn.HANDLED;
}

/** e1000_clean: TX completions, then RX within the budget; done -> interrupts back on. */
function clean(a: E1000Adapter, budget: number): number {
  const txDone = cleanTxIrq(a);
  const work = cleanRxIrq(a, budget);
  if (!txDone || work === budget) return budget;
  a.napi.complete(work);
  if (!a.down) ew32(a, REG.IMS, IMS_ENABLE_MASK);
  return work;
}

/** e1000_watchdog: link up -> carrier on and TCTL.EN; a software RXDMT0 to get RX cleaned. */
function watchdog(a: E1000Adapter): void {
  if (a.down) return;
  const link = (er32(a, REG.STATUS) & STATUS.LU) !== 0;
  if (link && !a.netdev.carrierOk) {
    info(a, 'info', 'NIC Link is Up 1000 Mbps Full Duplex, Flow Control: RX/TX');
    ew32(a, REG.TCTL, er32(a, REG.TCTL) | TCTL.EN);
    a.netdev.netifCarrierOn();
    a.netdev.netifWakeQueue();
  } else if (!link && a.netdev.carrierOk) {
    info(a, 'info', 'NIC Link is Down');
    a.netdev.netifCarrierOff();
    a.netdev.netifStopQueue();
  }
  // Force detection of a hung transmitter every period, and an interrupt to get there.
  a.detectTxHung = true;
  ew32(a, REG.ICS, ICR.RXDMT0);
  a.watchdog.mod(WATCHDOG_NS);
}

/** e1000_down + e1000_close: receiver and transmitter off, interrupts off, rings freed. */
function close(a: E1000Adapter): void {
  a.down = true;
  ew32(a, REG.RCTL, er32(a, REG.RCTL) & ~RCTL.EN);
  a.netdev.netifStopQueue();
  ew32(a, REG.TCTL, er32(a, REG.TCTL) & ~TCTL.EN);
  flush(a);
  a.napi.disable();
  ew32(a, REG.IMC, 0xffffffff);
  flush(a);
  a.watchdog.del();
  a.netdev.netifCarrierOff();
  // e1000_reset: no DMA after this, so the rings can go. MODEL: e1000_down's msleep(10) before
  // it is left out (the calls here take no simulated time).
  ew32(a, REG.CTRL, CTRL.RST);
  ew32(a, REG.IMC, 0xffffffff);
  cleanTxRing(a);
  cleanRxRing(a);
  a.k.irq.freeIrq(a.irq, a.netdev.name);
  freeTxResources(a);
  freeRxResources(a);
}

/** e1000_remove: unregister_netdev (closing it), iounmap. */
function remove(pdev: PciDevice): void {
  const a = e1000Adapters.get(pdev);
  if (a === undefined) return;
  a.netdev.close();
  a.k.vmap.iounmap(a.hwAddr);
  e1000Adapters.delete(pdev);
  pdev.drvdata = null;
}
