import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { kstrtobool, memparse, parseCmdline, splitCmdline } from '../../src/kernel/cmdline.js';
import { ConfigError } from '../../src/lib/errors.js';
import { GIB, MIB } from '../../src/lib/units.js';

/** The kernel command lines of the real traces (../shared/traces/<name>.cmdline). */
const REAL: Record<string, string> = {
  A_e1000_direct:
    'console=ttyS0 loglevel=6 panic=-1 no_timer_check trace_buf_size=48M trace_event=dma:*,iommu:*,swiotlb:*,intel_iommu:* iommu=off intel_iommu=off oracle.scenario=A_e1000_direct oracle.workload=net',
  B_e1000_iommu_strict:
    'console=ttyS0 loglevel=6 panic=-1 no_timer_check trace_buf_size=48M trace_event=dma:*,iommu:*,swiotlb:*,intel_iommu:* intel_iommu=on iommu.strict=1 oracle.scenario=B_e1000_iommu_strict oracle.workload=net',
  D_e1000_swiotlb:
    'console=ttyS0 loglevel=6 panic=-1 no_timer_check trace_buf_size=48M trace_event=dma:*,iommu:*,swiotlb:*,intel_iommu:* iommu=off intel_iommu=off swiotlb=force oracle.scenario=D_e1000_swiotlb oracle.workload=net',
  E_nvme_direct:
    'console=ttyS0 loglevel=6 panic=-1 no_timer_check trace_buf_size=48M trace_event=dma:*,iommu:*,swiotlb:*,intel_iommu:* iommu=off intel_iommu=off oracle.scenario=E_nvme_direct oracle.workload=nvme',
  E_nvme_iommu_strict:
    'console=ttyS0 loglevel=6 panic=-1 no_timer_check trace_buf_size=48M trace_event=dma:*,iommu:*,swiotlb:*,intel_iommu:* intel_iommu=on iommu.strict=1 oracle.scenario=E_nvme_iommu_strict oracle.workload=nvme',
};

const TRACES = new URL('../../../shared/traces/', import.meta.url);

/** The line after the "# kernel command line" comment of a .cmdline file. */
function cmdlineOf(file: string): string {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith('# kernel command line'));
  return lines[i + 1] ?? '';
}

/** The ConfigError message parseCmdline throws for `cmdline`. */
function errorOf(cmdline: string): string {
  try {
    parseCmdline(cmdline);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`"${cmdline}" parsed without an error`);
}

describe('the real command lines', () => {
  it.runIf(existsSync(TRACES))('are the ones in ../shared/traces', () => {
    for (const [name, line] of Object.entries(REAL)) {
      expect(cmdlineOf(new URL(`${name}.cmdline`, TRACES).pathname)).toBe(line);
    }
  });

  it('A: iommu=off intel_iommu=off, everything else kept in order', () => {
    const p = parseCmdline(REAL['A_e1000_direct']!);
    expect(p.iommu).toEqual({
      strict: null,
      passthrough: null,
      forcedac: null,
      off: true,
      force: false,
      intel: false,
      x86Options: ['off'],
      intelOptions: ['off'],
    });
    expect(p.mem).toBeNull();
    expect(p.swiotlb).toBeNull();
    expect(p.unknown).toEqual([
      { name: 'console', value: 'ttyS0' },
      { name: 'loglevel', value: '6' },
      { name: 'panic', value: '-1' },
      { name: 'no_timer_check', value: null },
      { name: 'trace_buf_size', value: '48M' },
      { name: 'trace_event', value: 'dma:*,iommu:*,swiotlb:*,intel_iommu:*' },
      { name: 'oracle.scenario', value: 'A_e1000_direct' },
      { name: 'oracle.workload', value: 'net' },
    ]);
    expect(p.initArgs).toEqual([]);
  });

  it('B and E strict: intel_iommu=on iommu.strict=1', () => {
    for (const name of ['B_e1000_iommu_strict', 'E_nvme_iommu_strict']) {
      const p = parseCmdline(REAL[name]!);
      expect(p.iommu.intel).toBe(true);
      expect(p.iommu.strict).toBe(true);
      expect(p.iommu.off).toBe(false);
      expect(p.iommu.passthrough).toBeNull();
    }
  });

  it('D: swiotlb=force with the default size', () => {
    const p = parseCmdline(REAL['D_e1000_swiotlb']!);
    expect(p.swiotlb).toEqual({ nslabs: null, nareas: null, mode: 'force' });
    expect(p.iommu.off).toBe(true);
  });
});

