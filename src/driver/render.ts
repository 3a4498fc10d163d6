// Operations as the text of the tools that carry them out: `ip`/`bridge`/`tc` batch lines (the
// reference path behind NETLAB_NETLINK=0, and what `plan -v` and `--format markdown` show), nft
// scripts, sysctl writes. The only place operations become command text.
// Type imports only: the CLI loads this module for any command that shows a plan.
import type { LinkObj } from '../model/objects.js';
import type { QdiscParams } from '../model/qdisc.js';
import type { LinkChanges, Operation, OpOf } from '../model/operations.js';

/** The program an operation runs in: `ip6` for IPv6 rules (`ip -6 -batch`, a batch of its own). */
export type Tool = 'ip' | 'ip6' | 'bridge' | 'tc' | 'sysctl' | 'nft' | 'handle' | 'proc';

export function toolOf(o: Operation): Tool {
  switch (o.op) {
    case 'rule.add':
    case 'rule.del':
      return o.rule.family === 6 ? 'ip6' : 'ip';
    case 'fdb.add':
    case 'fdb.del':
    case 'vlan.add':
    case 'vlan.del':
      return 'bridge';
    case 'qdisc.replace':
    case 'qdisc.change':
    case 'qdisc.del':
      return 'tc';
    case 'sysctl.set':
      return 'sysctl';
    case 'nft.replace':
    case 'nft.delete':
      return 'nft';
    case 'handle.mount':
    case 'handle.unmount':
      return 'handle';
    case 'proc':
      return 'proc';
    default:
      return 'ip';
  }
}

function typeArgs(o: LinkObj): string {
  const a = o.attrs;
  switch (o.type) {
    case 'bridge':
      return `type bridge stp_state ${a.stp ? 1 : 0} ageing_time ${Number(a.ageing) * 100}${
        a.vlanFiltering ? ' vlan_filtering 1 vlan_default_pvid 0' : ''
      }`;
    case 'vlan':
      return `type vlan protocol ${String(a.protocol)} id ${String(a.id)}`;
    case 'macvlan':
    case 'macvtap':
      return `type ${o.type} mode ${String(a.mode)}`;
    case 'ipvlan':
      return `type ipvlan mode ${String(a.mode)} ${String(a.flag)}`;
    case 'vxlan':
      return words(
        `type vxlan id ${String(a.vni)} dstport ${String(a.port)}`,
        a.local ? `local ${String(a.local)}` : '',
        a.group ? `group ${String(a.group)}` : '',
        a.dev ? `dev ${String(a.dev)}` : '',
        a.learning ? '' : 'nolearning',
      );
    default:
      return `type ${o.type}`;
  }
}

const words = (...ws: string[]) => ws.filter(Boolean).join(' ');

function endArgs(e: OpOf<'link.add'>['end']): string {
  return `name ${e.name}${e.netns !== null ? ` netns ${e.netns}` : ''}${e.mac !== null ? ` address ${e.mac}` : ''} mtu ${e.mtu}`;
}

function linkAdd(o: OpOf<'link.add'>): string {
  if (o.peer) return `link add ${endArgs(o.end)} type veth peer ${endArgs(o.peer.end)}`;
  return `link add ${o.parent !== null ? `link ${o.parent} ` : ''}${endArgs(o.end)} ${typeArgs(o.link)}`;
}

/** `ip link set` words, in the order the changes were given. */
function linkSetWords(c: LinkChanges): string {
  const out: string[] = [];
  for (const key of Object.keys(c) as (keyof LinkChanges)[]) {
    switch (key) {
      case 'mtu':
        out.push(`mtu ${c.mtu}`);
        break;
      case 'mac':
        out.push(`address ${c.mac}`);
        break;
      case 'master':
        out.push(c.master ? `master ${c.master}` : 'nomaster');
        break;
      case 'name':
        out.push(`name ${c.name}`);
        break;
      case 'up':
        out.push(c.up ? 'up' : 'down');
        break;
      case 'alias':
        out.push(c.alias ? `alias ${c.alias}` : 'alias ""');
        break;
      case 'bridge':
        out.push(`type bridge stp_state ${c.bridge!.stp ? 1 : 0} ageing_time ${c.bridge!.ageing * 100}`);
        break;
      case 'hairpin':
        out.push(`type bridge_slave hairpin ${c.hairpin ? 'on' : 'off'}`);
        break;
    }
  }
  return out.join(' ');
}

