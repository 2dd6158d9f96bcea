/**
 * How the memory-management code reports misuse, in the kernel's wording: WARN() headers,
 * bad_page() (mm/page_alloc.c) and the SLUB consistency-check reports (mm/slub.c slab_bug,
 * slab_fix). MODEL: no stack dumps, no "Modules linked in", no source line numbers or function
 * offsets in WARNING lines, and the taint state is not tracked ("Not tainted").
 */
import { hex } from '../../lib/addr.js';
import type { KernelLog } from '../printk.js';
import type { Gfp } from './gfp.js';
import { gfpString } from './gfp.js';

/** The task a message names (current->comm, current->pid). */
export interface CurrentTask {
  readonly comm: string;
  readonly pid: number;
}

/** The idle task of CPU 0, the default when nobody says which task runs. */
export const SWAPPER: CurrentTask = { comm: 'swapper/0', pid: 0 };

/**
 * The first line of WARN_ON: `WARNING: CPU: 0 PID: 0 at mm/page_alloc.c __alloc_pages_noprof`.
 * @param where source file and function of the WARN
 */
export function warnHeader(log: KernelLog, cpu: number, task: CurrentTask, where: string): void {
  log.warn(`WARNING: CPU: ${cpu} PID: ${task.pid} at ${where}`);
}

/**
 * bad_page - "BUG: Bad page state in process %s  pfn:%05lx" and the reason dump_page prints.
 * @param pfn the page's frame number
 * @param reason the "page dumped because:" text
 */
export function badPage(log: KernelLog, task: CurrentTask, pfn: number, reason: string): void {
  log.print(
    'alert',
    `BUG: Bad page state in process ${task.comm}  pfn:${pfn.toString(16).padStart(5, '0')}`,
  );
  log.print('warn', `page dumped because: ${reason}`);
}

const RULE = '='.repeat(77);
const DASHES = '-'.repeat(77);

/**
 * slab_bug - the banner of a SLUB consistency report: `BUG kmalloc-64 (Not tainted): <text>`.
 * @param cache the cache name, or null for "<unknown>"
 */
export function slabBug(log: KernelLog, cache: string | null, text: string): void {
  log.err(RULE);
  log.err(`BUG ${cache ?? '<unknown>'} (Not tainted): ${text}`);
  log.err(DASHES);
  log.err('');
}

/** slab_fix - what SLUB did about it: `FIX kmalloc-64: Object at 0x... not freed`. */
export function slabFix(log: KernelLog, cache: string, text: string): void {
  log.err(`FIX ${cache}: ${text}`);
}

/**
 * The first line of warn_alloc: "<comm>: page allocation failure: order:N, mode:0x...(...),
 * nodemask=(null),cpuset=/,mems_allowed=0" (a kernel with cpusets, one node).
 */
export function warnAllocLine(task: CurrentTask, gfp: Gfp, order: number): string {
  return (
    `${task.comm}: page allocation failure: order:${order}, ` +
    `mode:${hex(gfp)}(${gfpString(gfp)}), nodemask=(null),cpuset=/,mems_allowed=0`
  );
}
