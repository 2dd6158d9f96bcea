/**
 * Reading a trace from a file (Node only; the parser itself is pure and runs in a browser).
 */
import { createReadStream } from 'node:fs';
import { ConfigError } from '../lib/errors.js';
import type { TraceReaderOptions, TraceRecord, TraceSummary } from './reader.js';
import { readTrace } from './reader.js';

/** Bytes read at a time: large enough to amortise the calls, small enough to keep memory flat. */
const CHUNK_BYTES = 1 << 16;

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  try {
    for await (const chunk of stream) yield chunk as Uint8Array;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const why = typeof code === 'string' ? code : String(e);
    throw new ConfigError(`${path}: cannot read the trace (${why})`);
  } finally {
    stream.destroy();
  }
}

/**
 * Streams the records of a trace file.
 * @param path the file; also names it in messages unless opts.file is given
 * @param opts lenient mode and the warning cap
 * @returns a generator of records whose return value is the summary
 */
export function readTraceFile(
  path: string,
  opts: TraceReaderOptions = {},
): AsyncGenerator<TraceRecord, TraceSummary, undefined> {
  return readTrace(fileChunks(path), { file: path, ...opts });
}
