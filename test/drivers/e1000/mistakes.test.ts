/**
 * The e1000 driver broken on purpose (issue 6, "options to break it"): each mistake raises its
 * findings, on the coherent x86_64 machine where the data happens to survive as well as on the
 * non-coherent Arm machines where it does not.
 */
import { describe, expect, it } from 'vitest';
import { SETUPS, checkedNet, kinds } from './rig.js';
import type { Setup } from './rig.js';

const X86 = SETUPS[0] as Setup;
const ARM64 = SETUPS[1] as Setup;
const ARM32 = SETUPS[2] as Setup;
const STRICT = SETUPS[4] as Setup;
const BOUNCE = SETUPS[6] as Setup;
const SIZES = (seq: number): number => (seq % 3 === 0 ? 1400 : 56);
/** Every option but the mistake as a correct driver has it. */
const FIXED = { syncCopybreakForDevice: true };

describe('e1000 mistakes', () => {
  it.each([X86, ARM64])(
    'no dma_mapping_error check: map-error-not-checked per TX map ($name)',
    (s) => {
      const n = checkedNet(s, { ...FIXED, mistakes: { skipMapErrorCheck: true } });
      expect(n.ping(20, SIZES)).toBe(20);
      n.unload();
      // The ARP request and 20 echo requests: one streaming map each, each unmapped unchecked.
      expect(kinds(n.findings())).toEqual({ 'map-error-not-checked': 21 });
      expect(n.findings()[0]?.message).toMatch(
        /^device driver failed to check map error\[device address=0x[0-9a-f]{16}\] \[size=60 bytes\] \[mapped as single\]$/,
      );
    },
  );

  it.each([X86, ARM64])(
    'TX buffers never unmapped: a leak at unbind, and the stack writing into them ($name)',
    (s) => {
      const n = checkedNet(s, { ...FIXED, mistakes: { forgetTxUnmap: true } });
      expect(n.ping(20, SIZES)).toBe(20);
      n.unload();
      const k = kinds(n.findings());
      expect(k.leak).toBe(1);
      expect(n.dbg.findings.all.find((f) => f.kind === 'leak')?.message).toMatch(
        /^device driver has pending DMA allocations while released from device \[count=21\]/,
      );
      // kfree'd skb heads still mapped TO_DEVICE are handed out again and written.
      expect(k['cpu-access-device-owned']).toBeGreaterThan(0);
      expect(Object.keys(k).sort()).toEqual(['cpu-access-device-owned', 'leak']);
    },
  );

  it('copybreak without dma_sync_single_for_cpu: caught on x86 even though the bytes are right', () => {
    const n = checkedNet(X86, { ...FIXED, mistakes: { skipRxSync: true } });
    expect(n.ping(30, SIZES)).toBe(30);
    n.unload();
    expect(Object.keys(kinds(n.findings()))).toEqual(['cpu-access-device-owned']);
    expect(n.findings()[0]?.message).toMatch(/^CPU reads DMA memory the device owns /);
  });

  it('copybreak without dma_sync_single_for_cpu on arm32: stale cache lines, corrupted frames', () => {
    // A short ring brings each buffer back while the CPU still caches its last frame.
    const n = checkedNet(ARM32, { rxDescriptors: 48, mistakes: { skipRxSync: true } });
    const ok = n.ping(150, SIZES);
    n.unload();
    const k = kinds(n.findings());
    expect(Object.keys(k).sort()).toEqual(['cpu-access-device-owned', 'stale-cpu-read']);
    expect(ok).toBeLessThan(150);
    expect(n.host.counters.bad).toBe(150 - ok);
    expect(n.findings().find((f) => f.kind === 'stale-cpu-read')?.message).toMatch(
      /^CPU reads a cache line older than what the device wrote /,
    );
  });

  it('no barrier before the TDT doorbell: harmless on x86, the descriptors are not there yet on arm64', () => {
    const x86 = checkedNet(X86, { ...FIXED, mistakes: { skipTxBarrier: true } });
    expect(x86.ping(10, 56)).toBe(10);
    x86.unload();
    expect(x86.findings()).toEqual([]);
    const arm = checkedNet(ARM64, { ...FIXED, mistakes: { skipTxBarrier: true } });
    expect(arm.ping(10, 56)).toBe(0);
    arm.unload();
    expect(kinds(arm.findings())).toEqual({ 'wc-not-drained': 1 });
    expect(arm.findings()[0]?.message).toMatch(
      /^device reads memory whose CPU stores are still in a write-combining buffer /,
    );
  });

  it('physical addresses in TX descriptors: right by luck on dma-direct, a DMAR fault and a hung transmitter behind the IOMMU, unowned reads with bouncing', () => {
    const direct = checkedNet(X86, { ...FIXED, mistakes: { txPhysAddr: true } });
    expect(direct.ping(5, 56)).toBe(5);
    direct.unload();
    expect(direct.findings()).toEqual([]);

    const iommu = checkedNet(STRICT, { ...FIXED, mistakes: { txPhysAddr: true } });
    expect(iommu.ping(5, 56)).toBe(0);
    iommu.wait(5e9); // two watchdog periods
    const log = iommu.k.log.all.map((l) => l.text);
    expect(log).toContainEqual(
      expect.stringMatching(
        /^DMAR: \[DMA Read NO_PASID\] Request device \[00:01\.0\] fault addr 0x[0-9a-f]+ \[fault reason 0x06\] PTE Read access is not set$/,
      ),
    );
    expect(log).toContainEqual(
      expect.stringMatching(
        /^e1000 0000:00:01\.0 eth0: Detected Tx Unit Hang\n {2}Tx Queue {13}<0>\n {2}TDH {18}<0>\n {2}TDT {18}<1>\n/,
      ),
    );
    expect(iommu.nic.faults).toHaveLength(1);
    expect(iommu.adapter.netdev.queueStopped).toBe(true);
    iommu.unload();
    expect(kinds(iommu.findings())).toEqual({ 'device-access-unowned': 1 });

    const bounce = checkedNet(BOUNCE, { ...FIXED, mistakes: { txPhysAddr: true } });
    expect(bounce.ping(5, 56)).toBe(5);
    bounce.unload();
    // The ARP request and five echo requests were read from the buffers, not the bounce slots.
    expect(kinds(bounce.findings())).toEqual({ 'device-access-unowned': 6 });
  });
});
