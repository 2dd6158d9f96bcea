/**
 * struct net_device and NAPI, the part a NIC driver meets (include/linux/netdevice.h,
 * net/core/dev.c): ndo_open/ndo_stop/ndo_start_xmit, the transmit queue a driver stops when its
 * ring fills and wakes when it drains (with the qdisc's backlog in front of it), carrier state,
 * statistics, and NAPI polling from the softirq with a budget.
 * Received frames wait in the GRO list until the poll that received them ends (napi_gro_receive,
 * napi_gro_flush), so a reply the stack sends goes out after the driver has refilled its ring.
 * MODEL: one TX queue, a FIFO qdisc, GRO merges nothing; the softirq runs at the same simulated
 * time as the interrupt that scheduled it.
 */
import type { Clock } from '../../machine/clock/clock.js';
import type { SkBuff } from './skbuff.js';

/** netdev_tx_t. */
export const enum NetdevTx {
  OK = 0,
  BUSY = 0x10,
}

export interface NetDeviceOps {
  /** ndo_open: 0 or a negative errno. */
  open(): number;
  /** ndo_stop. */
  stop(): void;
  /** ndo_start_xmit: the driver owns `skb` when it returns OK. */
  startXmit(skb: SkBuff): NetdevTx;
}

/** Offloads the device advertises (netdev->features). */
export interface NetFeatures {
  sg: boolean;
  /** NETIF_F_IP_CSUM: TCP/UDP over IPv4 checksum offload. */
  ipCsum: boolean;
  /** NETIF_F_TSO. */
  tso: boolean;
}

/** struct rtnl_link_stats64, the counters a NIC driver keeps. */
export interface NetStats {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  txDropped: number;
  txErrors: number;
}

/** pfifo_fast's default txqueuelen. */
const TX_QUEUE_LEN = 1000;

export class NetDevice {
  mtu = 1500;
  readonly devAddr = new Uint8Array(6);
  readonly features: NetFeatures = { sg: false, ipCsum: false, tso: false };
  readonly stats: NetStats = {
    rxPackets: 0,
    rxBytes: 0,
    rxDropped: 0,
    rxErrors: 0,
    txPackets: 0,
    txBytes: 0,
    txDropped: 0,
    txErrors: 0,
  };
  ops: NetDeviceOps | null = null;
  /** The protocol layer: netif_receive_skb hands it every received frame (data at the MAC). */
  rx: (skb: SkBuff) => void = () => undefined;
  /** Frees a transmitted or dropped skb (dev_kfree_skb_any). */
  free: (skb: SkBuff) => void = () => undefined;
  private up = false;
  private stopped = true;
  private carrier = false;
  private readonly backlog: SkBuff[] = [];
  private readonly gro: SkBuff[] = [];

  constructor(readonly name: string) {}

  get isUp(): boolean {
    return this.up;
  }

  /** dev_open. @returns 0 or the driver's negative errno */
  open(): number {
    if (this.up || this.ops === null) return 0;
    const rc = this.ops.open();
    this.up = rc === 0;
    return rc;
  }

  /** dev_close: the qdisc's backlog is dropped. */
  close(): void {
    if (!this.up || this.ops === null) return;
    this.ops.stop();
    this.up = false;
    for (const skb of this.backlog.splice(0)) this.free(skb);
  }

  /** dev_queue_xmit: to the driver now, or behind the backlog while the queue is stopped. */
  queueXmit(skb: SkBuff): void {
    if (!this.up || this.backlog.length >= TX_QUEUE_LEN) {
      this.stats.txDropped++;
      this.free(skb);
      return;
    }
    this.backlog.push(skb);
    this.runQueue();
  }

  netifStartQueue(): void {
    this.stopped = false;
  }

  netifStopQueue(): void {
    this.stopped = true;
  }

  get queueStopped(): boolean {
    return this.stopped;
  }

  /** netif_wake_queue: the driver has room again; the backlog goes out. */
  netifWakeQueue(): void {
    this.stopped = false;
    this.runQueue();
  }

  netifCarrierOn(): void {
    this.carrier = true;
  }

  netifCarrierOff(): void {
    this.carrier = false;
  }

  get carrierOk(): boolean {
    return this.carrier;
  }

  /** napi_gro_receive: held until the poll ends (groFlush). */
  receive(skb: SkBuff): void {
    this.gro.push(skb);
  }

  /** napi_gro_flush: the held frames go up the stack (netif_receive_skb), in order. */
  groFlush(): void {
    for (let skb = this.gro.shift(); skb !== undefined; skb = this.gro.shift()) this.rx(skb);
  }

  /** qdisc_run: hands queued skbs to the driver until it pushes back. */
  private runQueue(): void {
    while (!this.stopped && this.ops !== null) {
      const skb = this.backlog[0];
      if (skb === undefined) return;
      if (this.ops.startXmit(skb) === NetdevTx.BUSY) return;
      this.backlog.shift();
    }
  }
}

/** NAPI_POLL_WEIGHT. */
export const NAPI_POLL_WEIGHT = 64;

/**
 * struct napi_struct: napi_schedule raises the softirq, which calls poll(budget); a poll that used
 * its whole budget is called again, one that did not must call complete().
 */
export class Napi {
  private scheduled = false;
  private enabled = false;
  /** Polls run (for tests and statistics). */
  polls = 0;

  constructor(
    private readonly clock: Clock,
    private readonly poll: (budget: number) => number,
    /** Its device, whose GRO list is flushed after every poll. */
    private readonly dev: NetDevice,
    readonly weight = NAPI_POLL_WEIGHT,
  ) {}

  enable(): void {
    this.enabled = true;
  }

  /** napi_disable: no further polls. */
  disable(): void {
    this.enabled = false;
    this.scheduled = false;
  }

  /** napi_schedule: @returns false when already scheduled (or disabled) */
  schedule(): boolean {
    if (!this.enabled || this.scheduled) return false;
    this.scheduled = true;
    this.clock.schedule(0, () => {
      this.run();
    });
    return true;
  }

  /** napi_complete_done: polling stops until the next schedule. */
  complete(_workDone: number): boolean {
    this.scheduled = false;
    return true;
  }

  /** Re-read after poll(), which may have called complete(). */
  private isScheduled(): boolean {
    return this.scheduled;
  }

  private run(): void {
    if (!this.enabled || !this.scheduled) return;
    this.polls++;
    const done = this.poll(this.weight);
    this.dev.groFlush();
    if (this.isScheduled() && done >= this.weight)
      this.clock.schedule(0, () => {
        this.run();
      });
  }
}
