// The JSON Schema itself (editor help, strictness) and the schema-level errors, with positions
// and human messages.
import { readdirSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { labSchema, loadLabs, loadLabText } from '../../src/lab/index.js';
import { KernelError } from '../../src/errors.js';
import { sysctlPath } from '../../src/model/sysctl.js';
import { IFNAME_PATTERN, isSysctlKey, SYSCTL_KEY_PATTERN } from '../../src/lab/names.js';
import { FORMATS } from '../../src/lab/schema.js';
import { compileValidator } from '../../src/lab/schema-compile.js';
import { schemaHash } from '../../src/lab/schema-source.js';
import { FORMAT_WORDS, PATTERN_WORDS } from '../../src/lab/schema-messages.js';

const BAD = 'test/fixtures/bad';
type Json = Record<string, unknown>;

/** Visits every sub-schema with its JSON pointer. */
function walk(node: unknown, at: string, visit: (s: Json, at: string) => void): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`, visit));
  else if (node && typeof node === 'object') {
    visit(node as Json, at);
    for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`, visit);
  }
}

describe('lab.schema.json', () => {
  const schema = labSchema as Json;

  it("the validator precompiled by `npm run build` is this schema's and judges every fixture as a fresh compile does", async () => {
    // dist/ is built by `npm test` before the tiers run.
    const pre = (await import(new URL('../../dist/lab/lab-validator.js', import.meta.url).href)) as {
      default: ((d: unknown) => boolean) & { errors?: unknown[] | null };
      schemaHash: string;
    };
    expect(pre.schemaHash).toBe(schemaHash(readFileSync('schemas/lab.schema.json', 'utf8')));
    const fresh = compileValidator(labSchema);
    const files = ['test/fixtures/good', BAD, 'labs'].flatMap((d) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => `${d}/${f}`),
    );
    let invalid = 0;
    for (const f of files) {
      let data: unknown;
      try {
        data = parseYaml(readFileSync(f, 'utf8'));
      } catch {
        continue; // not YAML: the schema never sees it
      }
      const ok = pre.default(data);
      expect(ok, f).toBe(fresh(data));
      expect(JSON.stringify(pre.default.errors ?? null), f).toBe(JSON.stringify(fresh.errors ?? null));
      if (!ok) invalid++;
    }
    expect(invalid).toBeGreaterThan(10);
  });

  it('is a titled JSON Schema 2020-12 with an $id', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(typeof schema.$id).toBe('string');
    expect(typeof schema.title).toBe('string');
  });

  it('describes every property, so editors show help', () => {
    const missing: string[] = [];
    walk(schema, '#', (s, at) => {
      if (at.endsWith('/dependentSchemas') || /\/(if)$/.test(at)) return;
      const props = s.properties as Record<string, Json> | undefined;
      if (!props || at.includes('/dependentSchemas/') || at.includes('/if/')) return;
      for (const [name, p] of Object.entries(props)) if (typeof p.description !== 'string') missing.push(`${at}/properties/${name}`);
    });
    expect(missing).toEqual([]);
  });

  it('closes every fixed-key object with additionalProperties: false', () => {
    const open: string[] = [];
    walk(schema, '#', (s, at) => {
      if (!s.properties || at.includes('/dependentSchemas/') || at.includes('/if') || at.includes('/then')) return;
      // A Kubernetes object read from a manifest may carry keys netlab ignores; the schema says so.
      if (typeof s.$comment === 'string' && s.$comment.startsWith('open: ')) return;
      if (s.additionalProperties !== false) open.push(at);
    });
    expect(open).toEqual([]);
  });

  it('has words for every pattern and an implementation and words for every format', () => {
    const patterns: string[] = [];
    const formats: string[] = [];
    walk(schema, '#', (s) => {
      if (typeof s.pattern === 'string') patterns.push(s.pattern);
      if (typeof s.format === 'string') formats.push(s.format);
    });
    expect(patterns.filter((p) => !(p in PATTERN_WORDS))).toEqual([]);
    expect(formats.filter((f) => !(f in FORMAT_WORDS) || !(f in FORMATS))).toEqual([]);
  });

  it('accepts interface names the kernel accepts, and IFNAME_PATTERN agrees on short ones', () => {
    const ifName = new RegExp(((schema.$defs as Json).ifName as Json).pattern as string);
    for (const ok of ['eth0', 'eth0.10', 'br-lan', 'veth_1', '0abc']) {
      expect(ifName.test(ok), ok).toBe(true);
      expect(IFNAME_PATTERN.test(ok), ok).toBe(true);
    }
    for (const bad of ['eth 0', '-x', '.x', 'a/b', 'a:b', 'é']) expect(ifName.test(bad), bad).toBe(false);
  });

  it('allows $schema at the top of a lab', () => {
    const { issues } = loadLabText('t.yaml', '$schema: ../schemas/lab.schema.json\nname: t\nhosts: { a: {} }\n');
    expect(issues).toEqual([]);
  });
});

