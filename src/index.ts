/**
 * dmasim's library entry point: the simulated machine (this release) and, as later layers land,
 * the kernel's DMA mapping layer, devices, drivers and checkers.
 */
export * from './lib/addr.js';
export { ConfigError, SimulatorBug, BusError } from './lib/errors.js';
export { Rng } from './lib/rng.js';
export { Machine } from './machine/machine.js';
export type { MachineConfig } from './machine/machine.js';
export { ARCH_NAMES, findProfile } from './machine/profile.js';
export type { ArchName, ArchProfile, BarrierTable, RamBank } from './machine/profile.js';
export { MemAttr } from './machine/memory/attr.js';
export type { MmioHandler, Region } from './machine/memory/physmap.js';
export type { MemPort } from './machine/memory/port.js';
export { Cpu } from './machine/cpu/cpu.js';
export { DataCache } from './machine/cache/cache.js';
export type { CacheStats } from './machine/cache/cache.js';
export { DmaPort } from './machine/bus/dma-port.js';
export type { BusMasterConfig } from './machine/bus/interconnect.js';
export { Clock } from './machine/clock/clock.js';
export { EventBus, DmaStatus } from './machine/events.js';
export type { MachineEvent, IommuFault } from './machine/events.js';
export { Iommu } from './machine/iommu/iommu.js';
export type { IommuConfig } from './machine/iommu/iommu.js';
export { runCoherenceDemo } from './scenarios/coherence.js';
export type { CoherenceDemo } from './scenarios/coherence.js';
export { Kernel } from './kernel/kernel.js';
export type { KernelConfig } from './kernel/kernel.js';
export * from './kernel/mm/gfp.js';
export { KernelOops } from './kernel/mm/kmem.js';
export { MEMREMAP_WB, MEMREMAP_WC, MEMREMAP_WT } from './kernel/mm/vmap.js';
export { parseCmdline } from './kernel/cmdline.js';
export type { BootParams } from './kernel/cmdline.js';
export { KernelLog } from './kernel/printk.js';
export { buddyinfo, zoneinfo } from './kernel/mm/buddyinfo.js';
export { slabinfo } from './kernel/mm/slabinfo.js';
export { DmaDataDirection } from './kernel/dma/direction.js';
export { traceEventFields, traceEventLine } from './kernel/dma/trace.js';
export type { DmaTraceEvent } from './kernel/dma/trace.js';
export { DMA_MAPPING_ERROR } from './kernel/device/dma-range.js';
export * from './kernel/dma/attrs.js';
export type { DmaHandle } from './kernel/dma/mapping.js';
export type { DmaDebugHooks } from './kernel/dma/hooks.js';
export { NO_DMA_DEBUG } from './kernel/dma/hooks.js';
export type { DmaMapOps, CoherentBuffer } from './kernel/dma/map-ops.js';
export { IommuCore, KernelIommuDomain } from './kernel/iommu/iommu.js';
export type { IommuDomainType, IommuGroup } from './kernel/iommu/iommu.js';
export { IommuDma } from './kernel/dma/iommu.js';
export {
  dmaPoolAlloc,
  dmaPoolZalloc,
  dmaPoolFree,
  dmaPoolCreate,
  dmaPoolDestroy,
  dmamPoolCreate,
  poolsShow,
} from './kernel/mm/dmapool.js';
export type { DmaPool } from './kernel/mm/dmapool.js';
export * from './kernel/lib/scatterlist.js';
export { U64_MAX, DMA_MASK_32 } from './kernel/device/dma-mask.js';
export { DmaDebug } from './check/dma-debug.js';
export type { DmaDebugOptions } from './check/dma-debug.js';
export { CoherenceChecker } from './check/coherence.js';
export type { CoherenceOptions } from './check/coherence.js';
export type { CoherenceKind } from './check/coherence-report.js';
export { IommuExposure } from './check/iommu-exposure.js';
export type { IommuExposureJson, IommuExposureOptions } from './check/iommu-exposure.js';
export type {
  ExposedRange,
  ExposureReport,
  IommuExposureKind,
  MappingExposure,
  RogueReach,
  RogueReport,
  StaleAccess,
  StaleWindow,
} from './check/iommu-exposure-report.js';
export type { Resident, ResidentKind } from './check/iommu-residents.js';
export { chainDmaDebugHooks } from './check/hooks-chain.js';
export { FindingList } from './check/findings.js';
export type { Finding, FindingsJson } from './check/findings.js';
export * from './trace/index.js';
export * from './lib/net/frame.js';
export { PcapCollector, PcapWriter, readPcap, readPcapHeader } from './lib/net/pcap.js';
export type { PcapRecord, PcapHeader } from './lib/net/pcap.js';
export { Link } from './devices/net/link.js';
export { NetResponder } from './devices/net/responder.js';
export { replayPcap } from './devices/net/pcap-replay.js';
export { IrqLine } from './machine/bus/irq.js';
export { E1000 } from './devices/e1000/e1000.js';
export { PCI_ID as E1000_PCI_ID } from './devices/e1000/regs.js';
export { e1000Driver, e1000Adapters } from './drivers/e1000/main.js';
export type { E1000Adapter, E1000Mistakes, E1000Options } from './drivers/e1000/adapter.js';
export { InetHost } from './kernel/net/inet.js';
export { NetDevice, Napi } from './kernel/net/netdevice.js';
export { SkBuff, IpSummed } from './kernel/net/skbuff.js';
export { e1000Net, HOST_IP, HOST_MAC, PEER_IP, PEER_MAC } from './scenarios/e1000-net.js';
export type { E1000Net, E1000NetConfig } from './scenarios/e1000-net.js';
export { SCENARIOS, findScenario } from './scenarios/registry.js';
export { runScenario, resolveParams } from './scenarios/run.js';
export type { RunResult } from './scenarios/run.js';
export { DEFAULT_RUN_OPTIONS } from './scenarios/options.js';
export type { RunOptions, CheckerName, IommuMode, SwiotlbMode } from './scenarios/options.js';
export type { Scenario, ParamSpec } from './scenarios/scenario.js';
export { ScenarioEnv } from './scenarios/scenario.js';
export type { RunReport, ReportFinding } from './scenarios/report.js';
export type { RunStats } from './scenarios/stats.js';
export { FtraceRecorder, ftraceHeader } from './trace/writer.js';
