// Differential fuzzer of re-checking edits (src/spec/recheck.ts): for each adversarial edit of a
// lab, checkLabText(file, new, memory of old) must equal checkLabText(file, new), the lab with
// every position or the same issues, and a spliced check must leave the memory a full check
// leaves. Bases: every lab in labs/ and test/fixtures/good/ that leaves a memory, generated ones,
// a block-style lab with block scalars, and CRLF, BOM and no-final-newline copies of them. Edits
// aim at what plain line edits rarely hit: lines at an entry's edges, comments and junk lines,
// block scalars, CRLF, quoting, moved, duplicated and re-indented entries, anchors, and a second
// edit from the memory the first left. Run by test/unit/recheck-fuzz.test.ts; by hand:
//
//   node test/tools/recheck-fuzz.mjs [CASES] [SEED]     (OUT=fails.json keeps the failing cases)
//
// Prints one JSON line of counts; exits 1 when any case differed, threw or left another memory.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { checkLabText } = await import(new URL('dist/spec/check.js', `file://${ROOT}`).href);
const { starLabYaml } = await import(new URL('dist/cli/gen.js', `file://${ROOT}`).href);

const FILE = 'lab.yaml';
const N = Number(process.argv[2] ?? 3000);
let seed = Number(process.argv[3] ?? 12345);
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return Math.floor((seed / 2 ** 31) * n);
};
const pick = (a) => a[rnd(a.length)];

// ---------- bases ----------
const bases = [];
const add = (name, text) => {
  const r = checkLabText(FILE, text);
  if (r.memory && r.result.issues.length === 0) bases.push({ name, text });
};
for (const d of [`${ROOT}labs`, `${ROOT}test/fixtures/good`])
  for (const f of readdirSync(d).filter((x) => x.endsWith('.yaml'))) {
    const t = readFileSync(`${d}/${f}`, 'utf8');
    if (checkLabText(FILE, t).memory) add(f, t);
  }
add('gen30', starLabYaml({ name: 'scale', hosts: 30 }));
add('gen12dnat', starLabYaml({ name: 'scale', hosts: 12, dnat: 3, backends: 3 }));
const BLOCK = `# block style with scalars
name: blk
hosts:
  a:
    # the first host
    interfaces:
      eth0:
        addresses:
          - 10.0.0.1/24
    exec:
      - |+
        echo keep
  b:
    interfaces:
      eth0:
        addresses: [10.0.0.2/24]
    exec:
      - |
        echo hello
        echo world

  c:
    interfaces:
      eth0: { addresses: [10.0.0.3/24] }
    run:
      - name: srv
        command: >
          sleep
          1000
  sw:
    interfaces:
      br0: { kind: bridge }
    exec:
      - >+
        folded keep

links:
  - a: a:eth0
    b: sw:br0
  - { a: b:eth0, b: sw:br0 }
  - a: c:eth0
    b: sw:br0
expect:
  - a -> b reachable
  - >-
    b -> c reachable
  - c -> a reachable
`;
add('block', BLOCK);
// sequences at indentation 0
add(
  'block-seq0',
  BLOCK.replace(
    /^links:\n[\s\S]*$/m,
    `links:
- a: a:eth0
  b: sw:br0
- { a: b:eth0, b: sw:br0 }
- a: c:eth0
  b: sw:br0
expect:
- a -> b reachable
- >-
  b -> c reachable
- c -> a reachable
`,
  ),
);
add(
  'block-4',
  BLOCK.replace(/^( +)/gm, (s) => s + s),
);
for (const b of [...bases]) {
  add(b.name + '+crlf', b.text.replace(/\n/g, '\r\n'));
  if (rnd(2)) add(b.name + '+bom', '\uFEFF' + b.text);
  add(b.name + '-nofinalnl', b.text.replace(/\n+$/, ''));
}

// ---------- edits ----------
function outlineOf(text) {
  return JSON.parse(checkLabText(FILE, text).memory?.() ?? 'null')?.outline ?? null;
}
const info = new Map();
function sectionsOf(text) {
  if (!info.has(text)) info.set(text, outlineOf(text));
  return info.get(text)?.sections ?? [];
}
const splitL = (t) => t.split('\n');
const eolOf = (t) => (t.includes('\r\n') ? '\r' : '');
function entryRange(sec, i) {
  return [sec.starts[i], i + 1 < sec.starts.length ? sec.starts[i + 1] : sec.end];
}
function anyEntry(text) {
  const ss = sectionsOf(text);
  if (!ss.length) return null;
  const s = pick(ss);
  const i = rnd(s.starts.length);
  return { s, i, r: entryRange(s, i) };
}
const sp = (n) => ' '.repeat(n);
const commentLines = ['#', '# c', '#...', '# ---', '#: x', '# é✓𝄞 ünïcödé', '# ' + 'x'.repeat(3000)];
const junkLines = [
  '',
  ' ',
  '   ',
  '\t',
  '...',
  '---',
  '--- # x',
  '%YAML 1.2',
  '- x',
  'x: 1',
  '  ...',
  '  ---',
  '  - x',
  '  x',
  '    &a x',
  '  *a',
  '\r',
  ' \r',
];

