# Link counters and flags of many namespaces from one process, for `netlab ui`: reads nothing but
# /proc/self/net/dev (which shows the namespace the process is in) and SIOCGIFFLAGS, so watching a
# lab changes nothing. Arguments: SETNS_NR NSDIR. Input: one namespace a line ('' is the helper's
# own). Output per namespace: `N \t NS`, then `L \t IF \t RXBYTES \t RXPACKETS \t RXDROP \t TXBYTES
# \t TXPACKETS \t TXDROP \t FLAGS` per interface, or `E \t NS \t MESSAGE` when it cannot be read.
use strict; use warnings;
# AF_INET and SOCK_DGRAM by value: loading Socket costs every start more than it saves.
sub AF_INET () { 2 }
sub SOCK_DGRAM () { 2 }
my ($nr, $nsdir) = @ARGV;
require 'netns.pl';
$| = 0;
while (my $ns = <STDIN>) {
  chomp $ns;
  my $err = enter_netns($nr, $nsdir, $ns);
  if ($err) { print "E\t$ns\t$err\n"; next }
  open(my $fh, '<', '/proc/self/net/dev') or do { print "E\t$ns\t/proc/self/net/dev: $!\n"; next };
  # A socket of this namespace answers SIOCGIFFLAGS for its interfaces.
  socket(my $sock, AF_INET, SOCK_DGRAM, 0) or do { print "E\t$ns\tsocket: $!\n"; next };
  print "N\t$ns\n";
  while (my $l = <$fh>) {
    next unless $l =~ /^\s*([^:\s]+):\s*(.*)$/;
    my ($if, @f) = ($1, split(/\s+/, $2));
    my $req = pack('a16 s', $if);
    my $flags = ioctl($sock, 0x8913, $req) ? unpack('x16 s', $req) & 0xffff : -1;
    print join("\t", 'L', $if, $f[0], $f[1], $f[3], $f[8], $f[9], $f[11], $flags), "\n";
  }
  close $fh;
  close $sock;
}
