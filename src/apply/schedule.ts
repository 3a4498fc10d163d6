// The execution schedule of a plan: which commands run together.
//
// A plan's commands fall into levels: deletions by phase (deepest first), then creations and
// changes by phase (lowest first). Running level after level costs one process per namespace per
// level (for a star of N hosts, a few processes per host). Instead, creation levels are packed into
// rounds: a namespace's consecutive levels that use the same batch tool (ip, bridge, tc, sysctl)
// run in one batch, in level order, and a command waits for an earlier level's command of another
// namespace only when the two touch a common namespace (its own, or one its effect reaches, such
// as the far end of a veth it creates or the namespace a netns line adds). So the kernel sees,
// per namespace, the same commands in the same order as level by level, and every command that
// could depend on another namespace's earlier command still runs after it. A star becomes five
// rounds: the root batch of `netns add`, the sysctls, the hub's bridge, one batch per host (veth,
// up, address, route), then the hub's batch (ports, address).
//
// Deletion levels keep one round each: deleting a link or a namespace reaches namespaces the
// command does not name (the kernel takes the veth peer along, and tears a namespace down
// asynchronously), so nothing else is packed around them.
import { effectOf, type Operation } from '../model/operations.js';
import { toolOf } from '../driver/render.js';
import type { Step } from '../plan/plan.js';
import { appendAll } from '../append.js';

/** Batches whose consecutive commands in one namespace can share one process. */
const MERGEABLE = new Set<string>(['ip', 'ip6', 'bridge', 'tc', 'sysctl']);

/** The process a command runs in, per namespace: its tool, `ip6` for `ip -6` lines (a batch of their own). */
function batchKind(c: Operation): string {
  return toolOf(c);
}

/** The level of a command: the order executePlan has always used. */
function levelKey(op: Step['op'], phase: number): string {
  return op === 'delete' ? `0:${String(100 - phase).padStart(3, '0')}` : `1:${String(phase).padStart(3, '0')}`;
}

/** The namespace an object id belongs to: `kind:ns/...` or `netns:NAME`. */
function nsOfId(id: string): string {
  const colon = id.indexOf(':');
  const rest = id.slice(colon + 1);
  if (id.startsWith('netns:')) return rest;
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(0, slash);
}

/** Namespaces a command acts in or reaches: its own and those of the objects its effect sets or removes. */
export function touchedNamespaces(c: Operation): Set<string> {
  const out = new Set<string>([c.ns]);
  const effect = effectOf(c);
  for (const o of effect.set ?? []) out.add(o.ns);
  for (const id of effect.remove ?? []) out.add(nsOfId(id));
  if (effect.removeNamespace !== undefined) out.add(effect.removeNamespace);
  if (effect.patch) out.add(effect.patch.ns);
  return out;
}

interface Cell {
  /** See batchKind. */
  tool: string;
  ns: string;
  commands: Operation[];
  touched: Set<string>;
  round: number;
}

/** The latest rounds of earlier cells touching a namespace, for the two namespaces with the latest (enough to exclude one). */
interface Touch {
  owner1: string | null;
  round1: number;
  owner2: string | null;
  round2: number;
}

/**
 * The plan's commands in rounds: each round's commands may run concurrently across namespaces
 * (in order within one), and a round starts when the previous one has finished.
 */
