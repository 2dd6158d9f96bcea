/**
 * The kernel log (dmesg): every warning and error the model prints in the kernel's wording, with
 * the simulated time as dmesg shows it ("[    5.323548] ..."). Rate limiting follows printk's
 * default ratelimit (10 messages per 5 s per call site), kept per message key.
 */
import type { Clock } from '../machine/clock/clock.js';

export type LogLevel = 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug';

export interface LogLine {
  /** Simulated time in ns. */
  readonly t: number;
  readonly level: LogLevel;
  /** The text as printed, without the timestamp and without a trailing newline. */
  readonly text: string;
}

const RATELIMIT_INTERVAL_NS = 5e9;
const RATELIMIT_BURST = 10;

export class KernelLog {
  private readonly lines: LogLine[] = [];
  private readonly limits = new Map<string, { start: number; n: number; missed: number }>();

  constructor(private readonly clock: Clock) {}

  /** printk at `level`. */
  print(level: LogLevel, text: string): void {
    this.lines.push({ t: this.clock.now, level, text });
  }

  warn(text: string): void {
    this.print('warn', text);
  }

  err(text: string): void {
    this.print('err', text);
  }

  info(text: string): void {
    this.print('info', text);
  }

  /** dev_warn(dev, ...): the driver and device name in front, as the kernel prints them. */
  devWarn(driver: string, device: string, text: string): void {
    this.print('warn', `${driver} ${device}: ${text}`);
  }

  /** printk_ratelimited: prints unless `key` printed its burst within the interval. */
  ratelimited(key: string, level: LogLevel, text: string): boolean {
    const now = this.clock.now;
    let st = this.limits.get(key);
    if (st === undefined || now - st.start >= RATELIMIT_INTERVAL_NS) {
      if (st !== undefined && st.missed > 0)
        this.print('warn', `${key}: ${st.missed} callbacks suppressed`);
      st = { start: now, n: 0, missed: 0 };
      this.limits.set(key, st);
    }
    if (st.n >= RATELIMIT_BURST) {
      st.missed++;
      return false;
    }
    st.n++;
    this.print(level, text);
    return true;
  }

  /** Everything printed so far. */
  get all(): readonly LogLine[] {
    return this.lines;
  }

  /** The log as dmesg prints it. */
  dmesg(): string {
    return this.lines.map((l) => `[${fmtTime(l.t)}] ${l.text}`).join('\n');
  }
}

function fmtTime(ns: number): string {
  const us = Math.floor(ns / 1000);
  const s = Math.floor(us / 1e6);
  return `${String(s).padStart(5, ' ')}.${String(us % 1e6).padStart(6, '0')}`;
}