function routeSpec(o: OpOf<'route.add'>['route']): string {
  const dst = o.dst === 'default' && o.family === 6 ? '::/0' : o.dst;
  return words(
    dst,
    o.via ? `via ${o.via}` : '',
    o.dev ? `dev ${o.dev}` : '',
    `metric ${o.metric}`,
    o.onlink ? 'onlink' : '',
    o.table !== 254 ? `table ${o.table}` : '',
    ...(o.nexthops ?? []).map((n) => `nexthop via ${n.via}${n.dev ? ` dev ${n.dev}` : ''} weight ${n.weight}${n.onlink ? ' onlink' : ''}`),
  );
}

function ruleSpec(o: OpOf<'rule.add'>['rule']): string {
  return words(
    `pref ${o.priority}`,
    o.from ? `from ${o.from}` : '',
    o.to ? `to ${o.to}` : '',
    o.iif ? `iif ${o.iif}` : '',
    o.oif ? `oif ${o.oif}` : '',
    o.fwmark ? `fwmark ${o.fwmark}` : '',
    `table ${o.table}`,
  );
}

function fdbSpec(o: OpOf<'fdb.add'>['fdb']): string {
  return o.dst
    ? `${o.mac} dev ${o.dev} dst ${o.dst}`
    : `${o.mac} dev ${o.dev} master static${o.vlan !== undefined ? ` vlan ${o.vlan}` : ''}`;
}

function qdiscArgs(p: QdiscParams): string {
  switch (p.kind) {
    case 'netem':
      return `netem limit ${p.limit} delay ${p.delay} ${p.jitter} loss ${p.loss} duplicate ${p.duplicate} reorder ${p.reorder} corrupt ${p.corrupt}`;
    case 'tbf':
      return p.rate === null ? 'tbf (no rate)' : `tbf rate ${p.rate} burst ${p.burst} limit ${p.limit}`;
    case 'pfifo':
      return `pfifo limit ${p.limit}`;
  }
}

function qdiscLine(o: OpOf<'qdisc.replace' | 'qdisc.change'>): string {
  const where = o.parent === null ? 'root' : `parent ${o.parent}`;
  const handle = o.handle === null ? '' : ` handle ${o.handle}`;
  return `qdisc ${o.op === 'qdisc.replace' ? 'replace' : 'change'} dev ${o.qdisc.dev} ${where}${handle} ${qdiscArgs(o.params)}`;
}

