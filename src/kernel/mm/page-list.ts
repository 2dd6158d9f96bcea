/**
 * Intrusive doubly linked lists of pages (struct list_head threaded through struct page, as the
 * buddy free_area lists and the per-CPU lists are), over a MemMap's `next`/`prev` arrays. A page
 * is on at most one list at a time. Indices are MemMap indices; -1 ends a list.
 */
import type { MemMap } from './page.js';

/** A set of page lists sharing one MemMap's links (free_area[].free_list[], pcp->lists[]). */
export class PageLists {
  /** First member of each list, or -1. */
  readonly head: Int32Array;
  /** Last member of each list, or -1. */
  readonly tail: Int32Array;
  /** Members of each list. */
  readonly count: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;

  /**
   * @param nLists how many lists
   * @param mem the frames whose links the lists use
   */
  constructor(nLists: number, mem: MemMap) {
    this.head = new Int32Array(nLists).fill(-1);
    this.tail = new Int32Array(nLists).fill(-1);
    this.count = new Int32Array(nLists);
    this.next = mem.next;
    this.prev = mem.prev;
  }

  /** list_add: puts page `i` first on list `l`. */
  addHead(l: number, i: number): void {
    const h = this.head[l] as number;
    this.next[i] = h;
    this.prev[i] = -1;
    if (h >= 0) this.prev[h] = i;
    else this.tail[l] = i;
    this.head[l] = i;
    (this.count[l] as number)++;
  }

  /** list_add_tail: puts page `i` last on list `l`. */
  addTail(l: number, i: number): void {
    const t = this.tail[l] as number;
    this.prev[i] = t;
    this.next[i] = -1;
    if (t >= 0) this.next[t] = i;
    else this.head[l] = i;
    this.tail[l] = i;
    (this.count[l] as number)++;
  }

  /** list_del: takes page `i` off list `l`, which it must be on. */
  del(l: number, i: number): void {
    const n = this.next[i] as number;
    const p = this.prev[i] as number;
    if (p >= 0) this.next[p] = n;
    else this.head[l] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail[l] = p;
    this.next[i] = -1;
    this.prev[i] = -1;
    (this.count[l] as number)--;
  }

  /** The members of list `l`, first to last (for inspection, not for hot paths). */
  members(l: number): number[] {
    const out: number[] = [];
    for (let i = this.head[l] as number; i >= 0; i = this.next[i] as number) out.push(i);
    return out;
  }
}
