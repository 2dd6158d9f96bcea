/**
 * Streaming reader of ftrace text: /sys/kernel/tracing/trace, trace_pipe and `trace-cmd report`
 * output. Text (or UTF-8 bytes) arrives in chunks of any size; complete lines are parsed as they
 * arrive and only the unfinished last line is kept, so memory stays flat however long the trace.
 * Events with a parser (dma-events.ts) become records; every other event is counted by name.
 * A malformed line stops the read with a TraceParseError naming file, line and text, or in
 * lenient mode becomes a warning.
 */
import { ConfigError } from '../lib/errors.js';
import { hostAsciiDecode } from '../lib/host.js';
import type { EventParser } from './dma-events.js';
import { EVENT_PARSERS } from './dma-events.js';
import type { ParsedTraceEvent } from './events.js';
import { FieldCursor, FieldError } from './fields.js';
import type { FtraceColumns } from './ftrace-line.js';
import { ColumnScanner } from './ftrace-line.js';

/** One parsed event: its ftrace columns and its typed record. */
export interface TraceRecord extends FtraceColumns {
  readonly ev: ParsedTraceEvent;
}

/** A bad line that lenient mode skipped. */
export interface TraceWarning {
  readonly line: number;
  /** The same text the strict mode's error has. */
  readonly message: string;
}

export interface TraceReaderOptions {
  /** How the input is named in messages (a file name); default "<trace>". */
  readonly file?: string;
  /** Skip bad lines with a warning instead of stopping at the first. */
  readonly lenient?: boolean;
  /** Warnings kept in the list (all are counted); default 1000, so memory stays flat. */
  readonly maxWarnings?: number;
  /**
   * The event names to read into records; every other event is counted and skipped, its fields
   * unread. Default: every name with a parser.
   */
  readonly events?: ReadonlySet<string>;
}

/** What a read saw, for the report; all counts are of lines. */
export interface TraceSummary {
  readonly file: string;
  /** Lines read, headers and blank lines included. */
  readonly lines: number;
  /** Records yielded. */
  readonly events: number;
  /** Every event line by event name, parsed or not. */
  readonly byEvent: Readonly<Record<string, number>>;
  /** Event lines counted and skipped (no parser, or not among the events asked for), by name. */
  readonly skipped: Readonly<Record<string, number>>;
  /** Events the ring buffer dropped, as trace_pipe's "[LOST n EVENTS]" lines report them. */
  readonly lost: number;
  /** Bad lines skipped in lenient mode. */
  readonly badLines: number;
  /** The first maxWarnings of them. */
  readonly warnings: readonly TraceWarning[];
}

