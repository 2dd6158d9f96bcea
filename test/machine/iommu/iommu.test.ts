import { describe, it, expect } from 'vitest';
import { ConfigError } from '../../../src/lib/errors.js';
import { Rng } from '../../../src/lib/rng.js';
import { Clock } from '../../../src/machine/clock/clock.js';
import { EventBus } from '../../../src/machine/events.js';
import {
  INVALIDATION_NS,
  Iommu,
  MAX_FAULT_RECORDS,
  type IommuDomain,
} from '../../../src/machine/iommu/iommu.js';
import { formatBdf } from '../../../src/machine/iommu/fault.js';
import { SparseRam } from '../../../src/machine/memory/ram.js';
import { makeRig, rid, tableAlloc, writePte } from './rig.js';

const NIC = rid(0, 2, 0); // 00:02.0
const MIB2 = 0x20_0000;
const RW = { read: true, write: true };
const RO = { read: true, write: false };

describe('Iommu.translate', () => {
  it('translates through the tables, keeps the page offset, then hits the IOTLB', () => {
    const { iommu, domain } = makeRig();
    domain.map(0xfffff000, 0x1234_5000, 0x1000, RW);
    iommu.attach(NIC, 'e1000', domain);
    expect(iommu.translate(NIC, 0xfffff9c2, false)).toBe(0x1234_59c2);
    expect(iommu.span).toBe(0x63e);
    expect(iommu.translate(NIC, 0xfffff000, true)).toBe(0x1234_5000);
    expect(iommu.span).toBe(0x1000);
    expect(iommu.iotlb.stats).toMatchObject({ hits: 1, misses: 1 });
    expect(iommu.faults).toEqual([]);
  });

  it('gives a 2 MiB block one IOTLB entry and a span to the end of the block', () => {
    const { iommu, domain } = makeRig();
    domain.map(0x4000_0000, 0x8000_0000, MIB2, { ...RW, superpage: true });
    iommu.attach(NIC, 'e1000', domain);
    expect(iommu.translate(NIC, 0x4000_0800, false)).toBe(0x8000_0800);
    expect(iommu.span).toBe(MIB2 - 0x800);
    expect(iommu.translate(NIC, 0x401f_f000, true)).toBe(0x801f_f000);
    expect(iommu.span).toBe(0x1000);
    expect(iommu.iotlb.stats).toMatchObject({ hits: 1, misses: 1 });
    expect(iommu.iotlb.size).toBe(1);
  });

  it('keeps domains apart: the same IOVA in two domains', () => {
    const { iommu, domain, tables, ram } = makeRig();
    const other = iommu.createDomain({
      type: 'translated',
      allocTable: tables.allocTable,
      tableMem: ram,
    });
    domain.map(0x1000, 0xa000, 0x1000, RW);
    other.map(0x1000, 0xb000, 0x1000, RW);
    iommu.attach(NIC, 'e1000', domain);
    iommu.attach(rid(0, 3, 0), 'nvme', other);
    expect(iommu.translate(NIC, 0x1010, false)).toBe(0xa010);
    expect(iommu.translate(rid(0, 3, 0), 0x1010, false)).toBe(0xb010);
    expect(iommu.translate(NIC, 0x1010, false)).toBe(0xa010);
    expect(iommu.iotlb.stats).toMatchObject({ hits: 1, misses: 2 });
  });
});

