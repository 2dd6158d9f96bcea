/**
 * The driver's module parameters checked as e1000_param.c checks them (e1000_check_options,
 * e1000_validate_option): a value out of range is reported with `Invalid <name> value specified
 * (<value>) using default of <default>` and replaced by the default; a valid one set on purpose is
 * reported as `<name> set to <value>`; ring sizes are rounded up to a multiple of 8
 * (REQ_TX/RX_DESCRIPTOR_MULTIPLE).
 * MODEL: InterruptThrottleRate's dynamic modes 1, 3 (the default) and 4 run at the rate they start
 * from, 20000 interrupts/s, without adapting; copybreak is a plain number, as in e1000_main.c.
 */
import type { E1000Options } from './adapter.js';

/** The options after checking (mistakes apart). */
export type E1000Params = Required<Omit<E1000Options, 'mistakes'>>;

interface Range {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly def: number;
}

/** E1000_MIN_TXD/RXD .. E1000_MAX_82544_TXD/RXD; the delays are 16-bit register fields. */
const RANGES: Readonly<Partial<Record<keyof E1000Params, Range>>> = {
  txDescriptors: { name: 'Transmit Descriptors', min: 48, max: 4096, def: 256 },
  rxDescriptors: { name: 'Receive Descriptors', min: 48, max: 4096, def: 256 },
  txIntDelay: { name: 'Transmit Interrupt Delay', min: 0, max: 0xffff, def: 8 },
  txAbsIntDelay: { name: 'Transmit Absolute Interrupt Delay', min: 0, max: 0xffff, def: 32 },
  rxIntDelay: { name: 'Receive Interrupt Delay', min: 0, max: 0xffff, def: 0 },
  rxAbsIntDelay: { name: 'Receive Absolute Interrupt Delay', min: 0, max: 0xffff, def: 8 },
};

/** The rate the dynamic ITR modes start at (adapter->itr = 20000). */
const DYNAMIC_ITR_START = 20_000;

export const E1000_DEFAULTS: E1000Params = {
  txDescriptors: 256,
  rxDescriptors: 256,
  copybreak: 256,
  txIntDelay: 8,
  txAbsIntDelay: 32,
  rxIntDelay: 0,
  rxAbsIntDelay: 8,
  interruptThrottleRate: 3,
  syncCopybreakForDevice: false,
  txErrata: true,
  erratum23: false,
};

/**
 * e1000_check_options: the options given, checked, with defaults for the rest.
 * @param info dev_info for the messages
 */
export function e1000CheckOptions(opts: E1000Options, info: (msg: string) => void): E1000Params {
  const p: { -readonly [K in keyof E1000Params]: E1000Params[K] } = {
    ...E1000_DEFAULTS,
    ...withoutUndefined(opts),
  };
  for (const [key, r] of Object.entries(RANGES) as [keyof E1000Params, Range][]) {
    if (opts[key] === undefined) continue;
    const v = p[key] as number;
    if (Number.isInteger(v) && v >= r.min && v <= r.max) info(`${r.name} set to ${v}`);
    else {
      info(`Invalid ${r.name} value specified (${String(v)}) using default of ${r.def}`);
      Object.assign(p, { [key]: r.def });
    }
  }
  p.txDescriptors = Math.ceil(p.txDescriptors / 8) * 8;
  p.rxDescriptors = Math.ceil(p.rxDescriptors / 8) * 8;
  p.interruptThrottleRate = checkItr(opts.interruptThrottleRate, info);
  if (!Number.isInteger(p.copybreak) || p.copybreak < 0) {
    info(`Invalid copybreak value specified (${String(p.copybreak)}) using default of 256`);
    p.copybreak = 256;
  }
  return p;
}

/** InterruptThrottleRate: 0 off, 1/3/4 dynamic, else 100..100000 interrupts/s. @returns ints/s */
function checkItr(v: number | undefined, info: (msg: string) => void): number {
  const name = 'Interrupt Throttling Rate (ints/sec)';
  if (v === undefined || v === 1 || v === 3 || v === 4) return DYNAMIC_ITR_START;
  if (v === 0) {
    info(`${name} turned off`);
    return 0;
  }
  if (Number.isInteger(v) && v >= 100 && v <= 100_000) {
    info(`${name} set to ${v}`);
    return v;
  }
  info(`Invalid ${name} value specified (${String(v)}) using default of 3`);
  return DYNAMIC_ITR_START;
}

function withoutUndefined(o: E1000Options): Partial<E1000Params> {
  return Object.fromEntries(
    Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'mistakes'),
  );
}
