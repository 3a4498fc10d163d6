# Library for every helper that enters namespaces (require 'netns.pl', with -I of this folder).
# netns_fh(NSDIR, NS) opens a namespace ('' is the one the helper started in; undef with $! when
# it cannot); enter_netns(SETNS_NR, NSDIR, NS) enters it with setns(2) and returns '' or the error
# as `ip -n NS` words it. The helper's own namespace is opened when this file is required.
use strict; use warnings;
open(my $netlab_self, '<', '/proc/self/ns/net') or die "open own netns: $!\n";
sub netns_fh {
  my ($nsdir, $ns) = @_;
  return $netlab_self if $ns eq '';
  open(my $fh, '<', "$nsdir/$ns") or return undef;
  return $fh;
}
sub enter_netns {
  my ($nr, $nsdir, $ns) = @_;
  my $fh = netns_fh($nsdir, $ns) // return "Cannot open network namespace \"$ns\": $!";
  syscall($nr, fileno($fh), 0x40000000) == 0 or return "setns to \"$ns\" failed: $!";
  return '';
}
1;
