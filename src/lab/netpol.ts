// Kubernetes NetworkPolicy semantics over the lab's hosts. A host with `labels` or `namespace` is
// a pod; a policy selects pods of its namespace by podSelector, and a pod is isolated for ingress
// (egress) once a selecting policy has Ingress (Egress) in its policyTypes. What is allowed is the
// union of the selecting policies' rules. The result per pod (types.ts PodPolicy) is rendered in
// the pod's own namespace by src/model/netpol.ts.
import { cidrText, contains, hostCidr, networkText, parseCidr, parseIp, type Cidr } from './addr.js';
import type { HostEntry, LabContext } from './context.js';
import type { Path } from './locate.js';
import { collectPolicies, DEFAULT_NAMESPACE, type PolicySource } from './netpol-manifest.js';
import type { K8sProtocol, RawContainerPort, RawPeer, RawPolicyPort, RawSelector } from './raw.js';
import type { Host, PeerBlock, PodPolicy, PodPort, PodRule, ServiceEgress } from './types.js';

/** The label Kubernetes sets on every namespace (immutable, the namespace's name). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export function isPod(host: HostEntry): boolean {
  return host.raw.labels !== undefined || host.raw.namespace !== undefined;
}

export function podNamespace(host: HostEntry): string {
  return host.raw.namespace ?? DEFAULT_NAMESPACE;
}

/** Every namespace the lab knows (declared, or named by a pod or a policy) with its labels. */
function namespaceLabels(ctx: LabContext): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const add = (ns: string, labels: Record<string, string> = {}) =>
    out.set(ns, { ...(out.get(ns) ?? {}), ...labels, [NAMESPACE_NAME_LABEL]: ns });
  for (const [ns, v] of Object.entries(ctx.raw.namespaces ?? {})) add(ns, v.labels);
  for (const h of ctx.hosts.values()) if (isPod(h)) add(podNamespace(h));
  for (const e of Object.values(ctx.raw.pods_elsewhere ?? {})) add(e.namespace ?? DEFAULT_NAMESPACE);
  for (const p of ctx.policies) add(p.namespace);
  return out;
}

/** A Kubernetes label selector: all matchLabels and all matchExpressions hold. `{}` matches everything. */
export function selectorMatches(sel: RawSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

function policyTypes(p: PolicySource): Set<'Ingress' | 'Egress'> {
  if (p.spec.policyTypes) return new Set(p.spec.policyTypes);
  return new Set(p.spec.egress?.length ? ['Ingress', 'Egress'] : ['Ingress']);
}

const protoOf = (p: K8sProtocol | undefined) => (p ?? 'TCP').toLowerCase() as PodPort['proto'];

// ---------------------------------------------------------------------------------------------
// Rules

/** Reads the lab's policies (and manifests) into the context and checks every one of them. */
export function checkNetworkPolicies(ctx: LabContext): void {
  const { policies, inputs } = collectPolicies(ctx);
  ctx.policies = policies;
  ctx.inputs = inputs;
  const namedPorts = new Set<string>();
  for (const h of ctx.hosts.values()) {
    const seen = new Set<string>();
    for (const [i, p] of (h.raw.ports ?? []).entries()) {
      namedPorts.add(p.name);
      if (seen.has(p.name)) ctx.report([...h.path, 'ports', i, 'name'], `port name "${p.name}" is used twice in host ${h.name}`);
      seen.add(p.name);
    }
  }
  for (const [name, e] of Object.entries(ctx.raw.pods_elsewhere ?? {})) {
    if (ctx.hosts.has(name))
      ctx.report(['pods_elsewhere', name], `pods_elsewhere names host "${name}" of this lab: a pod is either here or elsewhere`, 'key');
    for (const p of e.ports ?? []) namedPorts.add(p.name);
  }
  const names = new Set<string>();
  for (const p of policies) {
    const report = (path: Path, message: string) => ctx.issues.push(p.locator.issue(path, message));
    const id = `${p.namespace}/${p.name}`;
    if (names.has(id)) report(p.namePath, `NetworkPolicy ${id} is defined twice: a name is unique in its namespace`);
    names.add(id);
    checkSelector(p.spec.podSelector, [...p.specPath, 'podSelector'], report);
    const rules = [
      ...(p.spec.ingress ?? []).map((r, i) => ({
        peers: r.from,
        ports: r.ports,
        path: [...p.specPath, 'ingress', i] as Path,
        key: 'from',
      })),
      ...(p.spec.egress ?? []).map((r, i) => ({ peers: r.to, ports: r.ports, path: [...p.specPath, 'egress', i] as Path, key: 'to' })),
    ];
    for (const r of rules) {
      for (const [j, peer] of (r.peers ?? []).entries()) checkPeer(peer, [...r.path, r.key, j], report);
      for (const [j, port] of (r.ports ?? []).entries()) checkPort(port, [...r.path, 'ports', j], namedPorts, report);
    }
  }
}

type Report = (path: Path, message: string) => void;

function checkSelector(sel: RawSelector | undefined, path: Path, report: Report): void {
  for (const [i, e] of (sel?.matchExpressions ?? []).entries()) {
    const at: Path = [...path, 'matchExpressions', i];
    const n = e.values?.length ?? 0;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) report(at, `operator ${e.operator} needs at least one value in values`);
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0)
      report([...at, 'values'], `operator ${e.operator} takes no values: drop values`);
  }
}