describe('mem= (memparse)', () => {
  const mem = (v: string): number | null => parseCmdline(`mem=${v}`).mem;

  it('takes K, M, G, T, P suffixes in either case, hex and octal', () => {
    expect(mem('62M')).toBe(62 * MIB);
    expect(mem('62MB')).toBe(62 * MIB); // the seed's spelling
    expect(mem('2g')).toBe(2 * GIB);
    expect(mem('512k')).toBe(512 * 1024);
    expect(mem('1T')).toBe(2 ** 40);
    expect(mem('1p')).toBe(2 ** 50);
    expect(mem('0x4000000')).toBe(64 * MIB);
    expect(mem('0x10M')).toBe(16 * MIB);
    expect(mem('010M')).toBe(8 * MIB); // a leading 0 is octal, as simple_strtoull with base 0
    expect(mem('4096')).toBe(4096);
  });

  it('the last mem= wins', () => {
    expect(parseCmdline('mem=1G mem=2G').mem).toBe(2 * GIB);
  });

  it('memparse reports where it stopped and whether a suffix was read', () => {
    expect(memparse('64M@0x1000')).toEqual({ value: 64n * 1024n * 1024n, end: 3, unit: true });
    expect(memparse('1E')).toEqual({ value: 2n ** 60n, end: 2, unit: true });
    expect(memparse('x')).toEqual({ value: null, end: 0, unit: false });
  });
});

describe('the other parameters', () => {
  it('swiotlb= rounds nslabs up to 128 and reads nareas and force/noforce', () => {
    expect(parseCmdline('swiotlb=65536').swiotlb).toEqual({
      nslabs: 65536,
      nareas: null,
      mode: null,
    });
    expect(parseCmdline('swiotlb=1000').swiotlb?.nslabs).toBe(1024);
    expect(parseCmdline('swiotlb=1000,4,force').swiotlb).toEqual({
      nslabs: 1024,
      nareas: 4,
      mode: 'force',
    });
    expect(parseCmdline('swiotlb=0x8000,noforce').swiotlb).toEqual({
      nslabs: 32768,
      nareas: null,
      mode: 'noforce',
    });
  });

  it('kstrtobool looks at the first character, or two for on/off', () => {
    for (const v of ['1', 'y', 'Y', 'yes', 't', 'true', 'on', 'ON'])
      expect(kstrtobool(v)).toBe(true);
    for (const v of ['0', 'n', 'N', 'no', 'f', 'false', 'off', 'oFF'])
      expect(kstrtobool(v)).toBe(false);
    for (const v of ['', 'o', 'maybe', '2']) expect(kstrtobool(v)).toBeNull();
    expect(kstrtobool(null)).toBeNull();
  });

  it('iommu.* booleans, iommu=pt/nopt and intel_iommu options', () => {
    const p = parseCmdline('iommu.strict=0 iommu.passthrough=y iommu.forcedac=on');
    expect([p.iommu.strict, p.iommu.passthrough, p.iommu.forcedac]).toEqual([false, true, true]);
    expect(parseCmdline('iommu=pt').iommu.passthrough).toBe(true);
    expect(parseCmdline('iommu.passthrough=1 iommu=nopt').iommu.passthrough).toBe(false);
    expect(parseCmdline('iommu=force,nomerge').iommu).toMatchObject({
      force: true,
      x86Options: ['force', 'nomerge'],
    });
    const i = parseCmdline('intel_iommu=on,sm_on,forcedac').iommu;
    expect(i).toMatchObject({
      intel: true,
      forcedac: true,
      intelOptions: ['on', 'sm_on', 'forcedac'],
    });
  });

  it('intel_iommu= is applied after the early parameters, wherever it stands', () => {
    expect(parseCmdline('intel_iommu=strict iommu.strict=0').iommu.strict).toBe(true);
  });

  it('names of object properties are ordinary unknown parameters', () => {
    expect(parseCmdline('constructor=1 __proto__').unknown).toEqual([
      { name: 'constructor', value: '1' },
      { name: '__proto__', value: null },
    ]);
  });

  it('dashes and underscores are the same in names', () => {
    expect(parseCmdline('intel-iommu=on').iommu.intel).toBe(true);
  });

  it('cma= with size, base and limit', () => {
    expect(parseCmdline('cma=64M').cma).toEqual({
      size: 64 * MIB,
      base: null,
      limit: null,
      fixed: false,
    });
    expect(parseCmdline('cma=64M@0x10000000').cma).toEqual({
      size: 64 * MIB,
      base: 0x1000_0000,
      limit: 0x1400_0000,
      fixed: true,
    });
    expect(parseCmdline('cma=64M@256M-1G').cma).toEqual({
      size: 64 * MIB,
      base: 256 * MIB,
      limit: GIB,
      fixed: false,
    });
    expect(parseCmdline('cma=0').cma?.size).toBe(0);
  });

  it('memmap= entries, comma-separated and repeated', () => {
    expect(
      parseCmdline('memmap=64M$0x10000000,1G memmap=4K@0x1000 memmap=2M#0x200000 memmap=1M!4G')
        .memmap,
    ).toEqual([
      { kind: 'reserved', size: 64 * MIB, start: 0x1000_0000 },
      { kind: 'limit', size: GIB, start: null },
      { kind: 'ram', size: 4096, start: 0x1000 },
      { kind: 'acpi', size: 2 * MIB, start: 0x20_0000 },
      { kind: 'pram', size: MIB, start: 4 * GIB },
    ]);
  });
});

