/**
 * The columns ftrace prints before an event's fields (kernel/trace/trace_output.c
 * trace_print_context; trace-cmd report prints the same columns):
 *
 *     <task>-<pid> [<cpu>] <flags> <secs>.<usecs>: <event>: <fields>
 *
 * The task name is right-aligned and may hold spaces and dashes ("Web Content", "kworker/u8:1"),
 * so the line is anchored on "-<pid> [<cpu>]" instead. The flags column is optional (absent when
 * the irq-info option is off, in old kernels' default output and in older trace-cmd), 4 or 5
 * characters wide when present. trace-cmd pads the event name with spaces; those are skipped.
 */
import { FieldError, decimal, quote } from './fields.js';

/** The columns of one event line. */
export interface FtraceColumns {
  /** 1-based line number in the input. */
  readonly line: number;
  /** Task name (comm) as printed, without the padding; "<idle>", "<...>" included. */
  readonly task: string;
  readonly pid: number;
  readonly cpu: number;
  /** The latency flags as printed (".....", "d.h1."), or null when the column is absent. */
  readonly flags: string | null;
  /** The timestamp exactly as printed, e.g. "5.323548". */
  readonly timestamp: string;
  /**
   * The timestamp in ns. MODEL: exact below 2^53 ns (104 days of uptime); later ones are
   * rounded to a double — `timestamp` stays exact. A clock printed without a decimal point
   * (the "counter" and "x86-tsc" trace clocks) is taken as a raw count.
   */
  readonly timestampNs: number;
}

/** Digits after the decimal point that ns can hold. */
const NS_DIGITS = 9;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/** Seconds as printed ("5.323548", "174497.068727123") to ns; null when not a timestamp. */
export function timestampToNs(ts: string): number | null {
  const dot = ts.indexOf('.');
  if (dot < 0) return decimal(ts);
  const secs = decimal(ts, 0, dot);
  const fracDigits = ts.length - dot - 1;
  const frac = decimal(ts, dot + 1);
  if (secs === null || frac === null || fracDigits > NS_DIGITS) return null;
  return secs * 1e9 + frac * (POW10[NS_DIGITS - fracDigits] ?? 1);
}

/**
 * The columns in one pattern (the common case, and much faster than scanning by hand): padding,
 * task (shortest match, so a task may hold "-" and spaces), "-pid", "[cpu]", optional flags (no
 * colon in them), "timestamp:", "event:" and the spaces before the fields. The task starts at a
 * non-space so that the padding cannot be split two ways (quadratic on a long line of spaces).
 */
const COLUMNS =
  /^ *([^ ].*?)-(\d{1,10}) +\[(\d{1,6})\] +(?:([^\s:]{1,8}) +)?(\d+(?:\.\d+)?): +([^\s:]+):(?: +|$)/;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Value of the decimal digit `c` (a char code), or -1. */
function digit(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : -1;
}

/**
 * Scans the columns of one line; reused for every line. The line is text[start, end) of a larger
 * text (a chunk of the input), read in place; on success `text` and `end` say where the fields
 * are, from `fieldsStart`.
 */
export class ColumnScanner {
  text = '';
  end = 0;
  private taskStart = 0;
  private taskEnd = 0;
  private flagsStart = -1;
  private flagsEnd = -1;
  private tsStart = 0;
  private tsEnd = 0;
  /**
   * The fast path leaves task, flags and timestamp as offsets into `text`; record() cuts them
   * out, so a line that is only counted (an event nobody reads) costs no strings.
   */
  private cut = false;
  task = '';
  pid = 0;
  cpu = 0;
  flags: string | null = null;
  timestamp = '';
  timestampNs = 0;
  /** The event name, as printed. */
  name = '';
  /** Where the fields text begins. */
  fieldsStart = 0;

  /** Reads the columns of text[start, end); throws FieldError when they are not there. */
  scan(text: string, start = 0, end = text.length): void {
    this.cut = false;
    if (this.scanKernel(text, start, end)) return;
    const line = text.slice(start, end);
    this.text = line;
    this.end = line.length;
    const m = COLUMNS.exec(line);
    const ns = m === null ? null : timestampToNs(m[5] ?? '');
    if (m === null || ns === null) {
      this.scanSlow(line);
      return;
    }
    this.task = m[1] ?? '';
    this.pid = Number(m[2]);
    this.cpu = Number(m[3]);
    this.flags = m[4] ?? null;
    this.timestamp = m[5] ?? '';
    this.timestampNs = ns;
    this.name = m[6] ?? '';
    this.fieldsStart = m[0].length;
  }

