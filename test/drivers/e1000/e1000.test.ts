/**
 * The e1000 driver end to end (issue 6): pings of both sizes through the real driver, device model
 * and link on every profile, behind the IOMMU and bouncing; the checkers find nothing but the one
 * DMA API rule e1000_main.c itself breaks (copybreak buffers go back to the device without
 * dma_sync_single_for_device), and nothing with that sync added; remove leaves nothing mapped.
 */
import { describe, expect, it } from 'vitest';
import { SETUPS, checkedNet, kinds } from './rig.js';

const SIZES = (seq: number): number => (seq % 3 === 0 ? 1400 : 56);

describe.each(SETUPS)('e1000 on $name', (s) => {
  it('300 pings come back intact; with the copybreak sync added no checker finds anything', () => {
    const n = checkedNet(s, { syncCopybreakForDevice: true });
    expect(n.adapter.netdev.carrierOk).toBe(true);
    expect(n.k.log.all.map((l) => l.text)).toContain(
      'e1000 0000:00:01.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: RX/TX',
    );
    // More pings than ring slots: both rings wrap.
    expect(n.ping(300, SIZES)).toBe(300);
    expect(n.nic.faults).toEqual([]);
    const st = n.adapter.netdev.stats;
    expect([st.txPackets, st.rxPackets, st.rxErrors, st.txDropped]).toEqual([301, 301, 0, 0]);
    n.unload();
    expect(n.findings().map((f) => f.message)).toEqual([]);
    expect(n.dbg.nActive).toBe(0);
  });

  it("as e1000_main.c: the reused copybreak buffer is the device's again without a sync", () => {
    const n = checkedNet(s);
    expect(n.ping(300, SIZES)).toBe(300);
    n.unload();
    const found = n.findings();
    expect(Object.keys(kinds(found))).toEqual(['device-access-unowned']);
    for (const f of found)
      expect(f.message).toMatch(/^device writes DMA memory it does not own \(the CPU owns it\)/);
    // Nothing went stale: the CPU only reads the buffer, after dma_sync_single_for_cpu each time.
    expect(n.host.counters.bad).toBe(0);
  });
});

describe('e1000 with a bounce pool too small for its rings', () => {
  it('arm64 sizes swiotlb by RAM: the receive buffers take it all, transmits fail cleanly', () => {
    // 256 MiB of RAM: a 512 KiB pool, 256 slots; 255 receive buffers take one each, and the
    // slot the ARP request gave back goes to the buffer refilled after the ARP reply.
    const n = checkedNet(
      { name: 'arm64', machine: { arch: 'arm64' }, cmdline: 'swiotlb=force' },
      {
        syncCopybreakForDevice: true,
      },
    );
    expect(n.ping(3, 56)).toBe(0);
    const log = n.k.log.all.map((l) => l.text);
    expect(log).toContainEqual(
      expect.stringMatching(
        /^e1000 0000:00:01\.0: swiotlb buffer is full \(sz: 98 bytes\), total \d+ \(slots\), used \d+ \(slots\)$/,
      ),
    );
    expect(log).toContain('e1000 0000:00:01.0: TX DMA map failed');
    expect(n.adapter.counters.txDmaFailed).toBeGreaterThan(0);
    n.unload();
    expect(n.findings()).toEqual([]);
    expect(n.dbg.nActive).toBe(0);
  });
});
