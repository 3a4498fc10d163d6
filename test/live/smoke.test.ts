import { describe, expect, it } from 'vitest';
import { sandboxSkipReason, sh } from './sandbox.js';

describe.skipIf(sandboxSkipReason !== null)('live sandbox', () => {
  it('is a private network namespace with its own /run/netns', async () => {
    await sh('ip', ['netns', 'add', 'smoke-a']);
    const list = await sh('ip', ['netns', 'list']);
    expect(list.stdout).toContain('smoke-a');
    await sh('ip', ['netns', 'del', 'smoke-a']);
    const links = await sh('ip', ['-j', 'link', 'show']);
    // Only lo exists in a fresh sandbox: none of the machine's interfaces are visible.
    expect(JSON.parse(links.stdout).map((l: { ifname: string }) => l.ifname)).toEqual(['lo']);
  });
});
