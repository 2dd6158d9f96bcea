/**
 * enum dma_data_direction (include/linux/dma-direction.h, Linux 6.12), shared by the whole DMA
 * layer and by device models that need to name a direction.
 */

/** Which way the data of a streaming mapping moves; the numbers are the kernel's. */
export const enum DmaDataDirection {
  BIDIRECTIONAL = 0,
  TO_DEVICE = 1,
  FROM_DEVICE = 2,
  NONE = 3,
}

/**
 * valid_dma_direction: one of the three real directions (not DMA_NONE, not garbage).
 * @linux include/linux/dma-direction.h valid_dma_direction
 */
export function validDmaDirection(dir: number): boolean {
  return Number.isInteger(dir) && dir >= 0 && dir <= 2;
}

/** The direction as the dma tracepoints print it ("FROM_DEVICE"). */
export function dmaDirectionName(dir: DmaDataDirection): string {
  switch (dir) {
    case DmaDataDirection.BIDIRECTIONAL:
      return 'BIDIRECTIONAL';
    case DmaDataDirection.TO_DEVICE:
      return 'TO_DEVICE';
    case DmaDataDirection.FROM_DEVICE:
      return 'FROM_DEVICE';
    case DmaDataDirection.NONE:
      return 'NONE';
  }
}
