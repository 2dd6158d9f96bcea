/** The real 6.12 traces beside the repository (../shared/traces; absent in CI's clean clone). */
export const DIR = new URL('../../../shared/traces/', import.meta.url);
export const NAMES = [
  'A_e1000_direct',
  'B_e1000_iommu_strict',
  'D_e1000_swiotlb',
  'E_nvme_direct',
  'E_nvme_iommu_strict',
];
