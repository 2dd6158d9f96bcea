import { describe, expect, it } from 'vitest';
import { e1000Net, PEER_IP } from '../../../src/scenarios/e1000-net.js';
import { parseIp } from '../../../src/lib/net/frame-defs.js';

describe('e1000 end to end', () => {
  it('pings the peer', () => {
    const n = e1000Net({ machine: { ramSize: 256 * 1024 * 1024 } });
    n.k.machine.clock.run(n.k.machine.clock.now + 5e6);
    console.log(n.adapter.netdev.carrierOk, n.k.log.all.map((l) => l.text).slice(-5));
    for (let s = 1; s <= 3; s++) {
      n.host.ping(parseIp(PEER_IP), 56, 1, s);
      n.k.machine.clock.run(n.k.machine.clock.now + 10e6);
    }
    console.log(n.host.counters, n.peer.counters, n.adapter.netdev.stats, n.nic.faults);
    expect(n.host.counters.echoReplies).toBe(3);
  });
});