/** line, col, path, message fragment */
type Expected = [number, number, string, string];

const SCHEMA_FIXTURES: Record<string, Expected[]> = {
  'schema-unknown-key.yaml': [
    [5, 26, 'hosts.web.interfaces.eth0.mtuu', 'unknown key "mtuu" (did you mean "mtu"?)'],
    [6, 5, 'hosts.web.route', 'unknown key "route" (did you mean "routes"?)'],
  ],
  'schema-mtu.yaml': [[7, 14, 'hosts.web.interfaces.eth0.mtu', 'must be <= 65535']],
  'schema-types.yaml': [
    [2, 7, 'root', 'must be true or false (got "yes")'],
    [6, 31, 'hosts.web.interfaces.eth0.mtu', 'must be an integer (got "1500")'],
    [6, 50, 'hosts.web.interfaces.eth0.addresses', 'must be a list (got "10.0.0.1/24")'],
    [7, 8, 'links', 'must be a list (got a mapping)'],
  ],
  'schema-enum.yaml': [[5, 20, 'hosts.sw.interfaces.br0.kind', '(got "bridg") (did you mean "bridge"?)']],
  'schema-kind-keys.yaml': [
    [6, 48, 'hosts.sw.interfaces.v10.stp', '"stp" only applies to kind bridge'],
    [7, 7, 'hosts.sw.interfaces.v20', 'missing required key "id" (kind vlan needs it)'],
    [8, 48, 'hosts.sw.interfaces.mv.mode', 'must be one of "bridge", "private", "vepa", "passthru" (got "l3")'],
    [9, 16, 'hosts.sw.interfaces.plain.vni', '"vni" only applies to kind vxlan'],
  ],
  'schema-route.yaml': [
    [5, 9, 'hosts.a.routes[0]', 'needs at least one of "via", "dev"'],
    [6, 15, 'hosts.a.routes[1].to', 'must be "default" or a CIDR'],
  ],
  'schema-netns.yaml': [
    [4, 12, 'hosts.a.netns', 'must be "root" or a mapping with one of name, path or pid (got "lab")'],
    [6, 5, 'hosts.b.netns', 'must have exactly one of "name", "path", "pid"'],
    [8, 19, 'hosts.c.netns.pid', 'must be >= 1'],
  ],
  'schema-names.yaml': [
    [1, 7, 'name', 'must be a lowercase letter, then up to 23 lowercase letters, digits or "-" (got "My_Lab")'],
    [3, 3, 'hosts.Web', 'invalid host name "Web"'],
    [5, 7, 'hosts.Web.interfaces["eth 0"]', 'invalid interface name "eth 0"'],
    [7, 7, 'hosts.Web.sysctls["kernel.panic"]', 'invalid sysctl name "kernel.panic"'],
  ],
  'schema-vlan-id.yaml': [
    [6, 42, 'hosts.sw.interfaces.v.id', 'must be <= 4094'],
    [8, 51, 'hosts.sw.interfaces.p.vlans.pvid', 'must be >= 1'],
    [8, 62, 'hosts.sw.interfaces.p.vlans.tagged', 'must not repeat an item'],
  ],
  'schema-formats.yaml': [
    [
      7,
      21,
      'hosts.a.interfaces.eth0.addresses[0]',
      'must be an address with prefix length, e.g. 10.0.0.1/24 or fd00::1/64 (got "10.0.0.300/24")',
    ],
    [7, 36, 'hosts.a.interfaces.eth0.addresses[1]', '(got "10.0.0.1")'],
    [8, 14, 'hosts.a.interfaces.eth0.mac', 'must be a unicast MAC address'],
    [11, 19, 'hosts.a.nat.publish[0].port', 'must be a port 1..65535 or a range like 5000-5010 (got "5010-5000")'],
    [11, 34, 'hosts.a.nat.publish[0].to', 'must be HOST:PORT, ADDRESS:PORT or [IPV6]:PORT'],
    [14, 28, 'hosts.a.firewall.rules[0].port', '"port" only applies to proto tcp or udp'],
    [15, 41, 'hosts.a.firewall.rules[1].port', '"port" only applies to proto tcp or udp'],
  ],
  'schema-missing.yaml': [
    [2, 1, '', 'missing required key "name"'],
    [2, 1, '', 'missing required key "hosts"'],
  ],
  'schema-links.yaml': [
    [5, 10, 'links[0].a', 'must be HOST:IFNAME, e.g. web:eth0 (got "a eth0")'],
    [5, 36, 'links[0].mtu', 'must be >= 68'],
    [6, 5, 'links[1]', 'missing required key "b"'],
  ],
};

