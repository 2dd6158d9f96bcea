/** Every benchmark of `npm run bench`, by stable name. */
import { benchCacheHitLoad } from './machine/cache-hit-load.js';
import { benchDeviceRead, benchDeviceReadIommu } from './machine/device-read.js';
import { benchIotlbHit } from './machine/iotlb.js';
import { benchSparseRss } from './machine/sparse-rss.js';
import { benchIovaScale } from './dma/iova-scale.js';
import { benchKmalloc } from './kernel/kmalloc.js';
import { benchPageAlloc } from './kernel/page-alloc.js';
import { benchDmaPool, benchDmaPoolVsBitmap } from './dma/pool.js';
import {
  benchMapDirect,
  benchMapIommuLazy,
  benchMapIommuStrict,
  benchMapSwiotlb,
} from './dma/map.js';
import { benchCheckOverhead } from './check/overhead.js';
import { benchE1000TxRx, benchE1000TxRxChecked } from './e1000/txrx.js';
import { benchTraceParse } from './trace/parse.js';
import { benchTraceCheck } from './trace/check.js';
import type { Benchmark } from './types.js';

export const BENCHMARKS: readonly Benchmark[] = [
  { name: 'machine/device-read', run: benchDeviceRead },
  { name: 'machine/device-read-iommu', run: benchDeviceReadIommu },
  { name: 'machine/cache-hit-load', run: benchCacheHitLoad },
  { name: 'machine/iotlb-hit', run: benchIotlbHit },
  { name: 'machine/sparse-rss', run: benchSparseRss },
  { name: 'kernel/page-alloc', run: benchPageAlloc },
  { name: 'kernel/kmalloc', run: benchKmalloc },
  { name: 'dma/iova-scale', run: benchIovaScale },
  { name: 'dma/pool', run: benchDmaPool },
  { name: 'dma/pool-vs-bitmap', run: benchDmaPoolVsBitmap },
  { name: 'dma/map-direct', run: benchMapDirect },
  { name: 'dma/map-swiotlb', run: benchMapSwiotlb },
  { name: 'dma/map-iommu-strict', run: benchMapIommuStrict },
  { name: 'dma/map-iommu-lazy', run: benchMapIommuLazy },
  { name: 'check/overhead', run: benchCheckOverhead },
  { name: 'e1000/txrx', run: benchE1000TxRx },
  { name: 'e1000/txrx-checked', run: benchE1000TxRxChecked },
  { name: 'trace/parse', run: benchTraceParse },
  { name: 'trace/check', run: benchTraceCheck },
];
