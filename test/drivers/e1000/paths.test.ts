/**
 * The e1000 driver's harder paths (issue 6, Tests), each on x86_64 (coherent) and arm64
 * (non-coherent), with the IOMMU off, strict and lazy, and with swiotlb=force: TX ring full, RX
 * ring full, a multi-fragment frame, a 64 KiB TSO send, a mapping failure on the third fragment
 * unwound, link down and up, and remove with traffic in flight. The checkers watch every run and
 * must find nothing.
 */
import { describe, expect, it } from 'vitest';
import type { VirtAddr } from '../../../src/lib/addr.js';
import { parseIp } from '../../../src/lib/net/frame-defs.js';
import { STAT } from '../../../src/devices/e1000/regs.js';
import { HOST_IP, PEER_IP } from '../../../src/scenarios/e1000-net.js';
import { checkedNet, kinds } from './rig.js';
import type { CheckedNet, Setup } from './rig.js';

const PEER = parseIp(PEER_IP);
const CONFIGS: Setup[] = [
  { name: 'x86_64', machine: {}, cmdline: '' },
  { name: 'arm64', machine: { arch: 'arm64' }, cmdline: '' },
  {
    name: 'arm64 IOMMU strict',
    machine: { arch: 'arm64', iommu: true },
    cmdline: 'iommu.strict=1',
  },
  {
    name: 'x86_64 IOMMU strict',
    machine: { iommu: true },
    cmdline: 'intel_iommu=on iommu.strict=1',
  },
  { name: 'x86_64 IOMMU lazy', machine: { iommu: true }, cmdline: 'intel_iommu=on' },
  { name: 'x86_64 swiotlb=force', machine: {}, cmdline: 'swiotlb=force' },
  // arm64 sizes its pool at 1 KiB per MiB of RAM unless told: 255 receive buffers would fill it.
  { name: 'arm64 swiotlb=force', machine: { arch: 'arm64' }, cmdline: 'swiotlb=16384,force' },
];
/** The correct driver (with the sync e1000_main.c leaves out; see e1000.test.ts). */
const CORRECT = { syncCopybreakForDevice: true };

function bytes(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (i * 13 + seed + (i >> 9)) & 0xff;
  return out;
}

/** A statistics register of the NIC, read (and so cleared) through BAR0 as the driver would. */
function stat(n: CheckedNet, reg: number): number {
  return n.k.io.readl((n.adapter.hwAddr + reg) as VirtAddr);
}

function clean(n: CheckedNet): void {
  n.unload();
  expect(n.findings().map((f) => `${f.kind}: ${f.message}`)).toEqual([]);
  expect(n.dbg.nActive).toBe(0);
  expect(n.nic.faults).toEqual([]);
}