  /**
   * The fixed layout /sys/kernel/tracing/trace and trace_pipe print (trace_output.c): comm
   * right-aligned in 16 (a comm has at most 15 characters), "-", pid left-aligned in 7, " [",
   * three cpu digits, "] ", five flags (four in older kernels: not taken here), " ", then the
   * timestamp right-aligned with a decimal point. Checked by position, several times faster than
   * the pattern; false sends the line there.
   */
  private scanKernel(text: string, s: number, end: number): boolean {
    if (
      end - s < 42 ||
      text.charCodeAt(s + 16) !== 45 ||
      text.charCodeAt(s + 25) !== 91 ||
      text.charCodeAt(s + 29) !== 93 ||
      text.charCodeAt(s + 30) !== 32 ||
      text.charCodeAt(s + 35) === 32 ||
      text.charCodeAt(s + 36) !== 32
    ) {
      return false;
    }
    let t = s;
    while (text.charCodeAt(t) === 32) t++;
    let p = s + 17;
    let pid = 0;
    for (let d = digit(text.charCodeAt(p)); d >= 0; d = digit(text.charCodeAt(++p))) {
      pid = pid * 10 + d;
    }
    const c0 = digit(text.charCodeAt(s + 26));
    const c1 = digit(text.charCodeAt(s + 27));
    const c2 = digit(text.charCodeAt(s + 28));
    if (t >= s + 16 || p === s + 17 || text.charCodeAt(p) !== 32) return false;
    if (c0 < 0 || c1 < 0 || c2 < 0) return false;
    const colon = this.scanKernelTime(text, s + 37, end);
    if (colon < 0) return false;
    let e = colon + 2;
    while (e < end && text.charCodeAt(e) !== 58 && text.charCodeAt(e) !== 32) e++;
    if (e === colon + 2 || e === end || text.charCodeAt(e) !== 58) return false;
    this.text = text;
    this.end = end;
    this.taskStart = t;
    this.taskEnd = s + 16;
    this.pid = pid;
    this.cpu = c0 * 100 + c1 * 10 + c2;
    this.flagsStart = s + 31;
    this.flagsEnd = s + 36;
    this.cut = true;
    this.name = text.slice(colon + 2, e);
    this.fieldsStart = text.charCodeAt(e + 1) === 32 ? e + 2 : e + 1;
    return true;
  }

  /**
   * "<secs>.<digits>: " from `from` after the padding; sets the timestamp; @returns the colon's
   * index, or -1 when it is not there.
   */
  private scanKernelTime(text: string, from: number, end: number): number {
    let i = from;
    while (text.charCodeAt(i) === 32) i++;
    const ts = i;
    let secs = 0;
    for (let d = digit(text.charCodeAt(i)); d >= 0; d = digit(text.charCodeAt(++i))) {
      secs = secs * 10 + d;
    }
    if (i === ts || i - ts > 15 || text.charCodeAt(i) !== 46 /* . */) return -1;
    const f = ++i;
    let frac = 0;
    for (let d = digit(text.charCodeAt(i)); d >= 0; d = digit(text.charCodeAt(++i))) {
      frac = frac * 10 + d;
    }
    const n = i - f;
    if (n === 0 || n > NS_DIGITS || i + 2 > end || text.charCodeAt(i) !== 58) return -1;
    if (text.charCodeAt(i + 1) !== 32) return -1;
    this.tsStart = ts;
    this.tsEnd = i;
    this.timestampNs = secs * 1e9 + frac * (POW10[NS_DIGITS - n] ?? 1);
    return i;
  }

  /**
   * The same, one column at a time: for the lines the pattern does not take (no "event:",
   * malformed ones), so that a bad line's message says which column is wrong.
   */
  private scanSlow(line: string): void {
    const open = this.findCpu(line);
    const close = line.indexOf(']', open);
    this.cpu = decimal(line, open + 1, close) ?? 0;
    this.findTask(line);
    this.scanTime(line, close + 1);
    this.scanName(line, this.tsEnd + 1);
    this.task = line.slice(this.taskStart, this.taskEnd);
    this.flags = this.flagsStart < 0 ? null : line.slice(this.flagsStart, this.flagsEnd);
    this.timestamp = line.slice(this.tsStart, this.tsEnd);
  }