/** The line of an `ip`, `bridge` or `tc` batch that carries out `o` (without `-6`: see toolOf); '' for other tools. */
export function batchLine(o: Operation): string {
  switch (o.op) {
    case 'netns.add':
      return `netns add ${o.netns.ns}`;
    case 'netns.del':
      return `netns del ${o.netns.ns}`;
    case 'link.add':
      return linkAdd(o);
    case 'tap.add': {
      const a = o.link.attrs;
      const owner = `${a.user !== null ? ` user ${String(a.user)}` : ''}${a.group !== null ? ` group ${String(a.group)}` : ''}`;
      return `tuntap add dev ${o.link.ifname} mode tap${owner}`;
    }
    case 'link.set':
      return `link set dev ${o.dev} ${linkSetWords(o.changes)}`;
    case 'altname.add':
      return `link property add dev ${o.dev} altname ${o.altname}`;
    case 'altname.del':
      return `link property del dev ${o.dev} altname ${o.altname}`;
    case 'link.del':
      return `link del dev ${o.link.ifname}`;
    case 'addr.add':
      // IPv6 without DAD: usable at once, so verify and tests need not wait for `tentative` to clear.
      return `addr add ${o.addr.cidr} dev ${o.addr.dev}${o.addr.cidr.includes(':') ? ' nodad' : ''}`;
    case 'addr.del':
      return `addr del ${o.addr.cidr} dev ${o.addr.dev}`;
    case 'route.add':
      return `route add ${routeSpec(o.route)}`;
    case 'route.replace':
      return `route replace ${routeSpec(o.route)}`;
    case 'route.del':
      return `route del ${routeSpec(o.route)}`;
    case 'neigh.replace':
      return `neigh replace ${o.neigh.address} lladdr ${o.neigh.mac} dev ${o.neigh.dev} nud permanent`;
    case 'neigh.del':
      return `neigh del ${o.neigh.address} dev ${o.neigh.dev}`;
    case 'proxyneigh.add':
      return `neigh add proxy ${o.entry.address} dev ${o.entry.dev}`;
    case 'proxyneigh.del':
      return `neigh del proxy ${o.entry.address} dev ${o.entry.dev}`;
    case 'rule.add':
      return `rule add ${ruleSpec(o.rule)}`;
    case 'rule.del':
      return `rule del ${ruleSpec(o.rule)}`;
    case 'fdb.add':
      return o.fdb.dst ? `fdb append ${fdbSpec(o.fdb)}` : `fdb add ${fdbSpec(o.fdb)}`;
    case 'fdb.del':
      return `fdb del ${fdbSpec(o.fdb)}`;
    case 'vlan.add':
      return `vlan add dev ${o.vlan.dev} vid ${o.vlan.vid}${o.vlan.pvid ? ' pvid' : ''}${o.vlan.untagged ? ' untagged' : ''}`;
    case 'vlan.del':
      return `vlan del dev ${o.vlan.dev} vid ${o.vlan.vid}`;
    case 'qdisc.replace':
    case 'qdisc.change':
      return qdiscLine(o);
    case 'qdisc.del':
      return `qdisc del dev ${o.qdisc.dev} root`;
    default:
      return '';
  }
}

/** An operation as one line for people: the command that carries it out (`plan -v`, errors). */
export function operationText(o: Operation): string {
  const at = o.ns === '' ? '' : `-n ${o.ns} `;
  const tool = toolOf(o);
  switch (tool) {
    case 'ip':
    case 'bridge':
    case 'tc':
      return `${tool} ${at}${batchLine(o)}`;
    case 'ip6':
      return `ip ${at}-6 ${batchLine(o)}`;
    default:
      break;
  }
  switch (o.op) {
    case 'sysctl.set':
      return `sysctl${o.ns ? ` (netns ${o.ns})` : ''} ${o.key}=${o.value}`;
    case 'nft.replace':
    case 'nft.delete':
      return `nft -f - (netns ${o.ns || '(root)'}): ${o.script.split('\n').length} lines`;
    case 'handle.mount':
      return `mount --bind ${o.source} /run/netns/${o.ns}`;
    case 'handle.unmount':
      return `umount /run/netns/${o.ns}`;
    case 'proc': {
      const where = o.ns === '' ? '' : `ip netns exec ${o.ns} `;
      const p = o.proc;
      if (o.action === 'start') return `start ${p.host}/${p.name}: ${where}sh -c ${JSON.stringify(p.command)} (detached)`;
      if (o.action === 'exec') return `exec ${p.host}/${p.name}: ${where}sh -c ${JSON.stringify(p.command)}`;
      if (o.action === 'stop') return `stop ${p.host}/${p.name} (SIGTERM, then SIGKILL)`;
      return `${o.action} ${p.host}/${p.name} in the process record`;
    }
    default:
      return batchLine(o);
  }
}
