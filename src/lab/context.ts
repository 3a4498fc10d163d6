// The lab as the semantic rules and normalisation see it: every host with every interface it
// will have (declared ones, veth ends created by links, bridge ports created for links that name
// a bridge), plus an issue sink that knows positions. Building it checks the link rules.
import type { LabIssue } from '../errors.js';
import type { InputFile, PolicySource } from './netpol-manifest.js';
import { formatPath, type Locator, type Part, type Path } from './locate.js';
import { ownerAltname, sharedIfname } from './names.js';
import { assignPortNames, type PortIdentity } from './ports.js';
import type { RawHost, RawInterface, RawLab } from './raw.js';
import { SmallMap } from './small-map.js';
import { closest, didYouMean } from './suggest.js';
import type { InterfaceKind } from './types.js';
import { InternalError } from '../errors.js';

export interface LinkEnd {
  /** Index in `links`; -1 for a link written as an interface's `link` key. */
  index: number;
  /** Where the link is written (see linkLabel). */
  source: LinkSource;
  end: 'a' | 'b';
  /** The far end, by host and interface name (see LabContext.peer); flat, as a big lab has 200k ends. */
  peerHost: string;
  peerName: string;
  mtu: number | undefined;
}

export interface IfaceEntry {
  host: string;
  /** The name as written, or the generated bridge-port name. */
  name: string;
  kind: InterfaceKind;
  /** What the user wrote; `{}` for an interface only a link creates. */
  raw: RawInterface;
  declared: boolean;
  /** Where it is defined: `hosts.H.interfaces.N`, or the link end that creates it. */
  path: Path;
  link: LinkEnd | null;
  /** For a bridge port made by a link naming a bridge: that bridge's name. */
  portOf: string | null;
  /** Its index in LabContext.interfaces (file order). */
  seq: number;
}

export interface HostEntry {
  name: string;
  raw: RawHost;
  path: Path;
  /** Root or attached namespace: kernel names are derived, the written name becomes an altname. */
  shared: boolean;
  /** Declared interfaces first, in file order, then those links create. */
  ifaces: Map<string, IfaceEntry>;
}

/** A host entry whose path is made when asked for (messages, positions): a big lab has 100k hosts. */
class HostRecord implements HostEntry {
  constructor(
    public name: string,
    public raw: RawHost,
    public shared: boolean,
    public ifaces: Map<string, IfaceEntry>,
  ) {}

  get path(): Path {
    return ['hosts', this.name];
  }
}

/** An interface entry whose path is made when asked for, from its host and name or the link that creates it. */
class IfaceRecord implements IfaceEntry {
  constructor(
    public host: string,
    public name: string,
    public kind: InterfaceKind,
    public raw: RawInterface,
    public declared: boolean,
    public link: LinkEnd | null,
    public portOf: string | null,
    public seq = -1,
  ) {}

  get path(): Path {
    return this.declared || this.link === null ? ['hosts', this.host, 'interfaces', this.name] : linkPath(this.link.source, this.link.end);
  }
}

export class LabContext {
  readonly hosts = new Map<string, HostEntry>();
  /** Every interface in file order (hosts, then their interfaces), once the links are added. */
  readonly interfaces: IfaceEntry[] = [];
  readonly issues: LabIssue[] = [];
  /**
   * `HOST:IF` that a link end reported as wrong was most likely meant for (`wbe:eth0` for
   * web:eth0): what only follows from that mistake (eth0 unlinked, `dev: eth0` unknown) is not
   * reported again.
   */
  readonly meantFor = new Set<string>();
  /** NetworkPolicies of the lab and the manifest files they came from (see netpol-manifest.ts). */
  policies: PolicySource[] = [];
  inputs: InputFile[] = [];
  /** Issues that may only follow from another one (see report): listed after the others. */
  private readonly knockOns = new WeakSet<LabIssue>();

  constructor(
    readonly raw: RawLab,
    readonly locator: Locator,
  ) {}

  get name(): string {
    return this.raw.name;
  }

  /** Reports an issue; a knock-on is one that may only follow from an issue reported elsewhere. */
  report(path: Path, message: string, part: Part = 'value', knockOn = false): void {
    const issue = this.locator.issue(path, message, part);
    this.issues.push(issue);
    if (knockOn) this.knockOns.add(issue);
  }

  /** The issues with causes first, then knock-ons, each in file order. */
  orderedIssues(): LabIssue[] {
    const byPosition = (a: LabIssue, b: LabIssue) => a.line - b.line || a.col - b.col;
    const causes = this.issues.filter((i) => !this.knockOns.has(i)).sort(byPosition);
    return [...causes, ...this.issues.filter((i) => this.knockOns.has(i)).sort(byPosition)];
  }

