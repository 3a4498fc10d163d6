// Which `ip` batch lines the netlink writer encodes (src/driver/netlink-write.ts), and that each
// request is well formed: a header whose length is the message's, attributes that tile their
// parent exactly, and run-time fixups inside the message. Whether the kernel ends up as `ip`
// leaves it is the live tier's test (test/live/netlink-write.test.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeIpLine, type Encoded } from '../../src/driver/netlink-write.js';
import { FakeDriver } from '../../src/driver/fake.js';
import { planLab } from '../../src/apply/engine.js';
import { labOf, useTempStateDir } from './helpers.js';

useTempStateDir();

/** Walks attributes in buf[off..end): every length is sane and they end exactly at `end`. */
function checkAttrs(buf: Buffer, off: number, end: number, nestedAt: Set<number>): void {
  while (off < end) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2);
    expect(len).toBeGreaterThanOrEqual(4);
    expect(off + len).toBeLessThanOrEqual(end);
    if (type & 0x8000) {
      nestedAt.add(off);
      // VETH_INFO_PEER (the only nested attribute of type 1 here) starts with a struct ifinfomsg.
      const inner = (type & 0x3fff) === 1 ? 16 : 0;
      checkAttrs(buf, off + 4 + inner, off + len, nestedAt);
    }
    off += (len + 3) & ~3;
  }
  expect(off).toBe(end);
}

const BODY: Record<number, number> = { 16: 16, 17: 16, 108: 16, 109: 16, 20: 8, 21: 8, 24: 12, 25: 12 };

function checkMessage(e: Encoded): void {
  expect(e.msg.readUInt32LE(0)).toBe(e.msg.length);
  const type = e.msg.readUInt16LE(4);
  expect(Object.keys(BODY).map(Number)).toContain(type);
  expect(e.msg.readUInt16LE(6) & 0x5).toBe(0x5); // NLM_F_REQUEST | NLM_F_ACK
  checkAttrs(e.msg, 16 + BODY[type]!, e.msg.length, new Set());
  for (const f of e.fixups) {
    expect(f.offset + 4).toBeLessThanOrEqual(e.msg.length);
    expect(e.msg.readUInt32LE(f.offset)).toBe(0);
  }
}

describe('netlink writer: encoding', () => {
  it('encodes every line of a Docker-style lab but `netns add`, well formed', async () => {
    const lab = labOf('docker.yaml', readFileSync('labs/docker-bridge.yaml', 'utf8'));
    const { plan } = await planLab(new FakeDriver(), lab);
    const lines = plan.steps.flatMap((s) => s.commands.flatMap((c) => (c.tool === 'ip' ? [c.line] : [])));
    const left = lines.filter((l) => encodeIpLine(l) === null);
    expect(left.every((l) => l.startsWith('netns add '))).toBe(true);
    expect(lines.length - left.length).toBeGreaterThan(30);
    for (const l of lines) {
      const e = encodeIpLine(l);
      if (e) checkMessage(e);
    }
  });

  it('each shape: its message type, flags and the fixups it needs', () => {
    const at = (line: string) => {
      const e = encodeIpLine(line)!;
      checkMessage(e);
      return { type: e.msg.readUInt16LE(4), flags: e.msg.readUInt16LE(6), fixups: e.fixups.map((f) => `${f.kind}:${f.name}`) };
    };
    expect(
      at('link add name a address 02:00:00:00:00:01 mtu 1500 type veth peer name b netns other address 02:00:00:00:00:02 mtu 1500'),
    ).toEqual({
      type: 16,
      flags: 0x605,
      fixups: ['nsfd:other'],
    });
    expect(at('link add name br0 address 02:00:00:00:00:03 mtu 1499 type bridge stp_state 0 ageing_time 30000').fixups).toEqual([]);
    expect(at('link set dev eth0 mtu 1400 address 02:00:00:00:00:04 master br0')).toEqual({
      type: 16,
      flags: 0x5,
      fixups: ['ifindex:eth0', 'ifindex:br0'],
    });
    expect(at('link set dev eth0 nomaster').fixups).toEqual(['ifindex:eth0']);
    expect(at('link set dev lo alias netlab:lab').type).toBe(16);
    expect(at('link set dev v type bridge_slave hairpin on').type).toBe(16);
    expect(at('link property add dev v altname netlab.lab.h.eth0')).toMatchObject({ type: 108, fixups: ['ifindex:v'] });
    expect(at('link property del dev v altname netlab.lab.h.eth0').type).toBe(109);
    expect(at('link del dev v')).toEqual({ type: 17, flags: 0x5, fixups: ['ifindex:v'] });
    expect(at('addr add fd00::1/64 dev eth0 nodad')).toEqual({ type: 20, flags: 0x605, fixups: ['ifindex:eth0'] });
    expect(at('addr del 10.0.0.1/24 dev eth0').type).toBe(21);
    expect(at('route add default via 10.0.0.1 dev eth0 metric 0')).toEqual({ type: 24, flags: 0x605, fixups: ['ifindex:eth0'] });
    expect(at('route replace 10.1.0.0/16 via 10.0.0.1 metric 5 table 1000').flags).toBe(0x505);
    expect(at('route del ::/0 via fd00::1 dev eth0 metric 1024')).toMatchObject({ type: 25, flags: 0x5 });
  });

  it('leaves to ip what it does not write', () => {
    for (const line of [
      'netns add lab-h1',
      'tuntap add dev tap0 mode tap',
      'link add link eth0 name mv0 mtu 1500 type macvlan mode bridge',
      'link add name br0 mtu 1500 type bridge stp_state 0 ageing_time 30000 vlan_filtering 1 vlan_default_pvid 0',
      'link set dev nlt1234 name eth0',
      'link set dev br0 type bridge stp_state 1 ageing_time 30000',
      'route add 10.9.0.0/24 metric 0 nexthop via 10.1.0.2 weight 1 nexthop via 10.2.0.2 weight 2',
      'route add 10.9.0.0/24 via fd00::1',
      'neigh replace 10.0.0.9 lladdr 02:00:00:00:00:09 dev eth0 nud permanent',
      'rule add priority 100 from 10.1.0.0/24 table 100',
      'addr add 10.0.0.1 dev eth0',
    ])
      expect(encodeIpLine(line), line).toBeNull();
  });
});
