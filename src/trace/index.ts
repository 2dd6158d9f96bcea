/** Reading kernel ftrace text (issue 8, "Reading"); file access is in ./file.ts (Node only). */
export type {
  TraceChunks,
  TraceReaderOptions,
  TraceRecord,
  TraceSummary,
  TraceWarning,
} from './reader.js';
export { MAX_LINE_CHARS, TraceParseError, TraceReader, parseTrace, readTrace } from './reader.js';
export type { FtraceColumns } from './ftrace-line.js';
export type * from './events.js';
export { decodeNewerDmaAttrs, formatParsedFields, isModelTraceEvent } from './events.js';
export { EVENT_PARSERS } from './dma-events.js';
