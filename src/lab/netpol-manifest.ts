// NetworkPolicies of a lab: those written in it and those read from Kubernetes manifest files
// (`network_policies: [{ file: PATH }]`). A manifest is untrusted input: its path must stay inside
// the lab file's directory tree once symlinks are resolved, and its issues point into it.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { LabContext } from './context.js';
import { Locator, type Path } from './locate.js';
import type { RawPolicySpec } from './raw.js';
import { decodeLabBytes, MAX_LAB_BYTES, tooBig } from './read.js';
import { schemaErrors } from './schema.js';
import { schemaIssues } from './schema-messages.js';
import { yamlLibrary } from './yaml-library.js';
import { YamlOffsets } from './yaml-offsets.js';
import { MAX_ALIAS_COUNT } from './yaml.js';

/** One NetworkPolicy, wherever it was written. */
export interface PolicySource {
  name: string;
  namespace: string;
  spec: RawPolicySpec;
  /** Positions in the file the policy was written in (the lab, or a manifest). */
  locator: Locator;
  /** Path of the spec in its document (its fields are below it). */
  specPath: Path;
  /** Path of the policy's name, for messages about the policy as a whole. */
  namePath: Path;
}

/** A file a lab was read from besides itself, with a digest of its bytes (see cache.ts). */
export interface InputFile {
  file: string;
  sha256: string;
}

export const DEFAULT_NAMESPACE = 'default';

/** Every policy of the lab, in file order; problems (unreadable files, bad manifests) are reported. */
export function collectPolicies(ctx: LabContext): { policies: PolicySource[]; inputs: InputFile[] } {
  const policies: PolicySource[] = [];
  const inputs: InputFile[] = [];
  for (const [i, entry] of (ctx.raw.network_policies ?? []).entries()) {
    const path: Path = ['network_policies', i];
    if ('file' in entry) {
      const read = readManifest(ctx, entry.file, [...path, 'file']);
      if (!read) continue;
      inputs.push({ file: read.file, sha256: read.sha256 });
      policies.push(...manifestPolicies(ctx, read.file, read.text));
      continue;
    }
    const { name, namespace, ...spec } = entry;
    policies.push({
      name,
      namespace: namespace ?? DEFAULT_NAMESPACE,
      spec,
      locator: ctx.locator,
      specPath: path,
      namePath: [...path, 'name'],
    });
  }
  return { policies, inputs };
}