export function scheduleRounds(steps: Step[]): Operation[][] {
  const levels = new Map<string, Operation[]>();
  for (const s of steps)
    for (const c of s.commands) {
      const key = levelKey(s.op, c.phase);
      const list = levels.get(key);
      if (list) list.push(c);
      else levels.set(key, [c]);
    }
  const ordered = [...levels.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

  const rounds: Operation[][] = [];
  const put = (round: number, commands: Operation[]) => {
    while (rounds.length <= round) rounds.push([]);
    appendAll(rounds[round]!, commands);
  };
  /** The last cell of each namespace's process chain. */
  const lastCell = new Map<string, Cell>();
  /** Per touched namespace, the latest rounds of cells touching it. */
  const touches = new Map<string, Touch>();
  let next = 0;

  for (const [key, commands] of ordered) {
    if (key.startsWith('0:')) {
      // A deletion level: its own round, after everything before it.
      put(next, commands);
      next++;
      continue;
    }
    if (commands.every((c) => c.op === 'proc')) {
      // Processes (exec, run) start once the whole network is up, not just their own namespace's:
      // a round of their own after every round so far, and nothing later packs in before them.
      const round = rounds.length;
      put(round, commands);
      next = round + 1;
      continue;
    }
    // Cells of this level, one per tool and namespace, in first-command order.
    const cells = new Map<string, Cell>();
    for (const c of commands) {
      const kind = batchKind(c);
      const owner = `${kind}:${c.ns}`;
      let cell = cells.get(owner);
      if (!cell) cells.set(owner, (cell = { tool: kind, ns: c.ns, commands: [], touched: new Set(), round: 0 }));
      cell.commands.push(c);
      for (const ns of touchedNamespaces(c)) cell.touched.add(ns);
    }
    // nft and handle commands each run as a process of their own: one cell per command.
    const split: Cell[] = [];
    for (const cell of cells.values()) {
      if (MERGEABLE.has(cell.tool)) split.push(cell);
      else for (const c of cell.commands) split.push({ ...cell, commands: [c], touched: touchedNamespaces(c) });
    }
    for (const cell of split) {
      let round = next;
      // After this namespace's previous cell: in the same batch when the tool is the same and
      // mergeable, else in a later round (different tools run as different processes).
      const prev = lastCell.get(cell.ns);
      if (prev) round = Math.max(round, prev.tool === cell.tool && MERGEABLE.has(cell.tool) ? prev.round : prev.round + 1);
      // After every earlier cell of another namespace that touches a namespace this one touches
      // (this namespace's own earlier cells are ordered by the chain above).
      for (const ns of cell.touched) {
        const t = touches.get(ns);
        if (!t) continue;
        const other = t.owner1 !== cell.ns ? t.round1 : t.round2;
        if (other >= 0) round = Math.max(round, other + 1);
      }
      cell.round = round;
    }
    // Within a level, a namespace's own batch comes before the batches of other namespaces that
    // put devices in it (a hub's bridge before the veth ends its hosts put there; a Docker host's
    // bridge and uplink before a container's veth end): in a new namespace the first device gets
    // ifindex 2, and a veth end whose ifindex equals its peer's (both 2) has its carrier event
    // held back by linkwatch for up to a second. Two namespaces that put devices in each other
    // keep their order; chains are followed to the end.
    for (let changed = true, pass = 0; changed && pass < split.length; pass++) {
      changed = false;
      const own = new Map<string, Cell>();
      for (const cell of split) if ((own.get(cell.ns)?.round ?? -1) < cell.round) own.set(cell.ns, cell);
      for (const cell of split)
        for (const ns of cell.touched) {
          const first = ns === cell.ns ? undefined : own.get(ns);
          if (!first || first.touched.has(cell.ns) || first.round < cell.round) continue;
          cell.round = first.round + 1;
          changed = true;
        }
    }
    // Record this level's cells only now: cells of one level never wait for each other otherwise.
    const perNs = new Map<string, Cell[]>();
    for (const cell of split) perNs.set(cell.ns, [...(perNs.get(cell.ns) ?? []), cell]);
    for (const [ns, list] of perNs) {
      // Several processes of one namespace at one level (two tools, or nft tables) run side by
      // side, as they always have; nothing of a later level joins them.
      const latest = list.reduce((a, b) => (b.round > a.round ? b : a));
      lastCell.set(ns, list.length > 1 ? { ...latest, tool: 'nft' } : latest);
    }
    for (const cell of split) {
      put(cell.round, cell.commands);
      for (const ns of cell.touched) {
        const t = touches.get(ns) ?? { owner1: null, round1: -1, owner2: null, round2: -1 };
        if (cell.ns === t.owner1) t.round1 = Math.max(t.round1, cell.round);
        else if (cell.ns === t.owner2) t.round2 = Math.max(t.round2, cell.round);
        else if (cell.round > t.round1) {
          t.owner2 = t.owner1;
          t.round2 = t.round1;
          t.owner1 = cell.ns;
          t.round1 = cell.round;
        } else if (cell.round > t.round2) {
          t.owner2 = cell.ns;
          t.round2 = cell.round;
        }
        if (t.round2 > t.round1) [t.owner1, t.round1, t.owner2, t.round2] = [t.owner2, t.round2, t.owner1, t.round1];
        touches.set(ns, t);
      }
    }
  }
  return rounds.filter((r) => r.length);
}
