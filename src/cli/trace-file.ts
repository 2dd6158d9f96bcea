/**
 * A trace file read in 64 KiB chunks with readSync and fed to the streaming reader, so memory
 * stays flat; synchronously, because main() returns the exit status synchronously. Read errors
 * and malformed lines are ConfigErrors naming the file (and line): exit status 2.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { ConfigError } from '../lib/errors.js';
import { TraceReader } from '../trace/reader.js';
import type { TraceRecord, TraceSummary } from '../trace/reader.js';

const CHUNK = 1 << 16;

function cannotRead(path: string, e: unknown): ConfigError {
  const code = (e as { code?: unknown }).code;
  return new ConfigError(`${path}: cannot read the trace (${String(code ?? e)})`);
}

/**
 * Calls `fn` for each record of the trace at `path`; `events` limits the records to those
 * names (see TraceReaderOptions). @returns the reader's summary.
 */
export function eachTraceRecord(
  path: string,
  lenient: boolean,
  fn: (r: TraceRecord) => void,
  events?: ReadonlySet<string>,
): TraceSummary {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw cannotRead(path, e);
  }
  const reader = new TraceReader(
    events === undefined ? { file: path, lenient } : { file: path, lenient, events },
  );
  try {
    const buf = new Uint8Array(CHUNK);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, CHUNK, null);
      } catch (e) {
        throw cannotRead(path, e);
      }
      if (n === 0) break;
      for (const r of reader.pushBytes(buf.subarray(0, n))) fn(r);
    }
    for (const r of reader.end()) fn(r);
  } finally {
    closeSync(fd);
  }
  return reader.summary();
}
