# sysctl writer: writes sysctl files of many namespaces (setns(2), then /proc/sys/net reflects
# the namespace entered). Arguments: SETNS_NR NSDIR O_NOFOLLOW.
# Input: one write a line, `NS \t PATH \t VALUE`, grouped by namespace. Output: nothing on success;
# on the first failure `ERR \t LINE \t MESSAGE` (LINE 0-based) and exit 1.
use strict; use warnings;
my ($nr, $nsdir, $o_nofollow) = @ARGV;
require 'netns.pl';
require 'sysctl-file.pl';
sysctl_file_init($o_nofollow);
my $cur;
my $i = -1;
while (my $l = <STDIN>) {
  chomp $l; $i++;
  my ($ns, $path, $val) = split /\t/, $l, 3;
  if (!defined $cur || $ns ne $cur) {
    my $err = enter_netns($nr, $nsdir, $ns);
    if ($err) { print "ERR\t$i\t$err\n"; exit 1 }
    $cur = $ns;
  }
  my ($w, $why) = open_sysctl($path, 1);
  if (!$w) { print "ERR\t$i\t$why\n"; exit 1 }
  print $w "$val\n";
  close($w) or do { print "ERR\t$i\t$path: $!\n"; exit 1 };
}
