// Rules across labs applied together: labs share the machine, so names and namespaces they own
// must not collide, and labs meeting in one shared namespace must not bring clashing subnets.
import type { LabIssue } from '../errors.js';
import { networkOf, overlaps, parseCidr, type Cidr } from './addr.js';
import type { Interface, Lab, SourcePos } from './types.js';

function issueAt(lab: Lab, pos: SourcePos | undefined, message: string, path?: string): LabIssue {
  return { file: pos?.file ?? lab.file, line: pos?.line ?? 1, col: pos?.col ?? 1, path: path ?? pos?.path ?? '', message };
}

function describeNs(ns: string): string {
  return ns === '' ? 'the root namespace' : `namespace "${ns}"`;
}

export function checkAcrossLabs(labs: Lab[]): LabIssue[] {
  const issues: LabIssue[] = [];
  // Every rule here is about two different labs; one lab of 100k hosts need not be walked.
  if (labs.length < 2) return issues;
  checkLabNames(labs, issues);
  checkOwnedNamespaces(labs, issues);
  checkSharedNamespaces(labs, issues);
  return issues;
}

function checkLabNames(labs: Lab[], issues: LabIssue[]): void {
  const first = new Map<string, Lab>();
  for (const lab of labs) {
    const prev = first.get(lab.name);
    if (prev) issues.push(issueAt(lab, lab.pos, `lab name "${lab.name}" is also used by ${prev.file}: lab names must be unique`, 'name'));
    else first.set(lab.name, lab);
  }
}

/** Namespaces netlab creates or mounts a handle for (`<lab>-<host>`) belong to exactly one lab. */
function checkOwnedNamespaces(labs: Lab[], issues: LabIssue[]): void {
  const owner = new Map<string, { lab: Lab; host: string }>();
  for (const lab of labs) {
    for (const host of lab.hosts) {
      if (host.netns.kind === 'root' || host.netns.kind === 'named') continue;
      const prev = owner.get(host.ns);
      if (prev && prev.lab.name !== lab.name) {
        issues.push(
          issueAt(
            lab,
            host.pos,
            `namespace "${host.ns}" is also made by lab "${prev.lab.name}" (host "${prev.host}"): rename a lab or a host`,
          ),
        );
      } else if (!prev) owner.set(host.ns, { lab, host: host.name });
    }
  }
}

interface Member {
  lab: Lab;
  iface: Interface;
}

/** In a namespace several labs use, kernel names must differ and subnets must not overlap. */
function checkSharedNamespaces(labs: Lab[], issues: LabIssue[]): void {
  const byNs = new Map<string, Member[]>();
  for (const lab of labs) {
    for (const host of lab.hosts) {
      const list = byNs.get(host.ns) ?? [];
      for (const iface of host.interfaces) list.push({ lab, iface });
      byNs.set(host.ns, list);
    }
  }
  for (const [ns, members] of byNs) {
    if (new Set(members.map((m) => m.lab)).size < 2) continue;
    const names = new Map<string, Member>();
    const subnets: { m: Member; cidr: Cidr; text: string }[] = [];
    for (const m of members) {
      const prev = names.get(m.iface.ifname);
      if (prev && prev.lab !== m.lab) {
        issues.push(
          issueAt(
            m.lab,
            m.iface.pos,
            `interface "${m.iface.ifname}" in ${describeNs(ns)} is also made by lab "${prev.lab.name}" (${prev.iface.pos.path})`,
          ),
        );
      } else if (!prev) names.set(m.iface.ifname, m);
      for (const text of m.iface.addresses) {
        const cidr = parseCidr(text);
        if (!cidr) continue;
        const clash = subnets.find((s) => s.m.lab !== m.lab && overlaps(networkOf(s.cidr), networkOf(cidr)));
        if (clash) {
          issues.push(
            issueAt(
              m.lab,
              m.iface.pos,
              `subnet of ${text} overlaps ${clash.text} of lab "${clash.m.lab.name}" (${clash.m.iface.pos.path}) in ${describeNs(ns)}`,
              `${m.iface.pos.path}.addresses`,
            ),
          );
        }
        subnets.push({ m, cidr, text });
      }
    }
  }
}