function checkPeer(peer: RawPeer, path: Path, report: Report): void {
  checkSelector(peer.podSelector, [...path, 'podSelector'], report);
  checkSelector(peer.namespaceSelector, [...path, 'namespaceSelector'], report);
  const block = peer.ipBlock;
  if (!block) return;
  if (peer.podSelector || peer.namespaceSelector)
    report(path, 'ipBlock cannot be combined with podSelector or namespaceSelector in one peer: write them as two peers');
  const cidr = parseCidr(block.cidr);
  if (!cidr || !block.cidr.includes('/')) {
    report([...path, 'ipBlock', 'cidr'], `"${block.cidr}" is not a CIDR (an address with a prefix length, e.g. 10.0.0.0/16)`);
    return;
  }
  for (const [i, ex] of (block.except ?? []).entries()) {
    const e = parseCidr(ex);
    const at: Path = [...path, 'ipBlock', 'except', i];
    if (!e || !ex.includes('/')) report(at, `"${ex}" is not a CIDR (an address with a prefix length, e.g. 10.0.1.0/24)`);
    else if (e.family !== cidr.family || e.prefix <= cidr.prefix || !contains(cidr, e.ip))
      report(at, `except ${ex} is not inside the block's cidr ${block.cidr}: an except must be a strict part of the cidr`);
  }
}

function checkPort(port: RawPolicyPort, path: Path, named: Set<string>, report: Report): void {
  if (typeof port.port === 'string') {
    if (!named.has(port.port))
      report(
        [...path, 'port'],
        `named port "${port.port}" is not a port name of any host: add it to a host's ports ({ name: ${port.port}, port: N }) or write the number`,
      );
    if (port.endPort !== undefined) report([...path, 'endPort'], 'endPort needs a numeric port, not a named one');
    return;
  }
  if (port.endPort === undefined) return;
  if (port.port === undefined) report([...path, 'endPort'], 'endPort needs port: the first port of the range');
  else if (port.endPort < port.port) report([...path, 'endPort'], `endPort ${port.endPort} is below port ${port.port}`);
}

// ---------------------------------------------------------------------------------------------
// Normalisation

interface Pod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  addresses: Cidr[];
  ports: RawContainerPort[];
  /** A pod on another machine of a lab across machines: a peer of this slice's rules, with no rules of its own here. */
  elsewhere: boolean;
}

/**
 * The lab's pods in name order (the slices of a lab across machines list theirs in another order
 * than the whole lab, and the rules must come out the same).
 */