const ops = {
  insBlankAtEntryStart(t) {
    const e = anyEntry(t);
    if (!e) return null;
    const L = splitL(t);
    const eol = eolOf(t);
    L.splice(e.r[0], 0, ...Array(1 + rnd(2)).fill(pick(['', ' ', '   ', '\t']) + eol));
    return L.join('\n');
  },
  insCommentAtEntryStart(t) {
    const e = anyEntry(t);
    if (!e) return null;
    const L = splitL(t);
    L.splice(e.r[0], 0, sp(pick([0, 1, e.s.indent, e.s.indent + 2, 6, 8, 10, 12])) + pick(commentLines) + eolOf(t));
    return L.join('\n');
  },
  insCommentAtEntryEnd(t) {
    const e = anyEntry(t);
    if (!e) return null;
    const L = splitL(t);
    L.splice(e.r[1], 0, sp(pick([0, e.s.indent, 4, 8])) + pick(commentLines) + eolOf(t));
    return L.join('\n');
  },
  insLineRandom(t) {
    const L = splitL(t);
    L.splice(rnd(L.length + 1), 0, sp(pick([0, 2, 4, 6, 8])) + pick([...commentLines, ...junkLines]) + eolOf(t));
    return L.join('\n');
  },
  insLineInEntry(t) {
    const e = anyEntry(t);
    if (!e) return null;
    const L = splitL(t);
    const at = e.r[0] + 1 + rnd(Math.max(1, e.r[1] - e.r[0]));
    L.splice(at, 0, sp(pick([0, e.s.indent, e.s.indent + 2, e.s.indent + 4, 8, 10])) + pick([...commentLines, ...junkLines]) + eolOf(t));
    return L.join('\n');
  },
  mutLine(t) {
    const L = splitL(t);
    const i = rnd(L.length);
    const l = L[i];
    const m = pick([
      (l) => l + ' ',
      (l) => l + '\t',
      (l) => l.replace(/\r?$/, ' # note$&'),
      (l) => l + '\r',
      (l) => l.replace(/\r$/, ''),
      (l) => ' ' + l,
      (l) => l.replace(/^ /, ''),
      (l) => '\t' + l,
      (l) => l.replace(/\d/, (d) => String((+d + 1) % 10)),
      (l) => l.replace(': ', ':  '),
      (l) => l.replace(/^(\s*)([\w.-]+):/, '$1"$2":'),
      (l) => l.replace(/^(\s*)([\w.-]+):/, "$1'$2':"),
      (l) => l.replace(/^(\s*)([\w.-]+):/, '$1$2 :'),
      (l) => l.replace(/^(\s*)- /, '$1-  '),
      (l) => l.replace(/^(\s*)- /, '$1-\t'),
      (l) => l.replace(/, /, ',\n' + sp(rnd(12))),
      (l) => l.replace(/\{ /, '{\n' + sp(rnd(12))),
      (l) => l.replace(/ \}/, '\n' + sp(rnd(12)) + '}'),
      (l) => l.replace(/: (\S)/, ': &x $1'),
      (l) => l.replace(/: (\S)/, ': !!str $1'),
      (l) => l + ' # ' + 'y'.repeat(5000),
      (l) => l.replace(/reachable/, 'reachable # ✓'),
      (l) => l.replace(/^(\s*)([\w.-]+):/, '$1$2x:'),
      (l) => l.toUpperCase(),
      () => '',
      (l) => l + '\n' + l,
      (l) => l.replace(/\r?$/, ' ...$&'),
    ]);
    L[i] = m(l);
    return L.join('\n');
  },
  delLine(t) {
    const L = splitL(t);
    L.splice(rnd(L.length), 1 + rnd(2));
    return L.join('\n');
  },
  swapLines(t) {
    const L = splitL(t);
    const i = rnd(L.length - 1);
    [L[i], L[i + 1]] = [L[i + 1], L[i]];
    return L.join('\n');
  },
  moveEntry(t) {
    const ss = sectionsOf(t).filter((s) => s.starts.length > 1);
    if (!ss.length) return null;
    const s = pick(ss);
    const i = rnd(s.starts.length);
    const [a, b] = entryRange(s, i);
    const L = splitL(t);
    const blk = L.splice(a, b - a);
    const j = rnd(s.starts.length - 1);
    const dest = j < i ? s.starts[j] : j + 1 < s.starts.length ? s.starts[j + 1] - (b - a) : s.end - (b - a);
    L.splice(Math.min(dest, L.length), 0, ...blk);
    return L.join('\n');
  },
  delEntry(t) {
    const e = anyEntry(t);
    if (!e) return null;
    const L = splitL(t);
    L.splice(e.r[0], e.r[1] - e.r[0]);
    return L.join('\n');
  },
  delEntryKeepTail(t) {
    const e = anyEntry(t);
    if (!e) return null;
    const L = splitL(t);
    let end = e.r[1];
    while (end > e.r[0] + 1 && L[end - 1].trim() === '') end--;
    L.splice(e.r[0], end - e.r[0]);
    return L.join('\n');
  },
  dupEntry(t) {
    const e = anyEntry(t);
    if (!e) return null;
    const L = splitL(t);
    const blk = L.slice(e.r[0], e.r[1]);
    if (e.s.kind === 'map') blk[0] = blk[0].replace(/^(\s*["']?)([^:"']+)/, '$1$2z');
    L.splice(pick([e.r[0], e.r[1]]), 0, ...blk);
    return L.join('\n');
  },
  reindentEntry(t) {
    const e = anyEntry(t);
    if (!e) return null;
    const L = splitL(t);
    const d = pick([-2, -1, 1, 2]);
    for (let k = e.r[0]; k < e.r[1]; k++) L[k] = d > 0 ? sp(d) + L[k] : L[k].replace(new RegExp(`^ {0,${-d}}`), '');
    return L.join('\n');
  },
  reindentBody(t) {
    const e = anyEntry(t);
    if (!e) return null;
    const L = splitL(t);
    const d = pick([2, 4]);
    for (let k = e.r[0] + 1; k < e.r[1]; k++) if (L[k].trim()) L[k] = sp(d) + L[k];
    return L.join('\n');
  },
  addBlockScalar(t) {
    const ss = sectionsOf(t).filter((s) => s.kind === 'map');
    if (!ss.length) return null;
    const s = pick(ss);
    const i = rnd(s.starts.length);
    const [, b] = entryRange(s, i);
    const L = splitL(t);
    let at = b;
    while (at > s.starts[i] + 1 && L[at - 1].trim() === '') at--;
    const ind = s.indent + 2;
    const eol = eolOf(t);
    const ch = pick(['|', '|+', '|-', '>', '>+', '>-', '|2', '|1+', '>2-']);
    const body = [
      sp(ind) + 'exec:',
      sp(ind + 2) + '- ' + ch,
      sp(ind + 4) + 'echo one',
      ...(rnd(2) ? [''] : []),
      sp(ind + 4) + 'echo two',
    ].map((x) => x + eol);
    L.splice(pick([at, b]), 0, ...body, ...(rnd(3) === 0 ? ['' + eol] : []));
    return L.join('\n');
  },
  addExpectBlock(t) {
    const ss = sectionsOf(t).filter((s) => s.key === 'expect');
    if (!ss.length) return null;
    const s = ss[0];
    const i = rnd(s.starts.length);
    const [a] = entryRange(s, i);
    const L = splitL(t);
    const line = L[a];
    const m = /^(\s*)- (.*?)(\r?)$/.exec(line);
    if (!m) return null;
    const ch = pick(['|', '|+', '>', '>+', '>-', '|-']);
    L.splice(a, 1, `${m[1]}- ${ch}${m[3]}`, `${m[1]}  ${m[2].replace(/ #.*/, '')}${m[3]}`);
    return L.join('\n');
  },
  appendEntryEOF(t) {
    const ss = sectionsOf(t);
    const last = ss.find((s) => s.end >= splitL(t).length - 1);
    if (!last) return null;
    const eol = eolOf(t);
    const ind = sp(last.indent);
    const ent =
      last.kind === 'map'
        ? `${ind}zz:${eol}\n${ind}  sysctls: { net.ipv4.ip_forward: 1 }`
        : last.key === 'expect'
          ? `${ind}- zz -> zz reachable`
          : `${ind}- { a: zz:e0, b: zz:e1 }`;
    const base = t.replace(/\r?\n*$/, '');
    return base + eol + '\n' + ent + pick(['', eol + '\n', eol + '\n' + eol + '\n']);
  },
  finalNewline(t) {
    return pick([
      t.replace(/\r?\n+$/, ''),
      t + '\n',
      t + '\n\n',
      t.replace(/\n$/, '\r\n'),
      t + '   ',
      t + '# end',
      t + '...\n',
      t + '---\n',
    ]);
  },
  quoteKeyEntry(t) {
    const e = anyEntry(t);
    if (!e || e.s.kind !== 'map') return null;
    const L = splitL(t);
    L[e.r[0]] = L[e.r[0]].replace(
      /^(\s*)([^:\s]+):/,
      pick(['$1"$2":', "$1'$2':", '$1? $2\n' + sp(e.s.indent) + ':', '$1$2 :', '$1"$2\\u0041":', '$1"$2.x":']),
    );
    return L.join('\n');
  },
  anchorAlias(t) {
    const L = splitL(t);
    const i = rnd(L.length);
    const j = rnd(L.length);
    L[i] = L[i].replace(/: (\S)/, ': &q $1');
    L[j] = L[j].replace(/: (\S[^,}]*)/, ': *q');
    return L.join('\n');
  },
  twoSections(t) {
    const ss = sectionsOf(t);
    if (ss.length < 2) return null;
    const L = splitL(t);
    for (const s of ss.slice(0, 2)) L.splice(s.starts[rnd(s.starts.length)] + (s === ss[0] ? 0 : 0), 0, '');
    return L.join('\n');
  },
  crlfMix(t) {
    const L = splitL(t);
    const i = rnd(L.length);
    L[i] = L[i].endsWith('\r') ? L[i].slice(0, -1) : L[i] + '\r';
    return L.join('\n');
  },
  loneCR(t) {
    const L = splitL(t);
    const i = rnd(L.length - 1);
    L.splice(i, 2, L[i] + '\r' + L[i + 1]);
    return L.join('\n');
  },
  unicodeValue(t) {
    return t.replace(/reachable/, pick(['reachable # ⚠', 'reachable\u00a0', 'reachable\u2028'])).replace(/echo (\w+)/, 'echo "😀 $1"');
  },
};
const opNames = Object.keys(ops);

// ---------- compare ----------
const fails = new Map();
let stats = { cases: 0, splice: 0, parse: 0, threw: 0, fail: 0, chained: 0, memDrift: 0 };
function check(oldT, newT, mem, label) {
  stats.cases++;
  let sp;
  try {
    sp = checkLabText(FILE, newT, mem && JSON.parse(JSON.stringify(mem)));
  } catch (e) {
    stats.threw++;
    record('THREW ' + label, oldT, newT, String(e.stack), '');
    return null;
  }
  const full = checkLabText(FILE, newT);
  stats[sp.via]++;
  const a = JSON.stringify(sp.result),
    b = JSON.stringify(full.result);
  if (a !== b) {
    stats.fail++;
    record(label, oldT, newT, a, b);
  } else if (sp.via === 'splice' && full.memory && sp.memory) {
    const m1 = JSON.parse(sp.memory()),
      m2 = JSON.parse(full.memory());
    const k = ['data', 'positions', 'outline'].filter((k) => JSON.stringify(m1[k]) !== JSON.stringify(m2[k]));
    if (k.length) {
      stats.memDrift++;
      record('memdrift:' + k.join('+') + ' ' + label, oldT, newT, JSON.stringify(m1[k[0]]), JSON.stringify(m2[k[0]]));
    }
  }
  return sp;
}
function record(label, o, n, a, b) {
  const key = label.replace(/ .*? \| /, ' ');
  const prev = fails.get(key);
  if (!prev || n.length + o.length < prev.o.length + prev.n.length) fails.set(key, { label, o, n, a, b, count: (prev?.count ?? 0) + 1 });
  else prev.count++;
}

for (let k = 0; k < N; k++) {
  const base = pick(bases);
  const memObj = JSON.parse(checkLabText(FILE, base.text).memory());
  const nOps = 1 + rnd(2);
  let t = base.text;
  const used = [];
  for (let j = 0; j < nOps; j++) {
    const op = pick(opNames);
    const r = ops[op](t);
    if (r != null) {
      t = r;
      used.push(op);
    }
  }
  if (t === base.text) continue;
  const label = `${used.join('+')} | ${base.name}`;
  const out = check(base.text, t, memObj, label);
  // chained: a second edit from the memory the first check left
  if (out && out.memory && out.via === 'splice') {
    stats.chained++;
    const mem2 = JSON.parse(out.memory());
    const op = pick(opNames);
    const t2 = ops[op](t);
    if (t2 != null && t2 !== t) check(t, t2, mem2, `CHAIN ${used.join('+')}->${op} | ${base.name}`);
  }
}
console.log(JSON.stringify({ bases: bases.length, ...stats }));
const out = [...fails.values()].sort((x, y) => y.count - x.count);
for (const f of out) console.error(f.count, f.label, 'lens', f.o.length, f.n.length);
if (process.env.OUT) writeFileSync(process.env.OUT, JSON.stringify(out, null, 1));
process.exitCode = stats.fail || stats.threw || stats.memDrift ? 1 : 0;