  /** The other end of an interface's link, if it has one. */
  peer(entry: IfaceEntry): IfaceEntry | undefined {
    return entry.link ? this.hosts.get(entry.link.peerHost)?.ifaces.get(entry.link.peerName) : undefined;
  }

  /** Kernel name of an interface: as written in lab namespaces, derived in shared ones. `owner`: its host, when at hand. */
  kernelName(entry: IfaceEntry, owner = this.hosts.get(entry.host)): string {
    return owner?.shared ? sharedIfname(this.name, entry.host, entry.name) : entry.name;
  }

  altname(entry: IfaceEntry, owner = this.hosts.get(entry.host)): string | null {
    return owner?.shared ? ownerAltname(this.name, entry.host, entry.name) : null;
  }

  /** Where an entry was written, e.g. `hosts.web.interfaces.eth0` or `links[1].b`. */
  where(entry: IfaceEntry): string {
    return formatPath(entry.path);
  }

  /** Looks up a host, reporting `host "x" is not defined (did you mean ...)` at `path`. */
  host(name: string, path: Path): HostEntry | null {
    const h = this.hosts.get(name);
    if (!h) this.report(path, `host "${name}" is not defined${didYouMean(name, this.hosts.keys())}`);
    return h ?? null;
  }

  /** Looks up an interface of a host, reporting an unknown name at `path`. */
  iface(host: HostEntry, name: string, path: Path): IfaceEntry | null {
    const e = host.ifaces.get(name);
    if (!e && !this.meantFor.has(`${host.name}:${name}`)) {
      const declared = [...host.ifaces.values()].filter((i) => i.portOf === null).map((i) => i.name);
      this.report(path, `interface "${name}" is not defined in host "${host.name}"${didYouMean(name, declared)}`);
    }
    return e ?? null;
  }

  /** Resolves `IF` (in `host`) or `HOST:IF`. */
  ifaceRef(host: HostEntry, ref: string, path: Path): IfaceEntry | null {
    const colon = ref.indexOf(':');
    if (colon < 0) return this.iface(host, ref, path);
    const other = this.host(ref.slice(0, colon), path);
    return other ? this.iface(other, ref.slice(colon + 1), path) : null;
  }

  /** Resolves an `IF` or `HOST:IF` the rules already checked; a miss is a bug, so it throws. */
  resolved(host: HostEntry, ref: string): IfaceEntry {
    const colon = ref.indexOf(':');
    const owner = colon < 0 ? host : this.hosts.get(ref.slice(0, colon));
    const entry = owner?.ifaces.get(colon < 0 ? ref : ref.slice(colon + 1));
    if (!entry) throw new InternalError(`unresolved reference ${ref} in host ${host.name}`);
    return entry;
  }

  /** Kernel name of an interface a host refers to (`dev`, `out`, `in`, `bridge`, `parent`). */
  kernelNameOf(host: HostEntry, ref: string): string {
    return this.kernelName(this.resolved(host, ref));
  }

  /** The addresses written on a host's interfaces, in file order. */
  *addressesOf(host: HostEntry): Generator<{ entry: IfaceEntry; index: number; text: string }> {
    for (const entry of host.ifaces.values()) {
      for (const [index, text] of (entry.raw.addresses ?? []).entries()) yield { entry, index, text };
    }
  }
}

/** Builds the context: hosts, declared interfaces, then what each link creates. */
export function buildContext(raw: RawLab, locator: Locator): LabContext {
  const ctx = new LabContext(raw, locator);
  // By name, not Object.entries: a pair per host, all kept until the loop ends, for 100k hosts.
  for (const name of Object.keys(raw.hosts)) {
    const rawHost = raw.hosts[name]!;
    const host: HostEntry = new HostRecord(name, rawHost, rawHost.netns !== undefined, new SmallMap());
    const declared = rawHost.interfaces ?? {};
    for (const ifName of Object.keys(declared)) {
      const rawIf = declared[ifName]!;
      host.ifaces.set(ifName, new IfaceRecord(name, ifName, rawIf.kind ?? 'veth', rawIf, true, null, null));
    }
    ctx.hosts.set(name, host);
  }
  const specs: LinkSpec[] = (raw.links ?? []).map((link, index) => ({
    src: { index, iface: null, key: null },
    a: link.a,
    b: link.b,
    mtu: link.mtu,
  }));
  // `link: HOST:IF` on an interface is a link from that interface (a template's way to link each host).
  const written: string[] = [];
  for (const host of ctx.hosts.values())
    for (const e of host.ifaces.values()) {
      const to = e.raw.link;
      if (to === undefined) continue;
      const self = `${host.name}:${e.name}`;
      written.push(self, to);
      specs.push({ src: { index: -1, iface: e.path, key: [...e.path, 'link'] }, a: self, b: to, mtu: undefined });
    }
  // Port names depend on every port of the host, so they are settled before any link is added.
  const portNames = portNamesOf(ctx, specs);
  // An end of a link that failed was still meant for that interface: do not also call it unlinked.
  const mentioned = new Set<string>(written);
  for (const l of raw.links ?? []) mentioned.add(l.a).add(l.b);
  const unlinked = unlinkedOf(ctx, mentioned);
  const before = ctx.issues.length;
  for (const [i, l] of specs.entries()) addLink(ctx, l, portNames[2 * i], portNames[2 * i + 1], unlinked);
  // Some link was wrong: an interface no link names may be the one it was meant for.
  const linkFailed = ctx.issues.length > before;
  for (const host of ctx.hosts.values()) {
    for (const e of host.ifaces.values()) {
      if (e.kind !== 'veth' || e.link !== null) continue;
      const key = `${host.name}:${e.name}`;
      if (!mentioned.has(key) && !ctx.meantFor.has(key)) {
        ctx.report(
          e.path,
          `interface "${e.name}" has no kind and no link creates it: add a link (e.g. { a: ${host.name}:${e.name}, b: OTHER:IF }) or set kind`,
          'key',
          linkFailed,
        );
      }
    }
  }
  for (const host of ctx.hosts.values()) for (const e of host.ifaces.values()) e.seq = ctx.interfaces.push(e) - 1;
  return ctx;
}

