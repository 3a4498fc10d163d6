// Maps a path in the lab data (`['hosts', 'web', 'interfaces', 'eth0', 'mtu']`) back to the
// line and column of the YAML that produced it, so every issue points at the offending text.
import type { LabIssue } from '../errors.js';
import type { SourcePos } from './types.js';

export type Path = (string | number)[];

/** Which part of a mapping entry an issue is about: its key (unknown key, bad name) or its value. */
export type Part = 'key' | 'value';

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `hosts.web.interfaces.eth0.mtu`, `links[2].a`, `sysctls["net.ipv4.ip_forward"]`. */
export function formatPath(path: Path): string {
  // Joined, not concatenated: `+=` makes a chain of string pieces, and a normalised lab keeps
  // one of these for every host, interface and route.
  const parts: string[] = [];
  for (const seg of path) {
    if (typeof seg === 'number') parts.push(`[${seg}]`);
    else if (PLAIN_KEY.test(seg)) parts.push(parts.length === 0 ? seg : `.${seg}`);
    else parts.push(`[${JSON.stringify(seg)}]`);
  }
  return parts.join('');
}

export interface LinePos {
  line: number;
  col: number;
}

/**
 * Where the nodes of one parsed text start: the full YAML parser's document (yaml-offsets.ts) or
 * the fast reader's table (fast-yaml.ts). Offsets are string offsets into the text.
 */
export interface PathOffsets {
  /** Offset of the key (or value) at `path`, or of the nearest enclosing node that exists. */
  offset(path: Path, part: Part): number;
  /** Line/column (1-based) of an offset. */
  linePos(offset: number): LinePos;
}

export class Locator {
  /** Hosts generated from a template (`h{i}`), by instance name: their text is the template's. */
  private readonly hostTemplates = new Map<string, { template: string; index: number; start: number }>();

  constructor(
    readonly file: string,
    private readonly offsets: PathOffsets | null,
  ) {}

  /** Line/column of a byte offset in the text (1-based). */
  offsetPos(offset: number): LinePos {
    return this.offsets ? this.offsets.linePos(offset) : { line: 1, col: 1 };
  }

  /** Positions under `hosts.INSTANCE` are those under `hosts.TEMPLATE` (see src/lab/template.ts). */
  aliasHost(instance: string, template: string, index: number, start: number): void {
    this.hostTemplates.set(instance, { template, index, start });
  }

  /** The template a host was generated from, its index and the template's first index; or undefined. */
  templateOf(host: string): { template: string; index: number; start: number } | undefined {
    return this.hostTemplates.get(host);
  }

  /** Positions inside templates by template path: every instance of a template asks for the same ones. */
  private readonly templatePos = new Map<string, LinePos>();

  /** Position of the key (or value) at `path`, or of the nearest enclosing node that exists. */
  pos(path: Path, part: Part = 'value'): LinePos {
    const template = path[0] === 'hosts' && typeof path[1] === 'string' ? this.hostTemplates.get(path[1])?.template : undefined;
    if (template === undefined) return this.walk(path, part);
    const key = `${part}\0${template}\0${path.slice(2).join('\0')}`;
    let pos = this.templatePos.get(key);
    if (!pos) {
      pos = this.walk(['hosts', template, ...path.slice(2)], part);
      this.templatePos.set(key, pos);
    }
    return pos;
  }

  private walk(path: Path, part: Part): LinePos {
    return this.offsets ? this.offsets.linePos(this.offsets.offset(path, part)) : { line: 1, col: 1 };
  }

  issue(path: Path, message: string, part: Part = 'value'): LabIssue {
    const { line, col } = this.pos(path, part);
    return { file: this.file, line, col, path: formatPath(path), message };
  }

  /** SourcePos of a key, for the normalised model. */
  source(path: Path): SourcePos {
    const { line, col } = this.pos(path, 'key');
    return { file: this.file, line, col, path: formatPath(path) };
  }
}
