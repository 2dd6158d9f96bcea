import { describe, expect, it } from 'vitest';
import { check64kBound } from '../../../src/drivers/e1000/adapter.js';
import { SETUPS, checkedNet } from './rig.js';

describe('e1000_check_64k_bound (erratum 23 of the 82545/82546)', () => {
  it('refuses a range across a 64 KiB boundary only on an erratum-23 part', () => {
    const part = checkedNet(SETUPS[0]!, { erratum23: true }).adapter;
    expect(check64kBound(part, 0x1_0000 - 1522, 1522)).toBe(true);
    expect(check64kBound(part, 0x1_0000 - 1521, 1522)).toBe(false);
    expect(check64kBound(part, 0x2_fff0, 16)).toBe(true);
    expect(check64kBound(part, 0x2_fff1, 16)).toBe(false);
    const e82540 = checkedNet(SETUPS[0]!).adapter;
    expect(check64kBound(e82540, 0x1_0000 - 1521, 1522)).toBe(true);
  });

  it('with the checks on, rings and buffers (never across 64 KiB here) work as before', () => {
    const n = checkedNet(SETUPS[4]!, { syncCopybreakForDevice: true, erratum23: true });
    expect(n.ping(20, 1400)).toBe(20);
    n.unload();
    expect(n.findings()).toEqual([]);
    expect(n.k.log.all.map((l) => l.text).filter((t) => t.includes('align check'))).toEqual([]);
  });
});