/** Per host, the declared veth ends (no kind) that no link names: a link naming another interface of that host probably meant one. */
function unlinkedOf(ctx: LabContext, mentioned: Set<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const host of ctx.hosts.values())
    for (const e of host.ifaces.values()) {
      if (e.kind !== 'veth' || e.raw.link !== undefined || mentioned.has(`${host.name}:${e.name}`)) continue;
      const names = out.get(host.name);
      if (names) names.push(e.name);
      else out.set(host.name, [e.name]);
    }
  return out;
}

interface EndRef {
  end: 'a' | 'b';
  host: HostEntry;
  written: string;
  /** The declared interface the end names, if any. */
  target: IfaceEntry | undefined;
}

/**
 * Where a link is written: a `links` entry (`key` null), or an interface's `link` key (`key`,
 * with `iface` the interface's own path). Paths and labels are made only for messages: a big
 * lab has 100k links.
 */
export interface LinkSource {
  index: number;
  iface: Path | null;
  key: Path | null;
}

/** Where an end of a link is written: `links[2].a`, or the interface (end a) and its `link` key (end b). */
function linkPath(src: LinkSource, end: 'a' | 'b'): Path {
  if (src.key === null) return ['links', src.index, end];
  return end === 'a' ? src.iface! : src.key;
}

/** Where a link is written, for messages: `links[2]` or `hosts.web.interfaces.eth0.link`. */
export function linkLabel(src: LinkSource): string {
  return src.key === null ? `links[${src.index}]` : formatPath(src.key);
}

function parseEnd(ctx: LabContext, src: LinkSource, end: 'a' | 'b', text: string): EndRef | null {
  const colon = text.indexOf(':');
  const written = text.slice(colon + 1);
  const host = ctx.host(text.slice(0, colon), linkPath(src, end));
  if (!host) {
    const meant = closest(text.slice(0, colon), ctx.hosts.keys());
    if (meant !== null) ctx.meantFor.add(`${meant}:${written}`);
    return null;
  }
  return { end, host, written, target: host.ifaces.get(written) };
}

interface LinkSpec {
  src: LinkSource;
  a: string;
  b: string;
  mtu: number | undefined;
}

function portOf(self: EndRef, other: EndRef): PortIdentity {
  return { host: self.host.name, bridge: self.written, peerHost: other.host.name, peerIf: other.written };
}

/**
 * The name of every bridge port the links create, for end a of specs[i] at 2i and end b at 2i+1
 * (undefined for an end that is no port); the names the lab writes for each host are never taken.
 */
function portNamesOf(ctx: LabContext, specs: LinkSpec[]): (string | undefined)[] {
  // Names written for a host matter only in hosts that get ports: a big lab has one hub among 100k hosts.
  const reserved = new Map<string, Set<string>>();
  const written: [string, string][] = [];
  const ports: PortIdentity[] = [];
  const portEnds: number[] = [];
  // Only looks: addLink reports what is wrong with an end.
  const end = (text: string): EndRef | null => {
    const colon = text.indexOf(':');
    const host = ctx.hosts.get(text.slice(0, colon));
    const written = text.slice(colon + 1);
    return host ? { end: 'a', host, written, target: host.ifaces.get(written) } : null;
  };
  for (const [i, l] of specs.entries()) {
    const a = end(l.a);
    const b = end(l.b);
    for (const [self, other, at] of [
      [a, b, 2 * i],
      [b, a, 2 * i + 1],
    ] as const) {
      if (!self) continue;
      if (self.target?.kind !== 'bridge') written.push([self.host.name, self.written]);
      else if (other) {
        ports.push(portOf(self, other));
        portEnds.push(at);
      }
    }
  }
  for (const p of ports) if (!reserved.has(p.host)) reserved.set(p.host, new Set(ctx.hosts.get(p.host)!.ifaces.keys()));
  for (const [host, name] of written) reserved.get(host)?.add(name);
  const names = assignPortNames(ctx.name, ports, reserved);
  const out = new Array<string | undefined>(2 * specs.length);
  for (const [k, end] of portEnds.entries()) out[end] = names[k];
  return out;
}