function labPods(ctx: LabContext): Pod[] {
  const here: Pod[] = [...ctx.hosts.values()].filter(isPod).map((entry) => ({
    name: entry.name,
    namespace: podNamespace(entry),
    labels: entry.raw.labels ?? {},
    addresses: [...ctx.addressesOf(entry)].map((a) => hostCidr(parseCidr(a.text)!.ip)),
    ports: entry.raw.ports ?? [],
    elsewhere: false,
  }));
  const elsewhere: Pod[] = Object.entries(ctx.raw.pods_elsewhere ?? {}).map(([name, e]) => ({
    name,
    namespace: e.namespace ?? DEFAULT_NAMESPACE,
    labels: e.labels ?? {},
    addresses: e.addresses.map((a) => hostCidr(parseIp(a)!)),
    ports: e.ports ?? [],
    elsewhere: true,
  }));
  return [...here, ...elsewhere].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Each pod's PodPolicy, by host name (pods no policy selects are left out), and the egress of
 * egress-isolated pods for the hosts that DNAT services to check after the DNAT.
 */
export function normaliseNetworkPolicies(ctx: LabContext, hosts: Host[]): { pods: Map<string, PodPolicy>; serviceEgress: ServiceEgress[] } {
  const out = new Map<string, PodPolicy>();
  const serviceEgress: ServiceEgress[] = [];
  if (!ctx.policies.length) return { pods: out, serviceEgress };
  const nsLabels = namespaceLabels(ctx);
  const pods = labPods(ctx);
  const services = serviceTargets(hosts, ctx.raw.services_elsewhere ?? []);
  for (const pod of pods) {
    const selecting = ctx.policies.filter((p) => p.namespace === pod.namespace && selectorMatches(p.spec.podSelector, pod.labels));
    if (!selecting.length) continue;
    let ingress: PodRule[] | null = null;
    let egress: PodRule[] | null = null;
    for (const p of selecting) {
      const types = policyTypes(p);
      const id = `${p.namespace}/${p.name}`;
      if (types.has('Ingress')) {
        ingress ??= [];
        for (const r of p.spec.ingress ?? []) {
          const peers = resolvePeers(p, r.from, pods, nsLabels);
          const ports = ingressPorts(r.ports, pod);
          if (peers?.length !== 0 && ports?.length !== 0) ingress.push({ peers, ports, policy: id });
        }
      }
      if (types.has('Egress')) {
        egress ??= [];
        for (const r of p.spec.egress ?? []) egress.push(...egressRules(id, resolvePeers(p, r.to, pods, nsLabels), r.ports, pods));
      }
    }
    if (!pod.elsewhere) out.set(pod.name, { ingress, egress: egress && [...egress, ...toServices(services)] });
    if (egress && services.length) serviceEgress.push({ sources: pod.addresses.map(cidrText), rules: egress });
  }
  return { pods: out, serviceEgress };
}

/** A rule's peers as address blocks; null = any (no peers written); [] = none matches. */
function resolvePeers(
  p: PolicySource,
  peers: RawPeer[] | undefined,
  pods: Pod[],
  ns: Map<string, Record<string, string>>,
): PeerBlock[] | null {
  if (!peers?.length) return null;
  const out: PeerBlock[] = [];
  const seen = new Set<string>();
  const add = (c: Cidr) => {
    const t = cidrText(c);
    if (!seen.has(t)) out.push({ cidr: t, except: [] });
    seen.add(t);
  };
  for (const peer of peers) {
    if (peer.ipBlock) {
      out.push({
        cidr: networkText(parseCidr(peer.ipBlock.cidr)!),
        except: (peer.ipBlock.except ?? []).map((e) => networkText(parseCidr(e)!)),
      });
      continue;
    }
    for (const pod of pods) {
      const inNs = peer.namespaceSelector
        ? selectorMatches(peer.namespaceSelector, ns.get(pod.namespace) ?? {})
        : pod.namespace === p.namespace;
      if (inNs && (!peer.podSelector || selectorMatches(peer.podSelector, pod.labels))) pod.addresses.forEach(add);
    }
  }
  return out;
}

function numericPort(proto: PodPort['proto'], port: number | undefined, end: number | undefined): PodPort {
  return { proto, port: port === undefined ? null : { from: port, to: end ?? port } };
}

/** Ingress ports: a named port is the selected pod's own container port of that name. */
function ingressPorts(ports: RawPolicyPort[] | undefined, pod: Pod): PodPort[] | null {
  if (!ports?.length) return null;
  const out: PodPort[] = [];
  for (const p of ports) {
    const proto = protoOf(p.protocol);
    if (typeof p.port !== 'string') out.push(numericPort(proto, p.port, p.endPort));
    else {
      const n = namedPort(pod, p.port, proto);
      if (n !== null) out.push(numericPort(proto, n, undefined));
    }
  }
  return out;
}

function namedPort(pod: Pod, name: string, proto: PodPort['proto']): number | null {
  return pod.ports.find((c) => c.name === name && protoOf(c.protocol) === proto)?.port ?? null;
}

function inBlocks(blocks: PeerBlock[], a: Cidr): boolean {
  return blocks.some(
    (b) =>
      contains(parseCidr(b.cidr)!, a.ip) && !b.except.some((e) => contains(parseCidr(e)!, a.ip)) && parseCidr(b.cidr)!.family === a.family,
  );
}

/**
 * Egress rules: a named port is the destination pod's port of that name, so a rule with named
 * ports becomes one rule per destination port number, its peers the pods with that port.
 */
function egressRules(policy: string, peers: PeerBlock[] | null, ports: RawPolicyPort[] | undefined, pods: Pod[]): PodRule[] {
  if (peers?.length === 0) return [];
  if (!ports?.length) return [{ peers, ports: null, policy }];
  const out: PodRule[] = [];
  const numeric = ports.filter((p) => typeof p.port !== 'string').map((p) => numericPort(protoOf(p.protocol), p.port as number, p.endPort));
  if (numeric.length) out.push({ peers, ports: numeric, policy });
  for (const p of ports) {
    if (typeof p.port !== 'string') continue;
    const proto = protoOf(p.protocol);
    const byPort = new Map<number, PeerBlock[]>();
    for (const pod of pods) {
      const n = namedPort(pod, p.port, proto);
      if (n === null) continue;
      for (const a of pod.addresses) {
        if (peers !== null && !inBlocks(peers, a)) continue;
        if (!byPort.has(n)) byPort.set(n, []);
        byPort.get(n)!.push({ cidr: cidrText(a), except: [] });
      }
    }
    for (const [n, blocks] of byPort) out.push({ peers: blocks, ports: [numericPort(proto, n, undefined)], policy });
  }
  return out;
}

interface ServiceTarget {
  vip: string;
  proto: 'tcp' | 'udp';
  port: number;
}

/** The lab's service VIPs, with those a slice lists on other machines, in one order wherever computed. */
function serviceTargets(hosts: Host[], elsewhere: ServiceTarget[]): ServiceTarget[] {
  const out = new Map<string, ServiceTarget>();
  const add = ({ vip, proto, port }: ServiceTarget) => out.set(`${vip}/${proto}/${port}`, { vip, proto, port });
  for (const h of hosts) for (const s of h.policy?.services ?? []) add(s);
  for (const s of elsewhere) add({ ...s, vip: parseIp(s.vip)!.toString() });
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
}

/**
 * A cluster checks a pod's egress after the service DNAT, against the backend. The pod's own
 * chain sees the VIP before the node DNATs it, so it lets the VIP and port through and the
 * node's chain (ServiceEgress) applies the pod's egress rules to the DNATed packet.
 */
function toServices(services: ServiceTarget[]): PodRule[] {
  return services.map((s) => ({
    peers: [{ cidr: cidrText(hostCidr(parseIp(s.vip)!)), except: [] }],
    ports: [numericPort(s.proto, s.port, undefined)],
    policy: `service ${s.vip}:${s.port}/${s.proto}`,
  }));
}
