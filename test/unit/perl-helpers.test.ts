// The perl helpers on their own: each compiles under strict and warnings, and the parts that need
// no privilege (the runner in its own namespace, the rtnetlink framing over a socketpair, the
// sysctl path guard, the reader's and writer's protocol for a namespace that cannot be opened)
// run as plain children. Entering a namespace (setns) and real rtnetlink dumps need CAP_SYS_ADMIN
// and a kernel to ask: those are in the live tier (netlink*.test.ts, sysctl-guard.test.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELPERS_DIR, helperArgs } from '../../src/driver/perl-helpers.js';
import { setnsSyscall } from '../../src/driver/runner.js';

const LIB = join(HELPERS_DIR, 'lib');
const NOFOLLOW = String(constants.O_NOFOLLOW);

function perl(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('perl', args, { input, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs perl code with the helpers' libraries on @INC. */
const withLib = (code: string, input = '') => perl(['-I', LIB, '-e', code], input);

describe('perl helpers', () => {
  const files = [...readdirSync(HELPERS_DIR).filter((f) => f.endsWith('.pl')), ...readdirSync(LIB).map((f) => `lib/${f}`)];

  it('are the five programs and three libraries the driver runs', () => {
    expect(files.sort()).toEqual(
      [
        'lib/netns.pl',
        'lib/rtnetlink.pl',
        'lib/sysctl-file.pl',
        'netdev-reader.pl',
        'netlink-reader.pl',
        'netlink-writer.pl',
        'runner.pl',
        'sysctl-writer.pl',
      ].sort(),
    );
  });

  it.each(files)('%s compiles under strict and warnings', (f) => {
    const r = perl(['-I', LIB, '-Mstrict', '-w', '-c', join(HELPERS_DIR, f)]);
    expect(r.stderr).toContain('syntax OK');
    expect(r.status).toBe(0);
  });

  it('use no module outside perl-base (no `use` but strict and warnings)', () => {
    for (const f of files) {
      const uses = readFileSync(join(HELPERS_DIR, f), 'utf8').match(/^\s*use\s+[\w:]+/gm) ?? [];
      expect(
        uses.map((u) => u.trim().split(/\s+/)[1]).filter((m) => m !== 'strict' && m !== 'warnings'),
        f,
      ).toEqual([]);
    }
  });
});

describe('runner.pl', () => {
  const esc = (s: string) => s.replace(/[%\t\n]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

  it('runs a job with its files and reports start and exit; a missing namespace exits 126', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netlab-perl-'));
    const nsdir = mkdtempSync(join(tmpdir(), 'netlab-perl-ns-'));
    try {
      // Job 0 stays in the helper's namespace (no setns); job 1 names a namespace that does not exist.
      const input = [
        ['0', '', '/bin/sh', '-c', 'printf "a\\tb\\n"; echo err >&2; exit 3'],
        ['1', 'nope', '/bin/true'],
      ]
        .map((j) => j.map(esc).join('\t'))
        .join('\n');
      const r = perl(helperArgs('runner', [String(setnsSyscall()), dir, '2', nsdir]), `${input}\n`);
      expect(r.status).toBe(0);
      const lines = r.stdout.trim().split('\n').sort();
      expect(lines.filter((l) => l.startsWith('S\t')).map((l) => l.split('\t')[1])).toEqual(['0', '1']);
      expect(lines.filter((l) => l.startsWith('E\t'))).toEqual(['E\t0\t3', 'E\t1\t126']);
      expect(readFileSync(join(dir, '0.out'), 'utf8')).toBe('a\tb\n');
      expect(readFileSync(join(dir, '0.err'), 'utf8')).toBe('err\n');
      expect(readFileSync(join(dir, '1.err'), 'utf8')).toMatch(/^Cannot open network namespace "nope": No such file or directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(nsdir, { recursive: true, force: true });
    }
  });
});

describe('lib/rtnetlink.pl over a socketpair', () => {
  // The answers are queued on the peer before nl_send asks; its first request has sequence 1.
  const harness = (answers: string) => String.raw`
require 'rtnetlink.pl';
socketpair(my $a, my $b, 1, 2, 0) or die "socketpair: $!";
sub msg { my ($type, $flags, $seq, $body) = @_; pack('LSSLL', 16 + length $body, $type, $flags, $seq, 0) . $body }
${answers}
my ($out, $errno, $text) = nl_request($a, 18, 0x301, 'x' x 16);
print defined $out ? 'OK ' . unpack('H*', $out) : "ERR $errno $text";
`;

  it('collects a dump up to NLMSG_DONE, skipping messages of other sequence numbers', () => {
    const r = withLib(
      harness(String.raw`
send($b, msg(16, 2, 1, 'AAAA') . msg(16, 2, 9, 'ZZZZ'), 0);
send($b, msg(16, 2, 1, 'BBBB') . msg(3, 2, 1, pack('l', 0)), 0);`),
    );
    expect(r.stderr).toBe('');
    const hex = (type: number, body: string) => {
      const b = Buffer.alloc(16 + body.length);
      b.writeUInt32LE(16 + body.length, 0);
      b.writeUInt16LE(type, 4);
      b.writeUInt16LE(2, 6);
      b.writeUInt32LE(1, 8);
      b.write(body, 16);
      return b.toString('hex');
    };
    expect(r.stdout).toBe(`OK ${hex(16, 'AAAA')}${hex(16, 'BBBB')}`);
  });

  it('returns the errno and the extended-ack message of an NLMSG_ERROR', () => {
    // struct nlmsgerr: error, the echoed header; then NLMSGERR_ATTR_MSG (type 1).
    const r = withLib(
      harness(String.raw`
my $text = "Unknown device type\0";
my $attr = pack('SS', 4 + length $text, 1) . $text . ("\0" x ((4 - length($text) % 4) % 4));
send($b, msg(2, 0x200, 1, pack('l', -95) . pack('LSSLL', 32, 18, 0x301, 1, 0) . $attr), 0);`),
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ERR 95 Unknown device type');
  });
});

describe('lib/sysctl-file.pl', () => {
  /** open_sysctl's answer for `path`: 'open', or why it refused. */
  const openSysctl = (path: string, write: 0 | 1) =>
    execFileSync(
      'perl',
      [
        '-I',
        LIB,
        '-e',
        `require 'sysctl-file.pl'; sysctl_file_init(${NOFOLLOW}); my ($fh, $why) = open_sysctl($ARGV[0], $ARGV[1]); print $fh ? 'open' : $why;`,
        path,
        String(write),
      ],
      { encoding: 'utf8' },
    );

  it.each([
    '/etc/passwd',
    '/proc/sys/kernel/hostname',
    '/proc/sys/net/../kernel/hostname',
    '/proc/sys/net/./ipv4/ip_forward',
    '/proc/sys/net//ipv4/ip_forward',
    '/proc/sys/net',
    '/proc/sys/net/ipv4/ip_forward\n',
  ])('refuses %j for writing without opening it', (p) => {
    expect(openSysctl(p, 1)).toBe(`refusing ${p}: not a sysctl file under /proc/sys/net`);
  });

  it('opens a sysctl under /proc/sys/net for reading', () => {
    expect(openSysctl('/proc/sys/net/ipv4/ip_forward', 0)).toBe('open');
  });

  it('will not open anything before it knows O_NOFOLLOW', () => {
    const r = withLib(`require 'sysctl-file.pl'; open_sysctl('/proc/sys/net/ipv4/ip_forward', 0);`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toBe('open_sysctl before sysctl_file_init\n');
    expect(withLib(`require 'sysctl-file.pl'; sysctl_file_init('0x20000');`).stderr).toBe('O_NOFOLLOW: expected a positive number\n');
  });
});

describe('netlink-reader.pl and netlink-writer.pl, for a namespace that cannot be opened', () => {
  it('the reader frames the error for that line and goes on', () => {
    const nsdir = mkdtempSync(join(tmpdir(), 'netlab-perl-ns-'));
    try {
      const r = spawnSync('perl', helperArgs('netlink-reader', [String(setnsSyscall()), nsdir, 'dump', NOFOLLOW]), {
        input: 'a\t\t0\nb\t6\t0\n',
      });
      expect(r.status).toBe(0);
      const out = r.stdout;
      const frames: [number, string, string][] = [];
      for (let off = 0; off + 9 <= out.length;) {
        const len = out.readUInt32BE(off + 5);
        frames.push([out.readUInt32BE(off), String.fromCharCode(out[off + 4]!), out.toString('utf8', off + 9, off + 9 + len)]);
        off += 9 + len;
      }
      expect(frames).toEqual([
        [0, 'E', 'Cannot open network namespace "a": No such file or directory'],
        [1, 'E', 'Cannot open network namespace "b": No such file or directory'],
      ]);
      const n = spawnSync('perl', helperArgs('netlink-reader', [String(setnsSyscall()), nsdir, 'nsid', NOFOLLOW]), {
        input: 'a\tb\n',
        encoding: 'utf8',
      });
      expect(n.stdout).toBe('0\tE\n');
    } finally {
      rmSync(nsdir, { recursive: true, force: true });
    }
  });

  it("the writer reports the first request of that namespace's batch, skips the rest, and ends with D", () => {
    const nsdir = mkdtempSync(join(tmpdir(), 'netlab-perl-ns-'));
    try {
      const r = spawnSync('perl', helperArgs('netlink-writer', [String(setnsSyscall()), nsdir]), {
        input: 'N\tgone\nC\t0\t00\t\nC\t1\t00\t\n',
        encoding: 'utf8',
      });
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('E\t0\tCannot open network namespace "gone": No such file or directory\nD\n');
    } finally {
      rmSync(nsdir, { recursive: true, force: true });
    }
  });
});