/** The interface name this end gets: the written one, or its bridge port's. */
function endName(self: EndRef, other: EndRef, port: string | undefined): string {
  if (self.target?.kind !== 'bridge') return self.written;
  if (port === undefined)
    throw new InternalError(`no port name for ${self.host.name}:${self.written} to ${other.host.name}:${other.written}`);
  return port;
}

/** Adds a link, given the names of its bridge ports (see portNamesOf). */
function addLink(
  ctx: LabContext,
  spec: LinkSpec,
  portA: string | undefined,
  portB: string | undefined,
  unlinked: Map<string, string[]>,
): void {
  const { src, a: aText, b: bText, mtu } = spec;
  const a = parseEnd(ctx, src, 'a', aText);
  const b = parseEnd(ctx, src, 'b', bText);
  if (!a || !b) return;
  if (!checkUndeclared(ctx, src, a, unlinked) || !checkUndeclared(ctx, src, b, unlinked)) return;
  if (a.host === b.host && a.written === b.written) {
    ctx.report(linkPath(src, 'b'), `both ends are ${aText}: a link joins two different interfaces`);
    return;
  }
  const names = { a: endName(a, b, portA), b: endName(b, a, portB) };
  const ok = [checkEnd(ctx, src, a, b, names.a), checkEnd(ctx, src, b, a, names.b)];
  if (!ok[0] || !ok[1]) return;
  for (const [self, other] of [
    [a, b],
    [b, a],
  ] as const) {
    const name = names[self.end];
    const link: LinkEnd = { index: src.index, source: src, end: self.end, peerHost: other.host.name, peerName: names[other.end], mtu };
    const existing = self.host.ifaces.get(name);
    if (existing) existing.link = link;
    else {
      // Its path is that of the link end (see IfaceRecord).
      const portOf = self.target?.kind === 'bridge' ? self.written : null;
      self.host.ifaces.set(name, new IfaceRecord(self.host.name, name, 'veth', {}, false, link, portOf));
    }
  }
}

/**
 * A link end may create an interface its host does not declare, but not while the host declares
 * one that no link names: `internet:eth1` next to a declared, unlinked eth0 is a typo for eth0.
 */
function checkUndeclared(ctx: LabContext, src: LinkSource, ref: EndRef, unlinked: Map<string, string[]>): boolean {
  if (ref.target !== undefined) return true;
  const candidates = unlinked.get(ref.host.name) ?? [];
  const meant = closest(ref.written, candidates) ?? (candidates.length === 1 ? candidates[0]! : null);
  if (meant === null) return true;
  ctx.meantFor.add(`${ref.host.name}:${meant}`);
  ctx.report(
    linkPath(src, ref.end),
    `interface "${ref.written}" is not declared in host "${ref.host.name}", which declares "${meant}" and links it nowhere (did you mean "${meant}"?)`,
  );
  return false;
}

/** An end may create a veth end or a bridge port, or complete a declared veth end; nothing else. */
function checkEnd(ctx: LabContext, src: LinkSource, ref: EndRef, other: EndRef, name: string): boolean {
  const path: Path = linkPath(src, ref.end);
  const where = `${ref.host.name}:${ref.written}`;
  const peerText = `${other.host.name}:${other.written}`;
  const existing = ref.host.ifaces.get(name);
  if (ref.target?.kind === 'bridge') {
    if (!existing) return true;
    // Port names are unique per identity (ports.ts): the same name is the same bridge and far end.
    ctx.report(
      path,
      `${linkLabel(src)} and ${existing.link ? linkLabel(existing.link.source) : ctx.where(existing)} both join bridge ${where} to ${peerText}: two links join the same bridge and interface; remove one of them`,
    );
    return false;
  }
  if (!existing) return true;
  if (existing.kind !== 'veth') {
    ctx.report(
      path,
      `${where} is a ${existing.kind} (${ctx.where(existing)}), but a link makes a veth end: duplicate interface name "${name}" in host "${ref.host.name}"`,
    );
    return false;
  }
  if (existing.link) {
    ctx.report(path, `interface ${where} is already used by ${linkLabel(existing.link.source)}: an interface can be in one link only`);
    return false;
  }
  return true;
}