/** The manifest's real path and text, or null after reporting why it cannot be read. */
function readManifest(ctx: LabContext, written: string, at: Path): { file: string; text: string; sha256: string } | null {
  const fail = (why: string) => {
    ctx.report(at, `manifest "${written}": ${why}`);
    return null;
  };
  let root: string;
  let real: string;
  try {
    root = realpathSync(dirname(resolve(ctx.locator.file)));
  } catch {
    return fail("cannot resolve the lab file's directory");
  }
  const target = isAbsolute(written) ? written : resolve(dirname(resolve(ctx.locator.file)), written);
  try {
    real = realpathSync(target);
  } catch (err) {
    const code = (err as { code?: string }).code;
    return fail(code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? String(err)})`);
  }
  const rel = relative(root, real);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel))
    return fail(`it resolves to ${real}, outside the lab's directory ${root}: a manifest must be a file in the lab's directory tree`);
  let bytes: Buffer;
  let fd: number | undefined;
  try {
    fd = openSync(real, 'r');
    const st = fstatSync(fd);
    if (!st.isFile()) return fail('not a regular file');
    if (st.size > MAX_LAB_BYTES) return fail(tooBig(real, st.size).message);
    bytes = readFileSync(fd);
  } catch (err) {
    return fail(`cannot read it (${(err as { code?: string }).code ?? String(err)})`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const decoded = decodeLabBytes(real, bytes);
  if (decoded.text === null) {
    ctx.issues.push(...decoded.issues);
    return null;
  }
  return { file: real, text: decoded.text, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The NetworkPolicies of one manifest text: each `---` document, or each item of a `kind: List`. */
function manifestPolicies(ctx: LabContext, file: string, text: string): PolicySource[] {
  const { LineCounter, parseAllDocuments } = yamlLibrary();
  const lines = new LineCounter();
  const out: PolicySource[] = [];
  const fileLocator = new Locator(file, null);
  let docs;
  try {
    docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  } catch (err) {
    ctx.issues.push(fileLocator.issue([], `YAML: cannot parse: ${err instanceof Error ? err.message : String(err)}`));
    return out;
  }
  if (!Array.isArray(docs)) return out;
  for (const doc of docs) {
    const locator = new Locator(file, new YamlOffsets(doc, lines));
    const errors = [...doc.errors, ...doc.warnings];
    if (errors.length) {
      for (const e of errors) {
        const { line, col } = locator.offsetPos(e.pos[0]);
        ctx.issues.push({ file, line, col, path: '', message: `YAML: ${e.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '')}` });
      }
      continue;
    }
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      ctx.issues.push(locator.issue([], `YAML: ${err instanceof Error ? err.message : String(err)}`));
      continue;
    }
    if (data === null || data === undefined) continue; // an empty document (a trailing `---`)
    const list = isList(data);
    const items: { value: unknown; path: Path }[] = list
      ? list.map((value, i) => ({ value, path: ['items', i] }))
      : [{ value: data, path: [] }];
    for (const { value, path } of items) {
      const p = manifestPolicy(ctx, value, locator, path);
      if (p) out.push(p);
    }
  }
  return out;
}

function isList(data: unknown): unknown[] | null {
  const d = data as { kind?: unknown; items?: unknown };
  return typeof d === 'object' && d !== null && d.kind === 'List' && Array.isArray(d.items) ? d.items : null;
}

const API_VERSION = 'networking.k8s.io/v1';

/**
 * One manifest object as a policy. Its spec is checked by the lab's own schema (precompiled; the
 * spec has the fields of a policy written in the lab), as a one-policy lab, and the schema's
 * paths are mapped back into the manifest.
 */
function manifestPolicy(ctx: LabContext, value: unknown, locator: Locator, path: Path): PolicySource | null {
  const at = (p: Path, message: string) => ctx.issues.push(locator.issue([...path, ...p], message));
  const m = value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown }; spec?: unknown };
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    at([], `a manifest document must be a Kubernetes object (apiVersion: ${API_VERSION}, kind: NetworkPolicy)`);
    return null;
  }
  if (m.apiVersion !== API_VERSION) {
    at(['apiVersion'], `apiVersion must be ${API_VERSION} (a NetworkPolicy), not ${JSON.stringify(m.apiVersion ?? null)}`);
    return null;
  }
  if (m.kind !== 'NetworkPolicy') {
    at(['kind'], `kind must be NetworkPolicy (or List of them), not ${JSON.stringify(m.kind ?? null)}: only NetworkPolicies are read here`);
    return null;
  }
  if (typeof m.metadata !== 'object' || m.metadata === null) {
    at([], 'metadata with a name is missing');
    return null;
  }
  if (typeof m.spec !== 'object' || m.spec === null) {
    at([], 'spec is missing: a NetworkPolicy needs at least `spec: { podSelector: {} }`');
    return null;
  }
  const meta = m.metadata;
  const policy = { ...(m.spec as object), name: meta.name, ...(meta.namespace === undefined ? {} : { namespace: meta.namespace }) };
  const errors = schemaErrors({ name: 'manifest', hosts: { pod: {} }, network_policies: [policy] });
  if (errors.length) {
    const prefix = path.map((s) => `/${s}`).join('');
    const moved = errors.map((e) => {
      const rest = e.instancePath.replace(/^\/network_policies\/0/, '');
      const to = /^\/(name|namespace)(\/|$)/.test(rest) ? `/metadata${rest}` : `/spec${rest}`;
      return { ...e, instancePath: `${prefix}${to}` };
    });
    ctx.issues.push(...schemaIssues(moved, path.length === 0 ? value : { items: listOf(path, value) }, locator));
    return null;
  }
  return {
    name: meta.name as string,
    namespace: (meta.namespace as string | undefined) ?? DEFAULT_NAMESPACE,
    spec: m.spec as RawPolicySpec,
    locator,
    specPath: [...path, 'spec'],
    namePath: [...path, 'metadata', 'name'],
  };
}

/** Data shaped like the document so that an error path `/items/N/...` finds the item. */
function listOf(path: Path, value: unknown): unknown[] {
  const arr: unknown[] = [];
  arr[path[1] as number] = value;
  return arr;
}