describe('schema errors', () => {
  for (const [name, expected] of Object.entries(SCHEMA_FIXTURES)) {
    it(`rejects bad/${name}`, async () => {
      const file = `${BAD}/${name}`;
      const { issues } = await loadLabs([file]);
      expect(issues.map((i) => [i.file, i.line, i.col, i.path])).toEqual(expected.map(([l, c, p]) => [file, l, c, p]));
      issues.forEach((issue, n) => expect(issue.message).toContain(expected[n]![3]));
    });
  }

  it('covers every schema-* bad fixture', () => {
    const files = readdirSync(BAD).filter((f) => f.startsWith('schema-'));
    expect(files.filter((f) => !(f in SCHEMA_FIXTURES))).toEqual([]);
  });

  it('lists the allowed keys when no key is close to an unknown one', () => {
    const { issues } = loadLabText('t.yaml', 'name: t\nhosts: { a: { zzzzzz: 1 } }\n');
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toBe(
      'unknown key "zzzzzz"; allowed keys: namespace, labels, ports, on, netns, ipv6, sysctls, interfaces, routes, nat, firewall, routing_policy, run, exec, count, start',
    );
  });

  it('reports the formatted example from the docs', () => {
    const { issues } = loadLabText('labs/x.yaml', 'name: x\nhosts:\n  web:\n    interfaces:\n      eth0: { kind: tap, mtu: 65536 }\n');
    expect(issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.path}: ${i.message}`)).toEqual([
      'labs/x.yaml:5:31: hosts.web.interfaces.eth0.mtu: must be <= 65535',
    ]);
  });
});

describe('sysctl keys', () => {
  // `/` stands for `.` in sysctl(8)'s keys, so `//` would be a `..` part of the path.
  const HOSTILE = ['net.//.//.//.//.//.tmp.victim/txt', 'net./.x', 'net.ipv4..ip_forward', 'net.ipv4.', 'net', 'net.ipv4.conf.eth0./x'];
  const GOOD = ['net.ipv4.ip_forward', 'net.ipv4.conf.eth0/10.rp_filter', 'net.ipv6.conf.all.disable_ipv6', 'net.core.somaxconn'];

  it('a hostile key is a schema error at its position, saying what a key looks like', () => {
    for (const key of HOSTILE) {
      const { lab, issues } = loadLabText('in.yaml', `name: x\nhosts:\n  a:\n    sysctls:\n      ${JSON.stringify(key)}: x\n`);
      expect(lab).toBeNull();
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatchObject({ line: 5, col: 7, message: expect.stringContaining(`invalid sysctl name ${JSON.stringify(key)}`) });
      expect(issues[0]!.message).toContain('"net", then names of letters, digits, "_" or "-" separated by single dots');
    }
  });

  it('the schema and the driver hold keys to the same grammar, and the driver refuses others', () => {
    expect(((labSchema as Json).$defs as Json).sysctlKey).toMatchObject({ pattern: SYSCTL_KEY_PATTERN });
    for (const key of HOSTILE) {
      expect(isSysctlKey(key)).toBe(false);
      expect(() => sysctlPath(key)).toThrow(KernelError);
    }
    for (const key of GOOD) expect(isSysctlKey(key)).toBe(true);
    expect(sysctlPath('net.ipv4.conf.eth0/10.rp_filter')).toBe('/proc/sys/net/ipv4/conf/eth0.10/rp_filter');
  });
});