describe.each(CONFIGS)('e1000 paths on $name', (s) => {
  it('TX ring full: the queue stops, the qdisc holds the rest, every datagram is echoed', () => {
    const n = checkedNet(s, CORRECT);
    expect(n.ping(1, 56)).toBe(1); // the peer's MAC is known: no datagram waits for ARP
    for (let i = 0; i < 400; i++) n.host.sendUdp(PEER, 40000, 7, bytes(1000, i));
    expect(n.adapter.netdev.queueStopped).toBe(true);
    n.wait(20e6);
    expect(n.adapter.counters.restartQueue).toBeGreaterThan(0);
    expect(n.host.counters.udp).toBe(400);
    const udp = n.host.received.filter((r) => r.kind === 'udp');
    expect(udp.every((r, i) => r.payload.every((b, j) => b === bytes(1000, i)[j]))).toBe(true);
    clean(n);
  });

  it('RX ring full: frames wait in the FIFO, RNBC and MPC count the overflow, the driver recovers', () => {
    // 100 interrupts/s: 10 ms without a poll while 1500 frames arrive at line rate.
    const n = checkedNet(s, { ...CORRECT, interruptThrottleRate: 100 });
    for (let i = 0; i < 1500; i++)
      n.peer.sendUdp(n.adapter.netdev.devAddr, parseIp(HOST_IP), 7, 40000, bytes(1400, i));
    n.wait(200e6);
    const got = n.host.counters.udp;
    expect(got).toBeGreaterThanOrEqual(256);
    expect(got).toBeLessThan(1500);
    expect(stat(n, STAT.RNBC)).toBeGreaterThan(0);
    expect(stat(n, STAT.MPC)).toBe(1500 - got);
    const before = n.host.counters.echoReplies;
    n.ping(5, 56);
    n.wait(50e6); // a reply may wait up to 10 ms for the throttled interrupt
    expect(n.host.counters.echoReplies - before).toBe(5);
    clean(n);
  });

  it('a multi-fragment frame and a 64 KiB TSO send reach the peer whole', () => {
    const n = checkedNet(s, CORRECT);
    const small = bytes(9000, 1);
    n.host.sendTcp(PEER, {
      srcPort: 41000,
      dstPort: 9,
      seq: 1,
      payload: small.subarray(0, 1400),
      linear: 200,
    });
    const big = bytes(64_000, 2);
    n.host.sendTcp(PEER, {
      srcPort: 41001,
      dstPort: 9,
      seq: 7,
      payload: big,
      mss: 1448,
      linear: 54 + 2000,
    });
    n.wait(10e6);
    expect(n.peer.tcpFlow(parseIp(HOST_IP), 41000)?.bytes).toBe(1400);
    expect(n.peer.tcpFlow(parseIp(HOST_IP), 41001)).toMatchObject({
      bytes: 64_000,
      segments: 45,
      gaps: 0,
    });
    expect(n.peer.counters.badChecksum).toBe(0);
    clean(n);
  });

  it('a mapping failure on the third fragment: the first two and the head are unmapped again', () => {
    const n = checkedNet(s, CORRECT);
    expect(n.ping(2, 56)).toBe(2);
    const live = n.dbg.nActive;
    const log = n.k.log.all.length;
    // Head, fragment 1, fragment 2 map; fragment 3 fails.
    n.k.dma.injectMapFailure(4);
    n.host.sendTcp(PEER, {
      srcPort: 41002,
      dstPort: 9,
      seq: 1,
      payload: bytes(12_000, 3),
      linear: 100,
    });
    expect(n.dbg.nActive).toBe(live);
    expect(n.adapter.counters.txDmaFailed).toBe(1);
    expect(n.k.log.all.slice(log).map((l) => l.text)).toEqual([
      'e1000 0000:00:01.0: TX DMA map failed',
    ]);
    expect(n.adapter.txRing.nextToUse).toBe(n.adapter.txRing.nextToClean);
    n.wait(10e6);
    expect(n.peer.tcpFlow(parseIp(HOST_IP), 41002)).toBeUndefined();
    expect(n.ping(2, 1400)).toBe(2);
    clean(n);
  });

  it('link down and up: carrier off, traffic waits, the link comes back and pings flow', () => {
    const n = checkedNet(s, CORRECT);
    expect(n.ping(2, 56)).toBe(2);
    n.nic.connectLink(null);
    n.wait(3e9);
    expect(n.adapter.netdev.carrierOk).toBe(false);
    expect(n.k.log.all.map((l) => l.text)).toContain('e1000 0000:00:01.0 eth0: NIC Link is Down');
    n.nic.connectLink(n.cable);
    n.wait(3e9);
    expect(n.adapter.netdev.carrierOk).toBe(true);
    expect(n.ping(3, 1400)).toBe(3);
    clean(n);
  });

  it('remove with traffic in flight: everything unmapped, the device touches nothing afterwards', () => {
    const n = checkedNet(s, CORRECT);
    for (let i = 0; i < 50; i++) n.host.sendUdp(PEER, 40000, 7, bytes(1400, i));
    n.wait(100e3); // some frames on the wire, some echoed into the RX ring, none cleaned yet
    n.unload();
    n.wait(50e6);
    expect(n.findings().map((f) => `${f.kind}: ${f.message}`)).toEqual([]);
    expect(n.dbg.nActive).toBe(0);
    expect(kinds(n.dbg.findings.all)).toEqual({});
  });
});
