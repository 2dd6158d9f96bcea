/**
 * Managed device resources (drivers/base/devres.c): actions registered against a device while its
 * driver is bound, released in reverse order after the driver's remove() or when its probe fails
 * (devres_release_all). What `dmam_*` allocations and `devm_*` helpers build on, and what a leak
 * check at unbind inspects. MODEL: no devres groups; entries carry a name for reports.
 */

/** One live managed resource. */
export interface DevresEntry {
  /** What the resource is, for reports ("dmam_alloc_coherent", "devm_ioremap" ...). */
  readonly name: string;
  /** Caller data for devres_find-style matching (e.g. the vaddr of a dmam allocation). */
  readonly data: unknown;
  /** Frees the resource. */
  readonly release: () => void;
  /** Registration order on its device, from 1. */
  readonly seq: number;
}

/** A device's devres list (dev->devres_head). */
export class DevresList {
  private entries: DevresEntry[] = [];
  private nextSeq = 1;

  /**
   * devres_add: appends an entry.
   * @linux drivers/base/devres.c devres_add
   */
  add(name: string, release: () => void, data: unknown = null): DevresEntry {
    const e: DevresEntry = { name, data, release, seq: this.nextSeq++ };
    this.entries.push(e);
    return e;
  }

  /**
   * devres_remove: unlinks an entry without releasing it. @returns false if it was not live
   * @linux drivers/base/devres.c devres_remove
   */
  remove(entry: DevresEntry): boolean {
    const i = this.entries.indexOf(entry);
    if (i < 0) return false;
    this.entries.splice(i, 1);
    return true;
  }

  /**
   * devres_release: unlinks and releases an entry. @returns false if it was not live
   * @linux drivers/base/devres.c devres_release
   */
  release(entry: DevresEntry): boolean {
    if (!this.remove(entry)) return false;
    entry.release();
    return true;
  }

  /**
   * devres_release_all: releases every live entry, newest first. Entries added by a release
   * callback stay on the list (a leak the caller can see).
   * @returns how many were released
   * @linux drivers/base/devres.c devres_release_all
   */
  releaseAll(): number {
    const todo = this.entries;
    this.entries = [];
    for (let i = todo.length - 1; i >= 0; i--) (todo[i] as DevresEntry).release();
    return todo.length;
  }

  /**
   * devres_find: the newest live entry that satisfies `match`.
   * @linux drivers/base/devres.c devres_find
   */
  find(match: (e: DevresEntry) => boolean): DevresEntry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i] as DevresEntry;
      if (match(e)) return e;
    }
    return undefined;
  }

  /** The live entries, oldest first. */
  get live(): readonly DevresEntry[] {
    return [...this.entries];
  }
}

/** Anything with a devres list (every Device). */
export interface HasDevres {
  readonly devres: DevresList;
}

/**
 * devm_add_action: runs `release` when the driver unbinds or its probe fails.
 * @returns the entry, for devmRemove / devmRelease
 * @linux drivers/base/devres.c devm_add_action
 */
export function devmAdd(
  dev: HasDevres,
  name: string,
  release: () => void,
  data: unknown = null,
): DevresEntry {
  return dev.devres.add(name, release, data);
}

/**
 * devm_remove_action: forgets the entry without running it. @returns false if it was not live
 * @linux drivers/base/devres.c devm_remove_action
 */
export function devmRemove(dev: HasDevres, entry: DevresEntry): boolean {
  return dev.devres.remove(entry);
}

/**
 * devm_release_action: runs the entry now and forgets it. @returns false if it was not live
 * @linux drivers/base/devres.c devm_release_action
 */
export function devmRelease(dev: HasDevres, entry: DevresEntry): boolean {
  return dev.devres.release(entry);
}

/**
 * devres_release_all. @returns how many entries were released
 * @linux drivers/base/devres.c devres_release_all
 */
export function devresReleaseAll(dev: HasDevres): number {
  return dev.devres.releaseAll();
}

/** The device's live devres entries, oldest first (for leak checks at unbind). */
export function devresLive(dev: HasDevres): readonly DevresEntry[] {
  return dev.devres.live;
}
