import { describe, expect, it } from 'vitest';
import { Kernel } from '../../../src/kernel/kernel.js';
import { GFP_ATOMIC } from '../../../src/kernel/mm/gfp.js';
import { Napi, NetDevice, NetdevTx } from '../../../src/kernel/net/netdevice.js';
import { PAGE_FRAG_CACHE_MAX_SIZE } from '../../../src/kernel/net/page-frag.js';
import type { SkBuff } from '../../../src/kernel/net/skbuff.js';
import { MIB } from '../../../src/lib/units.js';
import { Machine } from '../../../src/machine/machine.js';

function kernel(): Kernel {
  return new Kernel(new Machine({ ramSize: 64 * MIB }));
}

describe('the page fragment cache (netdev_alloc_frag)', () => {
  it('carves a 32 KiB compound page from the top down and frees it with the last fragment', () => {
    const k = kernel();
    k.pages.drainAllPages();
    const free0 = k.pages.nrFreePages();
    const frags = [1, 2, 3].map(() => k.skbs.netdevAllocFrag(1920)!);
    const base = frags[0]! + 1920 - PAGE_FRAG_CACHE_MAX_SIZE;
    expect(base % PAGE_FRAG_CACHE_MAX_SIZE).toBe(0);
    expect(frags.map((f) => f - base)).toEqual([32768 - 1920, 32768 - 3840, 32768 - 5760]);
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages()).toBe(free0 - 8);
    // Seventeen fragments fill the page; the next one comes from a new page.
    const more = Array.from({ length: 14 }, () => k.skbs.netdevAllocFrag(1920)!);
    const next = k.skbs.netdevAllocFrag(1920)!;
    expect(Math.floor(next / PAGE_FRAG_CACHE_MAX_SIZE)).not.toBe(base / PAGE_FRAG_CACHE_MAX_SIZE);
    for (const f of [...frags, ...more]) k.skbs.freeFrag(f);
    k.pages.drainAllPages(); // freed pages may sit on the per-CPU lists
    // The first page's references are all gone; the cache holds the second.
    expect(k.pages.nrFreePages()).toBe(free0 - 8);
  });
});

describe('skbs', () => {
  it('fromBytes puts the head in kmalloc memory and the rest in page fragments; read gives it back', () => {
    const k = kernel();
    const bytes = Uint8Array.from({ length: 9000 }, (_, i) => (i * 31) & 0xff);
    const skb = k.skbs.fromBytes(bytes, 100)!;
    expect([skb.len, skb.headlen, skb.dataLen, skb.frags.length]).toEqual([9000, 100, 8900, 3]);
    expect(k.skbs.read(skb)).toEqual(bytes);
    k.skbs.kfreeSkb(skb);
  });

  it('skb_put refuses to run past the buffer', () => {
    const k = kernel();
    const skb = k.skbs.allocSkb(100, GFP_ATOMIC)!;
    expect(() => skb.put(skb.bufSize + 1)).toThrow(
      /skb_put: \d+ bytes overrun the \d+-byte buffer/,
    );
  });
});

describe('net_device and NAPI', () => {
  it('the qdisc holds frames while the driver has the queue stopped, and drains on wake', () => {
    const k = kernel();
    const dev = new NetDevice('eth0');
    const sent: SkBuff[] = [];
    let room = 2;
    dev.ops = {
      open: () => 0,
      stop: () => undefined,
      startXmit: (skb) => {
        if (room === 0) {
          dev.netifStopQueue();
          return NetdevTx.BUSY;
        }
        room--;
        sent.push(skb);
        return NetdevTx.OK;
      },
    };
    expect(dev.open()).toBe(0);
    dev.netifStartQueue();
    const skbs = [1, 2, 3, 4].map(() => k.skbs.allocSkb(64)!);
    for (const s of skbs) dev.queueXmit(s);
    expect(sent).toEqual(skbs.slice(0, 2));
    room = 2;
    dev.netifWakeQueue();
    expect(sent).toEqual(skbs);
  });

  it('a poll that uses its budget runs again; received frames go up after the poll (GRO flush)', () => {
    const k = kernel();
    const dev = new NetDevice('eth0');
    const up: number[] = [];
    dev.rx = (skb) => up.push(skb.len);
    let left = 100;
    const polls: number[] = [];
    const napi = new Napi(
      k.machine.clock,
      (budget) => {
        const n = Math.min(budget, left);
        left -= n;
        polls.push(n);
        const skb = k.skbs.allocSkb(8)!;
        skb.put(n);
        dev.receive(skb);
        expect(up).toHaveLength(polls.length - 1); // held until this poll ends
        if (n < budget) napi.complete(n);
        return n;
      },
      dev,
    );
    napi.enable();
    expect(napi.schedule()).toBe(true);
    expect(napi.schedule()).toBe(false);
    k.machine.clock.run();
    expect(polls).toEqual([64, 36]);
    expect(up).toEqual([64, 36]);
  });
});
