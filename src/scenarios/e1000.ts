/**
 * `dmasim run e1000`: the Intel 82540EM and its driver with traffic to a peer on a 1 Gbit/s link:
 * pings, a UDP echo stream or one TSO send, optionally with one of the driver's break-it options.
 * With --pcap every frame on the wire goes into a pcap file.
 */
import type { E1000Mistakes } from '../drivers/e1000/adapter.js';
import { parseIp } from '../lib/net/frame-defs.js';
import { PcapCollector } from '../lib/net/pcap.js';
import type { Kernel } from '../kernel/kernel.js';
import { pattern } from '../kernel/net/inet.js';
import { e1000Net, PEER_IP } from './e1000-net.js';
import type { E1000Net } from './e1000-net.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

/** --mistake values and the driver option each sets. */
const MISTAKES: Readonly<Record<string, keyof E1000Mistakes | null>> = {
  none: null,
  'skip-rx-sync': 'skipRxSync',
  'skip-tx-barrier': 'skipTxBarrier',
  'forget-tx-unmap': 'forgetTxUnmap',
  'skip-map-error-check': 'skipMapErrorCheck',
  'tx-phys-addr': 'txPhysAddr',
};

const PEER = parseIp(PEER_IP);
const UDP_ECHO_PORT = 7;
const TSO_MSS = 1448;
/** Time between two pings or datagrams, as `ping -i 0.01` would send them. */
const GAP_NS = 10e6;

export const e1000Scenario: Scenario = {
  name: 'e1000',
  summary: 'an Intel e1000 NIC and its driver: ping, UDP echo or a TSO send, with break-it options',
  archs: ['x86_64', 'arm64', 'arm32', 'prep'],
  params: [
    {
      name: 'workload',
      kind: 'choice',
      choices: ['ping', 'udp', 'tso'],
      default: 'ping',
      description: 'ICMP echo, UDP echo datagrams, or one TCP send cut into segments by the NIC',
    },
    {
      name: 'count',
      kind: 'int',
      min: 1,
      max: 100_000,
      default: 20,
      description: 'pings or datagrams',
    },
    {
      name: 'size',
      kind: 'size',
      min: 1,
      max: 65_000,
      default: 56,
      description: 'payload bytes of each ping or datagram, or of the TSO send',
    },
    {
      name: 'mistake',
      kind: 'choice',
      choices: Object.keys(MISTAKES),
      default: 'none',
      description: 'break the driver on purpose so the checkers have something to catch',
    },
  ],
  files: ['pcap'],
  examples: [
    'dmasim run e1000',
    'dmasim run e1000 --workload tso --size 64K --pcap tso.pcap',
    'dmasim run e1000 --arch arm64 --mistake skip-rx-sync',
  ],
  run(env: ScenarioEnv): void {
    const mistake = MISTAKES[env.str('mistake')] ?? null;
    const cfg = env.kernelConfig();
    const n = e1000Net({
      machine: env.machineConfig(),
      kernel: cfg,
      driver: mistake === null ? {} : { mistakes: { [mistake]: true } },
      ...(env.options.coherent === undefined ? {} : { coherent: env.options.coherent }),
      peerKeepsTcpData: true,
      onBoot: (k: Kernel) => {
        env.attach(k, cfg);
      },
    });
    const wire = watchWire(env, n);
    const clock = n.k.machine.clock;
    clock.run(clock.now + 5e6); // the watchdog sees the link come up
    const workload = env.str('workload');
    if (workload === 'tso') runTso(env, n);
    else runEcho(env, n, workload === 'udp');
    env.count('frames on the wire', wire.frames);
    env.count('bytes on the wire', wire.bytes);
    env.count('simulated ns', clock.now);
    if (env.options.pcap) env.files.set('pcap', wire.pcap.bytes());
  },
};

function watchWire(
  env: ScenarioEnv,
  n: E1000Net,
): { frames: number; bytes: number; pcap: PcapCollector } {
  const w = { frames: 0, bytes: 0, pcap: new PcapCollector() };
  n.link.capture((t, frame) => {
    w.frames++;
    w.bytes += frame.length;
    if (env.options.pcap) w.pcap.write(t, frame);
  });
  return w;
}

/** Pings or UDP datagrams one at a time; counts the replies that came back intact. */
function runEcho(env: ScenarioEnv, n: E1000Net, udp: boolean): void {
  const count = env.int('count');
  const size = env.int('size');
  const clock = n.k.machine.clock;
  for (let seq = 1; seq <= count; seq++) {
    if (udp) n.host.sendUdp(PEER, 40_000, UDP_ECHO_PORT, pattern(size, seq));
    else n.host.ping(PEER, size, 7, seq);
    clock.run(clock.now + GAP_NS);
    env.progress(seq, count);
  }
  const kind = udp ? 'udp' : 'echo-reply';
  const replies = n.host.received.filter((r) => r.kind === kind && r.payload.length === size);
  // Payloads are pattern(size, seq): byte i is i + seq, so a reply checks itself.
  const intact = replies.filter((r) =>
    r.payload.every((b, i) => b === ((i + (r.payload[0] ?? 0)) & 0xff)),
  ).length;
  const what = udp ? 'UDP datagrams' : 'pings';
  env.count(`${what} sent`, count);
  env.count(`${what} answered`, intact);
  env.say(
    `eth0 (10.0.2.15) sent ${count} ${what} of ${size} bytes to ${PEER_IP}; ${intact} came back.`,
  );
  if (intact < count)
    env.say(`${count - intact} went missing: see the findings and the driver's statistics.`);
}

/** One TCP send of `size` bytes that the NIC cuts into MSS-sized segments. */
function runTso(env: ScenarioEnv, n: E1000Net): void {
  const size = env.int('size');
  const payload = pattern(size, 1);
  const clock = n.k.machine.clock;
  n.host.sendTcp(PEER, { srcPort: 40_000, dstPort: 9, seq: 1, payload, mss: TSO_MSS, linear: 54 });
  clock.run(clock.now + 20e6);
  const got = n.peer.tcpFlows[0]?.data() ?? new Uint8Array(0);
  const same = got.length === size && got.every((b, i) => b === payload[i]);
  env.count('TSO bytes sent', size);
  env.count('segments expected', Math.ceil(size / TSO_MSS));
  env.count('TSO bytes received intact', same ? size : 0);
  env.progress(1, 1);
  env.say(
    `eth0 handed the NIC one ${size}-byte TCP send; the NIC cut it into MSS ${TSO_MSS} segments; the peer ${same ? 'got every byte' : 'did NOT get the same bytes'}.`,
  );
}