/** A malformed trace: the message is `<file>:<line>: <what>: <the line>`. */
export class TraceParseError extends ConfigError {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** Longest line: a dma_unmap_sg of 64 Ki entries; anything longer is not a trace. */
export const MAX_LINE_CHARS = 1 << 20;
/** Longest line text quoted in a message. */
const SHOW_MAX = 400;

function shown(line: string): string {
  return line.length > SHOW_MAX ? `${line.slice(0, SHOW_MAX)}... (${line.length} chars)` : line;
}

/** trace-cmd report's own lines ("cpus=2", "version = 6", "CPU 1 is empty"). */
function isTraceCmdHeader(line: string): boolean {
  return /^cpus=\d+$/.test(line) || /^version = \S+$/.test(line) || /^CPU \d+ is empty$/.test(line);
}

function isBlank(text: string, start: number, end: number): boolean {
  const last = text.charCodeAt(end - 1);
  if (end > start && last !== 32 && last !== 9) return false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

/** The part of TextDecoder used here (the core's lib has no DOM types). */
interface Utf8Decoder {
  decode(input?: Uint8Array, opts?: { stream?: boolean }): string;
}

/** The host's ASCII decoder (Node), or null (browsers: TextDecoder only). */
const ASCII = hostAsciiDecode();

const LOST = /^CPU:\d+ \[LOST (\d+) EVENTS\]$/;

/**
 * The reader. Feed it with push() (text) or pushBytes() (UTF-8), then call end(); each returns
 * the records its input completed.
 */
export class TraceReader {
  readonly file: string;
  private readonly lenient: boolean;
  private readonly maxWarnings: number;
  private readonly only: ReadonlySet<string> | null;
  private readonly cols = new ColumnScanner();
  private readonly cursor = new FieldCursor();
  private carry = '';
  /** Skipping the rest of an over-long line (lenient mode). */
  private discarding = false;
  /** Some chunk held a NUL or U+FFFD: check each line for them. */
  private suspect = false;
  private decoder: Utf8Decoder | null = null;
  private lineNo = 0;
  private nonBlank = 0;
  private events = 0;
  private lost = 0;
  private badLines = 0;
  private readonly warnings: TraceWarning[] = [];
  /** Lines per event name, and the name's parser (null: counted and skipped). */
  private readonly byEvent = new Map<
    string,
    { name: string; count: number; parse: EventParser | null }
  >();
  private out: TraceRecord[] = [];

  constructor(opts: TraceReaderOptions = {}) {
    this.file = opts.file ?? '<trace>';
    this.lenient = opts.lenient ?? false;
    this.maxWarnings = opts.maxWarnings ?? 1000;
    this.only = opts.events ?? null;
  }

  /** Reads a chunk of text; returns the records of the lines it completed. */
  push(chunk: string): TraceRecord[] {
    if (!this.suspect && (chunk.includes('\0') || chunk.includes('\uFFFD'))) this.suspect = true;
    let start = 0;
    let nl = chunk.indexOf('\n');
    while (nl >= 0) {
      if (this.carry !== '' || this.discarding) {
        this.finishCarry(chunk.slice(0, nl));
      } else {
        this.line(chunk, start, nl);
      }
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    this.keep(chunk, start);
    return this.take();
  }

  /** Reads a chunk of UTF-8 bytes (invalid sequences become bad lines). */
  pushBytes(chunk: Uint8Array): TraceRecord[] {
    // ASCII chunks take the host's fast path until the first that is not; from then on the
    // decoder may hold part of a sequence, so every later chunk goes through it.
    if (this.decoder === null && ASCII !== null) {
      const text = ASCII(chunk);
      if (text !== null) return this.push(text);
    }
    this.decoder ??= new TextDecoder('utf-8');
    return this.push(this.decoder.decode(chunk, { stream: true }));
  }

  /** The input is complete: reads the last line (if unterminated); checks it was not empty. */
  end(): TraceRecord[] {
    if (this.decoder !== null) this.push(this.decoder.decode());
    if (this.carry !== '' && !this.discarding) this.line(this.carry, 0, this.carry.length);
    this.carry = '';
    if (this.nonBlank === 0) {
      throw new TraceParseError(this.file, 0, `${this.file}: empty file (no trace lines)`);
    }
    return this.take();
  }

  /** Counts so far (complete after end()). */
  summary(): TraceSummary {
    return {
      file: this.file,
      lines: this.lineNo,
      events: this.events,
      byEvent: Object.fromEntries([...this.byEvent].map(([k, v]) => [k, v.count])),
      skipped: Object.fromEntries(
        [...this.byEvent].filter(([, v]) => v.parse === null).map(([k, v]) => [k, v.count]),
      ),
      lost: this.lost,
      badLines: this.badLines,
      warnings: this.warnings,
    };
  }

  private take(): TraceRecord[] {
    const out = this.out;
    if (out.length > 0) this.out = [];
    return out;
  }

  /** Keeps the unterminated tail of a chunk, refusing to hold an endless line. */
  private keep(chunk: string, start: number): void {
    if (start >= chunk.length) return;
    if (this.discarding) return;
    // The tail may already be in carry when the chunk had no newline at all.
    this.carry = start === 0 ? this.carry + chunk : chunk.slice(start);
    if (this.carry.length > MAX_LINE_CHARS) {
      this.lineNo++;
      const head = this.carry.slice(0, SHOW_MAX);
      this.carry = '';
      this.discarding = true;
      this.bad(`line longer than ${MAX_LINE_CHARS} characters (not a trace?)`, head);
    }
  }

  private finishCarry(rest: string): void {
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    const line = this.carry + rest;
    this.carry = '';
    this.line(line, 0, line.length);
  }

  /** One complete line, text[start, end) without its newline; read in place. */
  private line(text: string, start: number, end: number): void {
    this.lineNo++;
    const last = end > start && text.charCodeAt(end - 1) === 13 /* \r */ ? end - 1 : end;
    if (this.suspect && this.binary(text.slice(start, last))) return;
    const c0 = text.charCodeAt(start);
    if (c0 === 35 /* # */ && start < last) {
      this.nonBlank++;
      return;
    }
    if (isBlank(text, start, last)) return;
    this.nonBlank++;
    if (
      (c0 === 67 /* C */ || c0 === 99 /* c */ || c0 === 118) /* v */ &&
      this.notice(text.slice(start, last))
    )
      return;
    try {
      this.event(text, start, last);
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      const name = this.cols.name;
      this.bad(name === '' ? e.message : `${name}: ${e.message}`, text.slice(start, last));
    }
  }

  private event(text: string, start: number, end: number): void {
    const cols = this.cols;
    cols.name = '';
    cols.scan(text, start, end);
    const name = cols.name;
    let seen = this.byEvent.get(name);
    if (seen === undefined) {
      const wanted = this.only === null || this.only.has(name);
      seen = { name, count: 0, parse: wanted ? (EVENT_PARSERS.get(name) ?? null) : null };
      this.byEvent.set(name, seen);
    }
    seen.count++;
    if (seen.parse === null) return;
    // The first line's copy of the name: later lookups by it reuse its hash.
    const ev = seen.parse(this.cursor.reset(cols.text, cols.fieldsStart, cols.end), seen.name);
    this.out.push(cols.record(this.lineNo, ev));
    this.events++;
  }

  /** trace-cmd's header lines and trace_pipe's lost-events notices. */
  private notice(line: string): boolean {
    if (line.startsWith('CPU:')) {
      const m = LOST.exec(line);
      if (m === null) return false;
      this.lost += Number(m[1]);
      return true;
    }
    return isTraceCmdHeader(line);
  }

  /** A line with a NUL or an undecodable byte is binary data, not trace text. */
  private binary(line: string): boolean {
    if (line.includes('\0')) {
      this.bad('binary data (NUL byte): not a text trace', line.replace(/\0/g, '\\0'));
      return true;
    }
    if (line.includes('\uFFFD')) {
      // MODEL: a genuine U+FFFD in the text is taken for an invalid UTF-8 sequence too.
      this.bad('invalid UTF-8: not a text trace', line);
      return true;
    }
    return false;
  }

  private bad(what: string, line: string): void {
    const message = `${this.file}:${this.lineNo}: ${what}: ${shown(line)}`;
    if (!this.lenient) throw new TraceParseError(this.file, this.lineNo, message);
    this.badLines++;
    if (this.warnings.length < this.maxWarnings) this.warnings.push({ line: this.lineNo, message });
  }
}

/** Parses a whole trace held in one string. */
export function parseTrace(
  text: string,
  opts: TraceReaderOptions = {},
): { records: TraceRecord[]; summary: TraceSummary } {
  const r = new TraceReader(opts);
  const records = r.push(text);
  for (const rec of r.end()) records.push(rec);
  return { records, summary: r.summary() };
}

/** Chunks of text or UTF-8 bytes, as a file stream, a fetch body or an array gives them. */
export type TraceChunks = AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>;

/**
 * Reads a trace chunk by chunk, yielding records as their lines complete; the generator's return
 * value is the summary.
 */
export async function* readTrace(
  chunks: TraceChunks,
  opts: TraceReaderOptions = {},
): AsyncGenerator<TraceRecord, TraceSummary, undefined> {
  const r = new TraceReader(opts);
  for await (const chunk of chunks) {
    yield* typeof chunk === 'string' ? r.push(chunk) : r.pushBytes(chunk);
  }
  yield* r.end();
  return r.summary();
}
