/**
 * The printf pieces the dma, iommu and swiotlb tracepoints print with, and the ftrace line around
 * them (Linux 6.12: include/trace/events/dma.h decoders, lib/vsprintf.c %llx and %p,
 * kernel/trace/trace_output.c). Left out: pointer hashing (the caller supplies the printed value).
 */
import { assert } from '../../lib/errors.js';
import type { DmaDataDirection } from './direction.js';

/**
 * A 64-bit value at the trace edge: a plain number while it is a safe integer, a bigint when it
 * is not (`DMA_MAPPING_ERROR`, masks, kernel virtual addresses). Bigints print modulo 2^64.
 */
export type TraceU64 = number | bigint;

/**
 * A pointer as a trace prints it with %p: a bigint or safe integer (the value that %p shows, e.g.
 * the hashed id), or the hex digits themselves as read from a real trace (`"00000000b0697534"`).
 */
export type TracePtr = TraceU64 | string;

/**
 * DMA attribute bits and the names the dma events' attrs decoder prints, in its order.
 * @linux include/trace/events/dma.h decode_dma_attrs
 */
export const DMA_ATTR_TRACE_NAMES: readonly (readonly [bit: number, name: string])[] = [
  [1 << 1, 'WEAK_ORDERING'],
  [1 << 2, 'WRITE_COMBINE'],
  [1 << 4, 'NO_KERNEL_MAPPING'],
  [1 << 5, 'SKIP_CPU_SYNC'],
  [1 << 6, 'FORCE_CONTIGUOUS'],
  [1 << 7, 'ALLOC_SINGLE_PAGES'],
  [1 << 8, 'NO_WARN'],
  [1 << 9, 'PRIVILEGED'],
];

/**
 * The names the dma events' direction decoder prints, indexed by enum dma_data_direction.
 * @linux include/trace/events/dma.h decode_dma_data_direction
 */
export const DMA_DIRECTION_TRACE_NAMES: readonly string[] = [
  'BIDIRECTIONAL',
  'TO_DEVICE',
  'FROM_DEVICE',
  'NONE',
];

/**
 * u64hex - a 64-bit value as %llx prints it: lower-case hex, no prefix, no leading zeros.
 * @param v the value; a number must be a non-negative safe integer
 * @returns e.g. "865f8c0"; "ffffffffffffffff" for DMA_MAPPING_ERROR given as -1n or 2^64-1
 */
export function u64hex(v: TraceU64): string {
  if (typeof v === 'bigint') return BigInt.asUintN(64, v).toString(16);
  assert(Number.isSafeInteger(v) && v >= 0, () => `trace value ${v} is not a u64`);
  return v.toString(16);
}

/**
 * The value as %016llx prints it (the iommu events' iova and paddr, after their "0x").
 * @param v the value, as for u64hex()
 * @returns 16 hex digits or more; never shorter
 */
export function u64hex16(v: TraceU64): string {
  return u64hex(v).padStart(16, '0');
}

/**
 * A pointer as %p prints it on a 64-bit kernel: 16 lower-case hex digits.
 * @param p a number or bigint, or up to 16 hex digits (zero-padded on the left)
 * @returns e.g. "00000000b0697534"; "0000000000000000" for NULL
 * MODEL: the kernel hashes the address with a per-boot key (NULL stays zero); the caller picks
 * the value printed, so a simulated run stays deterministic.
 */
export function formatTracePtr(p: TracePtr): string {
  if (typeof p !== 'string') return u64hex16(p);
  assert(/^[0-9a-fA-F]{1,16}$/.test(p), () => `trace pointer "${p}" is not 1-16 hex digits`);
  return p.toLowerCase().padStart(16, '0');
}

/**
 * The direction as the dma events' symbolic decoder prints it.
 * @param dir enum dma_data_direction (a number, so that a corrupt value still prints)
 * @returns "BIDIRECTIONAL", "TO_DEVICE", "FROM_DEVICE", "NONE", or "0x<hex>" for anything else
 * @linux include/trace/events/dma.h decode_dma_data_direction
 */
