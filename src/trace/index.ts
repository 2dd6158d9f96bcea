/** Reading kernel ftrace text and auditing its DMA API calls (issue 8); file access is in ./file.ts (Node only). */
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
export { TraceAuditor, auditTrace } from './audit.js';
export type * from './audit-types.js';
export type { AuditOptions } from './audit.js';
export { auditJson } from './audit-json.js';
export type { AuditJson } from './audit-json.js';
