// Policy advice: what in a namespace changes how the lab's nft policy behaves.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { adviceFor } from '../../src/apply/advice.js';
import { loadLabText } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/types.js';

async function lab(file: string, edit: (t: string) => string = (t) => t): Promise<Lab> {
  const r = loadLabText(file, edit(await readFile(file, 'utf8')));
  if (!r.lab) throw new Error(r.issues.map((i) => i.message).join('\n'));
  return r.lab;
}

const clean = { legacyRules: 0, nftTables: [], bridgeNfCallIptables: '1' };

describe('policy advice', () => {
  it('says nothing for the k8s lab on a kernel with br_netfilter on', async () => {
    const l = await lab('labs/k8s-flat.yaml');
    for (const h of l.hosts) expect(adviceFor(l.name, h, clean)).toEqual([]);
  });

  it('reports iptables-legacy rules and foreign nft tables', async () => {
    const l = await lab('labs/docker-bridge.yaml');
    const host = l.hosts.find((h) => h.name === 'host')!;
    const a = adviceFor(l.name, host, { legacyRules: 3, nftTables: ['inet netlab_docker', 'ip filter'], bridgeNfCallIptables: '1' });
    expect(a).toHaveLength(2);
    expect(a[0]).toMatch(/3 iptables-legacy rule\(s\)/);
    expect(a[1]).toMatch(/other nft tables \(ip filter\)/);
  });

  it('warns when br_netfilter is missing and a service could have a backend on its client bridge', async () => {
    const l = await lab('labs/k8s-flat.yaml', (t) => t.replace(/ {6}net\.bridge\.bridge-nf-call-iptables: 1\n/, ''));
    const node1 = l.hosts.find((h) => h.name === 'node1')!;
    expect(adviceFor(l.name, node1, { ...clean, bridgeNfCallIptables: null })[0]).toMatch(
      /br_netfilter is not loaded.*modprobe br_netfilter/,
    );
    expect(adviceFor(l.name, node1, { ...clean, bridgeNfCallIptables: '0' })[0]).toMatch(/br_netfilter is off/);
  });

  it('says bridged traffic passes the filter rules when br_netfilter is on', async () => {
    const l = await lab('labs/docker-bridge.yaml', (t) => t.replace('    firewall:\n', '    firewall:\n      default: deny\n'));
    const host = l.hosts.find((h) => h.name === 'host')!;
    expect(adviceFor(l.name, host, clean).join('\n')).toMatch(/between ports of one bridge passes the lab's forward chain/);
  });
});
