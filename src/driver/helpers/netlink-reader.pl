# netlink reader: links, addresses, routes, qdiscs, proxy neighbours, sysctls and nsids of many namespaces.
# Arguments: SETNS_NR NSDIR MODE O_NOFOLLOW (MODE dump or nsid).
# Input (dump): one namespace a line, `NS \t FLAGS \t COUNT \t SYSCTL-PATH... \t PEER...`, COUNT
# paths, FLAGS 6 for IPv6 routes, q for qdiscs, p for proxy neighbours, l for links only. Output
# frames: u32 line number, one letter (L links, A addresses, R routes, S IPv6 routes, Q qdiscs,
# P proxy neighbours, Y sysctl values a line
# each, `=VALUE` or `-` when missing, N the nsid of each peer a line, E error text), u32 length
# (both big-endian), bytes: the kernel's messages unchanged.
# Input (nsid): lines `NS \t OTHER...`; output lines `LINE \t NSID...` (-1 = none), `LINE \t E`.
use strict; use warnings;
my ($nr, $nsdir, $mode, $o_nofollow) = @ARGV;
require 'netns.pl';
require 'rtnetlink.pl';
require 'sysctl-file.pl';
sysctl_file_init($o_nofollow);
binmode STDOUT;
$| = 0;
sub frame { my ($id, $what, $data) = @_; print pack('NAN', $id, $what, length $data), $data; }
# RTM_GETNSID with NETNSA_FD: the socket's namespace's id for another one (-1 if it has none; the
# kernel does not allocate one for asking).
sub nsid_of {
  my ($s, $other) = @_;
  my $fh = netns_fh($nsdir, $other) // return -1;
  my ($r) = nl_request($s, 90, 1, pack('CxxxSSL', 0, 8, 3, fileno($fh)));
  return -1 unless defined $r && length($r) >= 20;
  my $off = 20;
  while ($off + 4 <= length $r) {
    my ($alen, $atype) = unpack('SS', substr($r, $off, 4));
    last if $alen < 4;
    return unpack('l', substr($r, $off + 4, 4)) if $atype == 1;
    $off += ($alen + 3) & ~3;
  }
  return -1;
}
my $id = -1;
while (my $l = <STDIN>) {
  chomp $l; $id++;
  my ($ns, @rest) = split /\t/, $l, -1;
  my $err = enter_netns($nr, $nsdir, $ns);
  if ($err) { $mode eq 'nsid' ? print "$id\tE\n" : frame($id, 'E', $err); next }
  my $s = nl_socket() // do { $mode eq 'nsid' ? print "$id\tE\n" : frame($id, 'E', "netlink socket: $!"); next };
  if ($mode eq 'nsid') {
    print join("\t", $id, map { nsid_of($s, $_) } @rest), "\n";
    next;
  }
  # RTM_GETLINK with IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS; RTM_GETADDR; RTM_GETROUTE per family.
  my @dumps = (['L', 18, pack('CxSlLL', 0, 0, 0, 0, 0) . pack('SSL', 8, 29, 8)], ['A', 22, pack('CCCCL', 0, 0, 0, 0, 0)],
    ['R', 26, pack('CCCCCCCCL', 2, 0, 0, 0, 0, 0, 0, 0, 0)]);
  my ($flags, $count, @more) = @rest;
  $flags //= '';
  my @sysctls = splice(@more, 0, $count // 0);
  my @peers = @more;
  splice(@dumps, 1) if $flags =~ /l/;
  push @dumps, ['S', 26, pack('CCCCCCCCL', 10, 0, 0, 0, 0, 0, 0, 0, 0)] if $flags =~ /6/;
  # RTM_GETQDISC: struct tcmsg, all zero (every device).
  push @dumps, ['Q', 38, pack('CxSlLLL', 0, 0, 0, 0, 0, 0)] if $flags =~ /q/;
  # RTM_GETNEIGH with struct ndmsg's flags exactly NTF_PROXY: the kernel dumps the proxy table.
  push @dumps, ['P', 30, pack('CCSlSCC', 0, 0, 0, 0, 0, 0x08, 0)] if $flags =~ /p/;
  my $ok = 1;
  for my $d (@dumps) {
    my ($out, $errno, $text) = nl_request($s, $d->[1], 0x301, $d->[2]);
    if (defined $out) { frame($id, $d->[0], $out) }
    else { frame($id, 'E', "dump $d->[0]: " . ($errno ? "netlink error $errno" : $text)); $ok = 0; last }
  }
  # Right after the dump, so the nsids its links carry name the namespaces they point into.
  frame($id, 'N', join('', map { nsid_of($s, $_) . "\n" } @peers)) if $ok && @peers;
  close($s);
  next unless $ok;
  my $values = '';
  for my $p (@sysctls) {
    my ($r) = open_sysctl($p, 0);
    if ($r) { local $/; my $v = <$r>; $v = '' unless defined $v; $v =~ s/\s+/ /g; $v =~ s/^ | $//g; $values .= "=$v\n" }
    else { $values .= "-\n" }
  }
  frame($id, 'Y', $values);
}
