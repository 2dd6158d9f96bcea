/** A kernel BUG(): the kernel would stop here (e.g. BUG_ON(!valid_dma_direction(dir))). */
export class KernelBug extends Error {
  override readonly name = 'KernelBug';
}