describe('Iommu faults', () => {
  it('records a read of an unmapped IOVA with reason 0x06 and the kernel message', () => {
    const { iommu, domain, clock } = makeRig();
    iommu.attach(NIC, 'e1000', domain);
    clock.advance(1234);
    expect(iommu.translate(NIC, 0xfffff9c2, false)).toBe(-1);
    expect(iommu.span).toBe(0x63e);
    expect(iommu.faults).toEqual([
      {
        t: 1234,
        requesterId: NIC,
        device: 'e1000',
        iova: 0xfffff9c2,
        write: false,
        reason: 0x06,
        message:
          'DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set',
      },
    ]);
  });

  it('records a write of an unmapped IOVA with reason 0x05', () => {
    const { iommu, domain } = makeRig();
    iommu.attach(rid(0x3a, 0x1f, 7), 'dev', domain);
    expect(iommu.translate(rid(0x3a, 0x1f, 7), 0x1_0000_0000, true)).toBe(-1);
    expect(iommu.faults[0]?.reason).toBe(0x05);
    expect(iommu.faults[0]?.message).toBe(
      'DMAR: [DMA Write NO_PASID] Request device [3a:1f.7] fault addr 0x100000000 [fault reason 0x05] PTE Write access is not set',
    );
  });

  it('blocks a write to a read-only mapping, on a miss and on an IOTLB hit', () => {
    const { iommu, domain } = makeRig();
    domain.map(0x1000, 0x5000, 0x2000, RO);
    iommu.attach(NIC, 'e1000', domain);
    expect(iommu.translate(NIC, 0x1000, true)).toBe(-1); // miss: walk says R only
    expect(iommu.translate(NIC, 0x2000, false)).toBe(0x6000); // fills the IOTLB
    expect(iommu.translate(NIC, 0x2004, true)).toBe(-1); // hit, no W
    expect(iommu.faults.map((f) => [f.reason, f.iova])).toEqual([
      [0x05, 0x1000],
      [0x05, 0x2004],
    ]);
  });

  it('blocks a read of a write-only mapping with reason 0x06', () => {
    const { iommu, domain } = makeRig();
    domain.map(0x1000, 0x5000, 0x1000, { read: false, write: true });
    iommu.attach(NIC, 'e1000', domain);
    expect(iommu.translate(NIC, 0x1000, true)).toBe(0x5000);
    expect(iommu.translate(NIC, 0x1000, false)).toBe(-1);
    expect(iommu.faults.map((f) => f.reason)).toEqual([0x06]);
  });

  it('reports an IOVA beyond the address width with reason 0x04', () => {
    const { iommu, domain } = makeRig({ addressWidth: 39 });
    iommu.attach(NIC, 'e1000', domain);
    expect(iommu.translate(NIC, 2 ** 39, false)).toBe(-1);
    expect(iommu.faults[0]?.message).toBe(
      'DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x8000000000 [fault reason 0x04] Access beyond MGAW',
    );
  });

  it('reports PS set above level 3 as a reserved field (0x0c)', () => {
    const { iommu, domain, ram } = makeRig();
    writePte(ram, domain.pageTable!.root, 0x83, 0);
    iommu.attach(NIC, 'e1000', domain);
    expect(iommu.translate(NIC, 0x1000, false)).toBe(-1);
    expect(iommu.faults[0]?.message).toMatch(
      /\[fault reason 0x0c\] non-zero reserved fields in PTE$/,
    );
  });

  it('keeps at most MAX_FAULT_RECORDS records and counts the rest', () => {
    const { iommu, domain } = makeRig();
    iommu.attach(NIC, 'e1000', domain);
    for (let i = 0; i < MAX_FAULT_RECORDS + 44; i++) iommu.translate(NIC, i * 0x1000, false);
    expect(iommu.faults.length).toBe(256);
    expect(iommu.faultsDropped).toBe(44);
    expect(iommu.faults[255]?.iova).toBe(255 * 0x1000);
    iommu.clearFaults();
    expect(iommu.translate(NIC, 0, false)).toBe(-1);
    expect(iommu.faults.length).toBe(1);
  });
});

