# netlink writer: sends rtnetlink requests in many namespaces, in order.
# Arguments: SETNS_NR NSDIR.
# Input lines: `N \t NS` enters a namespace; `C \t ID \t HEX \t FIXUPS` sends one request, where
# FIXUPS is `OFFSET:i:NAME` (ifindex of NAME here) or `OFFSET:f:NAME` (fd of namespace NAME),
# comma-separated. Output: `E \t ID \t MESSAGE` for a failed request; after one, the rest of that
# namespace's requests are skipped (as `ip -batch` stops). `D` when all is done.
use strict; use warnings;
my ($nr, $nsdir) = @ARGV;
require 'netns.pl';
require 'rtnetlink.pl';
my $parent = getppid();
$| = 1;
my ($s, $skip) = (undef, 0);
# Sends one request; returns '' on success, else the error as ip prints it.
sub talk {
  my ($out, $errno, $text) = nl_send($s, $_[0]);
  return '' if defined $out;
  return $text unless $errno;
  return $text ne '' ? "Error: $text" . ($text =~ /\.$/ ? '' : '.') : do { local $! = $errno; "RTNETLINK answers: $!" };
}
# The ifindex of device NAME here (RTM_GETLINK by IFLA_IFNAME), or undef.
sub ifindex {
  my $ifn = $_[0] . "\0";
  my $attr = pack('SS', 4 + length $ifn, 3) . $ifn . ("\0" x ((4 - (4 + length $ifn) % 4) % 4));
  my ($m) = nl_request($s, 18, 1, pack('CxSlLL', 0, 0, 0, 0, 0) . $attr . pack('SSL', 8, 29, 8));
  return undef unless defined $m && length($m) >= 24 && unpack('S', substr($m, 4, 2)) == 16;
  return unpack('l', substr($m, 20, 4));
}
while (my $l = <STDIN>) {
  last if getppid() != $parent;
  chomp $l;
  my @f = split /\t/, $l, -1;
  if ($f[0] eq 'N') {
    $skip = enter_netns($nr, $nsdir, $f[1]);
    $s = $skip ? undef : nl_socket();
    $skip ||= "netlink socket: $!" unless $s;
    next;
  }
  my ($id, $hex, $fix) = @f[1, 2, 3];
  if ($skip) { print "E\t$id\t$skip\n" if $skip ne '1'; $skip = '1'; next }
  my $msg = pack('H*', $hex);
  my (@keep, $err);
  for my $x (split /,/, $fix // '') {
    my ($off, $kind, $name) = split /:/, $x, 3;
    if ($kind eq 'i') {
      my $i = ifindex($name);
      if (!defined $i) { $err = "Cannot find device \"$name\""; last }
      substr($msg, $off, 4) = pack('l', $i);
    } else {
      my $nfh = netns_fh($nsdir, $name) // do { $err = "Cannot open network namespace \"$name\": $!"; last };
      push @keep, $nfh;
      substr($msg, $off, 4) = pack('l', fileno($nfh));
    }
  }
  $err //= talk($msg);
  if ($err ne '') { $err =~ s/[\t\n]/ /g; print "E\t$id\t$err\n"; $skip = '1' }
}
print "D\n";