  /** The columns and an event as one record (strings are made here). */
  record<E>(lineNo: number, ev: E): FtraceColumns & { readonly ev: E } {
    if (this.cut) {
      const t = this.text;
      this.task = t.slice(this.taskStart, this.taskEnd);
      this.flags = t.slice(this.flagsStart, this.flagsEnd);
      this.timestamp = t.slice(this.tsStart, this.tsEnd);
      this.cut = false;
    }
    return {
      line: lineNo,
      task: this.task,
      pid: this.pid,
      cpu: this.cpu,
      flags: this.flags,
      timestamp: this.timestamp,
      timestampNs: this.timestampNs,
      ev,
    };
  }

  /** Index of the "[" of "[<cpu>]" that follows "-<pid>" and spaces. */
  private findCpu(line: string): number {
    let at = line.indexOf(' [');
    while (at >= 0) {
      let i = at + 2;
      while (isDigit(line.charCodeAt(i))) i++;
      if (i > at + 2 && line.charCodeAt(i) === 93 /* ] */ && this.pidBefore(line, at)) {
        return at + 1;
      }
      at = line.indexOf(' [', at + 1);
    }
    const what = line.trim() === '' ? 'blank' : 'no "<task>-<pid> [<cpu>]" columns';
    throw new FieldError(`not an ftrace event line (${what})`);
  }

  /** Whether "-<pid>" (and padding) ends at `end`; sets pid and the task's end if so. */
  private pidBefore(line: string, end: number): boolean {
    let i = end;
    while (i > 0 && line.charCodeAt(i - 1) === 32) i--;
    const pidEnd = i;
    while (i > 0 && isDigit(line.charCodeAt(i - 1))) i--;
    if (i === pidEnd || i === 0 || line.charCodeAt(i - 1) !== 45 /* - */) return false;
    const pid = decimal(line, i, pidEnd);
    if (pid === null) return false;
    this.pid = pid;
    this.taskEnd = i - 1;
    return true;
  }

  private findTask(line: string): void {
    let i = 0;
    while (i < this.taskEnd && line.charCodeAt(i) === 32) i++;
    if (i === this.taskEnd) throw new FieldError('empty task name');
    this.taskStart = i;
  }

  /** "<flags> <timestamp>:" or "<timestamp>:" from `from`. */
  private scanTime(line: string, from: number): void {
    let i = from;
    while (line.charCodeAt(i) === 32) i++;
    let end = line.indexOf(' ', i);
    if (end < 0) throw new FieldError('truncated: no timestamp');
    this.flagsStart = -1;
    if (line.charCodeAt(end - 1) !== 58 /* : */) {
      this.flagsStart = i;
      this.flagsEnd = end;
      i = end;
      while (line.charCodeAt(i) === 32) i++;
      end = line.indexOf(' ', i);
      if (end < 0) end = line.length;
      if (line.charCodeAt(end - 1) !== 58) {
        throw new FieldError(`bad timestamp ${quote(line.slice(i, end))}`);
      }
    }
    const ns = timestampToNs(line.slice(i, end - 1));
    if (ns === null) throw new FieldError(`bad timestamp ${quote(line.slice(i, end))}`);
    this.tsStart = i;
    this.tsEnd = end - 1;
    this.timestampNs = ns;
  }

  /** "<event>: " from `from` (after the timestamp's colon). */
  private scanName(line: string, from: number): void {
    let i = from;
    while (line.charCodeAt(i) === 32) i++;
    if (i >= line.length) throw new FieldError('truncated: no event name');
    const colon = line.indexOf(':', i);
    const space = line.indexOf(' ', i);
    if (colon < 0 || (space >= 0 && space < colon)) {
      // Not "event: fields" (the function tracer prints "func <-parent"): name the first word.
      this.name = line.slice(i, space < 0 ? line.length : space);
      this.fieldsStart = line.length;
      return;
    }
    this.name = line.slice(i, colon);
    i = colon + 1;
    while (line.charCodeAt(i) === 32) i++;
    this.fieldsStart = i;
  }
}