describe('splitting', () => {
  it('quotes group words and are removed around the value', () => {
    expect(splitCmdline('foo="a b c" "bar=x y" plain  \t tab=1').params).toEqual([
      { name: 'foo', value: 'a b c' },
      { name: 'bar', value: 'x y' },
      { name: 'plain', value: null },
      { name: 'tab', value: '1' },
    ]);
  });

  it('an unterminated quote runs to the end', () => {
    expect(splitCmdline('a="b c').params).toEqual([{ name: 'a', value: 'b c' }]);
  });

  it('everything after -- goes to init, unparsed', () => {
    const p = parseCmdline('mem=1G -- single mem=2G "a b"');
    expect(p.mem).toBe(GIB);
    expect(p.initArgs).toEqual(['single', 'mem=2G', 'a b']);
    expect(p.unknown).toEqual([]);
  });

  it('an empty command line has no parameters', () => {
    expect(parseCmdline('   ')).toMatchObject({ mem: null, unknown: [], initArgs: [] });
  });
});

describe('bad values', () => {
  const SIZE =
    'expected a size like 512M or 2G (a number, 0x for hex, with an optional K, M, G, T, P or E suffix)';

  it('name the parameter, the value and the accepted forms', () => {
    const cases: [string, string][] = [
      ['mem=12X', `mem=12X: ${SIZE}`],
      ['mem=62MiB', `mem=62MiB: ${SIZE}`],
      ['mem=08M', `mem=08M: ${SIZE}`],
      ['mem', `mem: ${SIZE}`],
      ['mem=', `mem=: ${SIZE}`],
      ['mem=0', 'mem=0: the size must be above zero'],
      ['mem=8E', 'mem=8E: the value exceeds 2^52, the largest physical address the model holds'],
      [
        'swiotlb=abc',
        'swiotlb=abc: expected <nslabs>[,<nareas>][,force|noforce], e.g. swiotlb=65536, swiotlb=65536,4 or swiotlb=force',
      ],
      [
        'swiotlb=',
        'swiotlb=: expected <nslabs>[,<nareas>][,force|noforce], e.g. swiotlb=65536, swiotlb=65536,4 or swiotlb=force',
      ],
      [
        'swiotlb=64M',
        'swiotlb=64M: expected <nslabs>[,<nareas>][,force|noforce], e.g. swiotlb=65536, swiotlb=65536,4 or swiotlb=force',
      ],
      ['swiotlb=0', 'swiotlb=0: nslabs must be at least 1 (2 KiB slots)'],
      [
        'iommu.strict=maybe',
        'iommu.strict=maybe: expected a boolean: 1/0, y/n, on/off or true/false',
      ],
      [
        'iommu.passthrough',
        'iommu.passthrough: expected a boolean: 1/0, y/n, on/off or true/false',
      ],
      ['iommu.forcedac=2', 'iommu.forcedac=2: expected a boolean: 1/0, y/n, on/off or true/false'],
      [
        'iommu=of',
        'iommu=of: unknown option "of"; accepted (comma-separated): off, force, noforce, pt, nopt, soft, merge, nomerge, forcesac, usedac, panic, nopanic',
      ],
      [
        'intel_iommu=yes',
        'intel_iommu=yes: unknown option "yes"; accepted (comma-separated): on, off, igfx_off, forcedac, strict, sm_on, sm_off, tboot_noforce',
      ],
      [
        'cma=lots',
        'cma=lots: expected nn[MG][@start[MG][-end[MG]]], e.g. cma=64M or cma=64M@0x10000000-0x40000000',
      ],
      [
        'cma=64M@',
        'cma=64M@: expected nn[MG][@start[MG][-end[MG]]], e.g. cma=64M or cma=64M@0x10000000-0x40000000',
      ],
      [
        'cma=64M@1G-zz',
        'cma=64M@1G-zz: expected nn[MG][@start[MG][-end[MG]]], e.g. cma=64M or cma=64M@0x10000000-0x40000000',
      ],
      [
        'memmap=exactmap',
        'memmap=exactmap: memmap=exactmap is not modelled: give the machine the RAM banks instead',
      ],
      [
        'memmap=1G%2G',
        'memmap=1G%2G: expected nn[KMG]@ss[KMG] (RAM), nn[KMG]$ss[KMG] (reserved), nn[KMG]#ss[KMG] (ACPI), nn[KMG]!ss[KMG] (persistent) or nn[KMG] (a limit like mem=), comma-separated',
      ],
      [
        'memmap=1G@',
        'memmap=1G@: expected nn[KMG]@ss[KMG] (RAM), nn[KMG]$ss[KMG] (reserved), nn[KMG]#ss[KMG] (ACPI), nn[KMG]!ss[KMG] (persistent) or nn[KMG] (a limit like mem=), comma-separated',
      ],
    ];
    for (const [cmdline, msg] of cases)
      expect(errorOf(`console=ttyS0 ${cmdline}`)).toBe(`kernel command line: ${msg}`);
  });
});
