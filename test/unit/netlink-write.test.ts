// Which `ip` operations the netlink writer encodes (src/driver/netlink-write.ts), and that each
// request is well formed: a header whose length is the message's, attributes that tile their
// parent exactly, and run-time fixups inside the message. Whether the kernel ends up as `ip`
// leaves it is the live tier's test (test/live/netlink-write.test.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeOperation, type Encoded } from '../../src/driver/netlink-write.js';
import { batchLine, toolOf } from '../../src/driver/render.js';
import type { AddrObj, RouteObj } from '../../src/model/objects.js';
import { linkObj } from '../fixtures/links.js';
import type { LinkChanges, Operation } from '../../src/model/operations.js';
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

const end = (name: string, mac: string | null, mtu: number, netns: string | null = null) => ({ name, netns, mac, mtu });
const at = { ns: 'lab-h1', phase: 0 };
const route = (dst: string, r: Partial<RouteObj>): RouteObj => ({
  kind: 'route',
  id: '',
  ns: 'lab-h1',
  family: dst.includes(':') || r.via?.includes(':') ? 6 : 4,
  dst,
  via: null,
  dev: null,
  metric: 0,
  onlink: false,
  table: 254,
  ...r,
});
const addrOf = (cidr: string, dev: string): AddrObj => ({ kind: 'addr', id: '', ns: 'lab-h1', dev, cidr });
const set = (dev: string, changes: LinkChanges): Operation => ({ ...at, op: 'link.set', dev, changes });

describe('netlink writer: encoding', () => {
  it('encodes every ip operation of a Docker-style lab but `netns add`, well formed', async () => {
    const lab = labOf('docker.yaml', readFileSync('labs/docker-bridge.yaml', 'utf8'));
    const { plan } = await planLab(new FakeDriver(), lab);
    const ops = plan.steps.flatMap((s) => s.commands.filter((c) => toolOf(c) === 'ip'));
    const left = ops.filter((o) => encodeOperation(o) === null);
    expect(left.every((o) => batchLine(o).startsWith('netns add '))).toBe(true);
    expect(ops.length - left.length).toBeGreaterThan(30);
    for (const o of ops) {
      const e = encodeOperation(o);
      if (e) checkMessage(e);
    }
  });

  it('each shape: its message type, flags and the fixups it needs', () => {
    const shape = (o: Operation) => {
      const e = encodeOperation(o)!;
      checkMessage(e);
      return { type: e.msg.readUInt16LE(4), flags: e.msg.readUInt16LE(6), fixups: e.fixups.map((f) => `${f.kind}:${f.name}`) };
    };
    const veth = linkObj('lab-h1', 'a', 'veth');
    expect(
      shape({
        ...at,
        op: 'link.add',
        link: veth,
        end: end('a', '02:00:00:00:00:01', 1500),
        parent: null,
        peer: { link: linkObj('other', 'b', 'veth'), end: end('b', '02:00:00:00:00:02', 1500, 'other') },
      }),
    ).toEqual({
      type: 16,
      flags: 0x605,
      fixups: ['nsfd:other'],
    });
    const br = linkObj('lab-h1', 'br0', 'bridge', { stp: false, ageing: 300, vlanFiltering: false });
    expect(shape({ ...at, op: 'link.add', link: br, end: end('br0', '02:00:00:00:00:03', 1499), parent: null }).fixups).toEqual([]);
    expect(shape(set('eth0', { mtu: 1400, mac: '02:00:00:00:00:04', master: 'br0' }))).toEqual({
      type: 16,
      flags: 0x5,
      fixups: ['ifindex:eth0', 'ifindex:br0'],
    });
    expect(shape(set('eth0', { master: null })).fixups).toEqual(['ifindex:eth0']);
    expect(shape(set('lo', { alias: 'netlab:lab' })).type).toBe(16);
    expect(shape(set('v', { hairpin: true })).type).toBe(16);
    expect(shape({ ...at, op: 'altname.add', dev: 'v', altname: 'netlab.lab.h.eth0' })).toMatchObject({ type: 108, fixups: ['ifindex:v'] });
    expect(shape({ ...at, op: 'altname.del', dev: 'v', altname: 'netlab.lab.h.eth0' }).type).toBe(109);
    expect(shape({ ...at, op: 'link.del', link: linkObj('lab-h1', 'v', 'veth'), alsoRemoves: [] })).toEqual({
      type: 17,
      flags: 0x5,
      fixups: ['ifindex:v'],
    });
    expect(shape({ ...at, op: 'addr.add', addr: addrOf('fd00::1/64', 'eth0') })).toEqual({
      type: 20,
      flags: 0x605,
      fixups: ['ifindex:eth0'],
    });
    expect(shape({ ...at, op: 'addr.del', addr: addrOf('10.0.0.1/24', 'eth0') }).type).toBe(21);
    expect(shape({ ...at, op: 'route.add', route: route('default', { via: '10.0.0.1', dev: 'eth0' }) })).toEqual({
      type: 24,
      flags: 0x605,
      fixups: ['ifindex:eth0'],
    });
    expect(shape({ ...at, op: 'route.replace', route: route('10.1.0.0/16', { via: '10.0.0.1', metric: 5, table: 1000 }) }).flags).toBe(
      0x505,
    );
    expect(shape({ ...at, op: 'route.del', route: route('default', { via: 'fd00::1', dev: 'eth0', metric: 1024 }) })).toMatchObject({
      type: 25,
      flags: 0x5,
    });
  });

  it('leaves to ip what it does not write', () => {
    const ops: Operation[] = [
      { ...at, ns: '', op: 'netns.add', netns: { kind: 'netns', id: 'netns:lab-h1', ns: 'lab-h1', origin: 'created', target: null } },
      { ...at, op: 'tap.add', link: linkObj('lab-h1', 'tap0', 'tap', { user: null, group: null }) },
      { ...at, op: 'link.add', link: linkObj('lab-h1', 'mv0', 'macvlan', { mode: 'bridge' }), end: end('mv0', null, 1500), parent: 'eth0' },
      {
        ...at,
        op: 'link.add',
        link: linkObj('lab-h1', 'br0', 'bridge', { stp: false, ageing: 300, vlanFiltering: true }),
        end: end('br0', null, 1500),
        parent: null,
      },
      set('nlt1234', { name: 'eth0' }),
      set('br0', { bridge: { stp: true, ageing: 300 } }),
      {
        ...at,
        op: 'route.add',
        route: route('10.9.0.0/24', {
          nexthops: [
            { via: '10.1.0.2', dev: null, weight: 1, onlink: false },
            { via: '10.2.0.2', dev: null, weight: 2, onlink: false },
          ],
        }),
      },
      { ...at, op: 'route.add', route: route('10.9.0.0/24', { via: 'fd00::1', family: 4 }) },
      {
        ...at,
        op: 'neigh.replace',
        neigh: { kind: 'neigh', id: '', ns: 'lab-h1', dev: 'eth0', address: '10.0.0.9', mac: '02:00:00:00:00:09' },
      },
      {
        ...at,
        op: 'rule.add',
        rule: {
          kind: 'rule',
          id: '',
          ns: 'lab-h1',
          family: 4,
          priority: 100,
          from: '10.1.0.0/24',
          to: null,
          iif: null,
          oif: null,
          fwmark: null,
          table: 100,
        },
      },
      { ...at, op: 'addr.add', addr: addrOf('10.0.0.1', 'eth0') },
    ];
    for (const o of ops) expect(encodeOperation(o), batchLine(o)).toBeNull();
  });
});