describe('the lazy-mode window: a stale IOTLB entry translates until invalidated', () => {
  const flushes: [string, (i: Iommu, d: IommuDomain) => number][] = [
    ['invalidatePage', (i, d) => i.invalidatePage(d, 0x7000)],
    ['invalidateRange', (i, d) => i.invalidateRange(d, 0x6000, 0x3000)],
    ['invalidateDomain', (i, d) => i.invalidateDomain(d)],
    ['invalidateAll', (i) => i.invalidateAll()],
  ];
  for (const [name, flush] of flushes) {
    it(`${name} ends it`, () => {
      const { iommu, domain } = makeRig();
      domain.map(0x7000, 0x5_5000, 0x1000, RW);
      iommu.attach(NIC, 'e1000', domain);
      expect(iommu.translate(NIC, 0x7008, true)).toBe(0x5_5008);
      expect(domain.unmap(0x7000, 0x1000)).toBe(0x1000);
      expect(domain.lookup(0x7000)).toBeUndefined();
      // The tables say no, but the IOTLB still says yes.
      expect(iommu.translate(NIC, 0x7008, true)).toBe(0x5_5008);
      expect(iommu.translate(NIC, 0x7010, false)).toBe(0x5_5010);
      expect(iommu.faults).toEqual([]);
      expect(flush(iommu, domain)).toBe(1);
      expect(iommu.translate(NIC, 0x7008, true)).toBe(-1);
      expect(iommu.translate(NIC, 0x7010, false)).toBe(-1);
      expect(iommu.faults.map((f) => f.reason)).toEqual([0x05, 0x06]);
    });
  }

  it('flushing another page or domain does not end it', () => {
    const { iommu, domain, tables, ram } = makeRig();
    const other = iommu.createDomain({
      type: 'translated',
      allocTable: tables.allocTable,
      tableMem: ram,
    });
    domain.map(0x7000, 0x5_5000, 0x1000, RW);
    iommu.attach(NIC, 'e1000', domain);
    iommu.translate(NIC, 0x7000, false);
    domain.unmap(0x7000, 0x1000);
    expect(iommu.invalidatePage(domain, 0x8000)).toBe(0);
    expect(iommu.invalidateDomain(other)).toBe(0);
    expect(iommu.translate(NIC, 0x7000, false)).toBe(0x5_5000);
  });
});

describe('IOTLB replacement through the Iommu', () => {
  function run(replacement: 'lru' | 'fifo'): { hits: number; misses: number } {
    const { iommu, domain } = makeRig({ iotlbEntries: 2, iotlbWays: 2, replacement });
    domain.map(0x1000, 0x10_0000, 0x3000, RW);
    iommu.attach(NIC, 'e1000', domain);
    for (const p of [0x1000, 0x2000, 0x1000, 0x3000]) iommu.translate(NIC, p, false);
    const before = { ...iommu.iotlb.stats };
    iommu.translate(NIC, 0x1000, false);
    return {
      hits: iommu.iotlb.stats.hits - before.hits,
      misses: iommu.iotlb.stats.misses - before.misses,
    };
  }

  it('lru keeps the page used just before the eviction', () => {
    expect(run('lru')).toEqual({ hits: 1, misses: 0 });
  });

  it('fifo evicts the first page filled', () => {
    expect(run('fifo')).toEqual({ hits: 0, misses: 1 });
  });
});

describe('identity, blocked and unattached devices', () => {
  it('an identity domain passes addresses through', () => {
    const { iommu } = makeRig();
    iommu.attach(NIC, 'isa', iommu.createDomain({ type: 'identity' }));
    expect(iommu.translate(NIC, 0x12_3456, true)).toBe(0x12_3456);
    expect(iommu.span).toBe(2 ** 52 - 0x12_3456);
    expect(iommu.faults).toEqual([]);
  });

  it('a blocked domain faults with reason 0x02', () => {
    const { iommu } = makeRig();
    iommu.attach(NIC, 'e1000', iommu.createDomain({ type: 'blocked' }));
    expect(iommu.translate(NIC, 0x1000, false)).toBe(-1);
    expect(iommu.faults[0]?.message).toBe(
      'DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x02] Present bit in context entry is clear',
    );
  });

  it('an unattached or detached device faults with reason 0x02', () => {
    const { iommu, domain } = makeRig();
    domain.map(0x1000, 0x5000, 0x1000, RW);
    expect(iommu.translate(rid(0, 3, 0), 0x1000, true)).toBe(-1);
    expect(iommu.faults[0]).toMatchObject({ device: '0000:00:03.0', reason: 0x02, write: true });
    iommu.attach(NIC, 'e1000', domain);
    expect(iommu.translate(NIC, 0x1000, false)).toBe(0x5000);
    expect(iommu.domainOf(NIC)).toBe(domain);
    expect(iommu.detach(NIC)).toBe(true);
    expect(iommu.detach(NIC)).toBe(false);
    expect(iommu.translate(NIC, 0x1000, false)).toBe(-1);
    expect(iommu.faults[1]).toMatchObject({ reason: 0x02, requesterId: NIC });
  });

  it('numbers domains from 1', () => {
    const { iommu, domain } = makeRig();
    expect(domain.id).toBe(1);
    expect(iommu.createDomain({ type: 'identity' }).id).toBe(2);
    expect(iommu.createDomain({ type: 'blocked' }).id).toBe(3);
  });

  it('formats requester ids as bus:dev.fn', () => {
    expect(formatBdf(0x0a1b)).toBe('0a:03.3');
    expect(formatBdf(0xffff)).toBe('ff:1f.7');
  });
});