export function decodeDmaDataDirection(dir: DmaDataDirection | number): string {
  const name = Number.isInteger(dir) ? DMA_DIRECTION_TRACE_NAMES[dir] : undefined;
  return name ?? '0x' + Math.trunc(dir).toString(16);
}

/**
 * The attributes as the dma events' flags decoder prints them: known names joined by "|", then
 * any bits no name covers as one "0x<hex>".
 * @param attrs DMA_ATTR_* bits
 * @returns e.g. "SKIP_CPU_SYNC|NO_WARN"; the empty string for 0
 * @linux include/trace/events/dma.h decode_dma_attrs
 */
export function decodeDmaAttrs(attrs: number): string {
  assert(Number.isSafeInteger(attrs) && attrs >= 0, () => `DMA attrs ${attrs} are not a mask`);
  const parts: string[] = [];
  let rest = attrs;
  for (const [bit, name] of DMA_ATTR_TRACE_NAMES) {
    if (rest === 0) break;
    if ((rest & bit) === 0) continue;
    parts.push(name);
    rest -= bit;
  }
  if (rest !== 0) parts.push('0x' + rest.toString(16));
  return parts.join('|');
}

/**
 * An array as __print_array() prints it: `{0x1000,0x2000}`, `{}` when empty.
 * @param values the elements, printed with "0x%x" / "0x%llx"
 * @param count how many of them to print (the first ones); all by default
 * @returns the braced list
 */
export function formatTraceArray(values: readonly TraceU64[], count = values.length): string {
  assert(count <= values.length, () => `trace array has ${values.length} of ${count} entries`);
  let out = '{';
  for (let i = 0; i < count; i++) {
    if (i > 0) out += ',';
    out += '0x' + u64hex(values[i] ?? 0);
  }
  return out + '}';
}

/** Where and when an event was recorded: the columns ftrace prints before the event name. */
export interface FtraceContext {
  /** Task name (comm), e.g. "ip", "<idle>", "kworker/0:0"; the kernel keeps at most 15 chars. */
  readonly comm: string;
  /** Task id; 0 for the idle task. */
  readonly pid: number;
  /** CPU the event was recorded on. */
  readonly cpu: number;
  /** The five latency flag characters as recorded, e.g. ".....", "d.H1.", "..s1.". */
  readonly flags: string;
  /** Trace clock in nanoseconds; printed as seconds with microseconds (truncated). */
  readonly timestampNs: number;
}

/**
 * One line of /sys/kernel/tracing/trace: `task-pid [cpu] flags timestamp: event: fields`, with
 * the kernel's column widths (task right-aligned in 16, pid left-aligned in 7, cpu in 3 digits,
 * seconds right-aligned in 5 with 6 decimals).
 * @param ctx the recording context
 * @param event the event name without its system ("dma_map_page", "map")
 * @param fields the event's TP_printk output
 * @returns the line, without a newline
 * @linux kernel/trace/trace_output.c trace_print_context
 */
export function formatFtraceLine(ctx: FtraceContext, event: string, fields: string): string {
  assert(ctx.flags.length === 5, () => `ftrace flags "${ctx.flags}" are not 5 characters`);
  assert(
    Number.isSafeInteger(ctx.timestampNs) && ctx.timestampNs >= 0,
    () => `ftrace timestamp ${ctx.timestampNs} ns is not a non-negative integer`,
  );
  const secs = Math.floor(ctx.timestampNs / 1e9);
  const usecs = Math.floor((ctx.timestampNs % 1e9) / 1000);
  const cpu = String(ctx.cpu).padStart(3, '0');
  const time = `${String(secs).padStart(5)}.${String(usecs).padStart(6, '0')}`;
  return `${ctx.comm.padStart(16)}-${String(ctx.pid).padEnd(7)} [${cpu}] ${ctx.flags} ${time}: ${event}: ${fields}`;
}