describe('events', () => {
  it('emits lookups, faults and invalidations when observed', () => {
    const { iommu, domain, seen } = makeRig({}, true);
    domain.map(0x1000, 0x5000, 0x1000, RW);
    iommu.attach(NIC, 'e1000', domain);
    iommu.translate(NIC, 0x1004, false);
    iommu.translate(NIC, 0x1008, false);
    iommu.translate(NIC, 0x9000, false);
    iommu.invalidateRange(domain, 0x1000, 0x1000);
    expect(seen).toEqual([
      { kind: 'iotlb', t: 0, op: 'miss', domain: 1, iova: 0x1004, phys: 0x5004 },
      { kind: 'iotlb', t: 0, op: 'hit', domain: 1, iova: 0x1008, phys: 0x5008 },
      { kind: 'iotlb', t: 0, op: 'miss', domain: 1, iova: 0x9000, phys: -1 },
      { kind: 'iommu-fault', t: 0, fault: iommu.faults[0] },
      { kind: 'iotlb-inval', t: 0, scope: 'range', domain: 1, iova: 0x1000, len: 0x1000 },
    ]);
  });
});

describe('configuration', () => {
  const deps = (): ConstructorParameters<typeof Iommu>[1] => ({
    walker: new SparseRam(),
    rng: new Rng(1),
    events: new EventBus(),
    clock: new Clock(),
  });
  const make = (c: object): Iommu => new Iommu(c, deps());

  it('rejects bad values, naming the accepted ones', () => {
    expect(() => make({ addressWidth: 40 })).toThrow(
      'iommu: addressWidth 40 is not supported; use 39, 48 or 57 (3, 4 or 5 levels)',
    );
    expect(() => make({ replacement: 'mru' })).toThrow(
      "iommu: replacement 'mru' is not supported; use lru, fifo, random",
    );
    expect(() => make({ iotlbEntries: 48 })).toThrow(ConfigError);
    expect(() => make({ iotlbWays: 128 })).toThrow(ConfigError);
    expect(make({ addressWidth: 57 }).levels).toBe(5);
    expect(make({}).levels).toBe(4);
    expect(() => make({ invalidationNs: -1 })).toThrow(
      'iommu: invalidationNs -1 is not a time; give a whole number of ns >= 0',
    );
    expect(() => make({ invalidationNs: 0.5 })).toThrow(ConfigError);
  });

  it('charges every invalidation request, whatever its scope, invalidationNs of CPU time', () => {
    const io = make({ invalidationNs: 700 });
    const ram = new SparseRam();
    const d = io.createDomain({
      type: 'translated',
      allocTable: tableAlloc().allocTable,
      tableMem: ram,
    });
    io.invalidatePage(d, 0x1000);
    io.invalidateRange(d, 0x1000, 0x4000);
    io.invalidateDomain(d);
    io.invalidateAll();
    expect(io.invalidationRequests).toEqual({ page: 1, range: 1, domain: 1, all: 1 });
    expect(io.invalidationWaitNs).toBe(4 * 700);
    expect(make({}).invalidationNs).toBe(INVALIDATION_NS);
  });

  it('rejects map on a domain without tables and foreign or bad attachments', () => {
    const a = make({});
    const b = make({});
    const ident = a.createDomain({ type: 'identity' });
    expect(() => {
      ident.map(0x1000, 0x1000, 0x1000, RW);
    }).toThrow('iommu map: domain 1 is identity and has no page tables; use a translated domain');
    expect(() => {
      b.attach(NIC, 'e1000', ident);
    }).toThrow(/domain 1 belongs to another IOMMU/);
    expect(() => {
      a.attach(0x10000, 'e1000', ident);
    }).toThrow(/requester id 65536 is not 0..0xffff/);
  });
});
