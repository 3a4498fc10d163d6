# command runner: runs many commands, each in a network namespace, at most MAX at once.
# Arguments: SETNS_NR DIR MAX NSDIR. Each job's stdin is DIR/ID.in (or /dev/null), its stdout and
# stderr DIR/ID.out and DIR/ID.err. Input: one job a line, `ID \t NS \t ARGV...`, each field with
# %, tab and newline %-escaped (%XX); ARGV[0] an absolute path. Output: `S \t ID \t PID` when a
# job starts, `E \t ID \t EXIT` when it ends (128+signal if killed; 125 its files could not be
# opened, 126 the namespace not entered, 127 not executed). Starts nothing more once its parent
# is gone, and waits for the running jobs.
use strict; use warnings;
my ($nr, $dir, $max, $nsdir) = @ARGV;
require 'netns.pl';
my $parent = getppid();
my @jobs;
while (my $l = <STDIN>) { chomp $l; push @jobs, [map { s/%([0-9A-F]{2})/chr(hex($1))/ger } split /\t/, $l, -1]; }
$| = 1;
my %running;
sub reap {
  my $pid = waitpid(-1, 0);
  return if $pid <= 0;
  my $id = delete $running{$pid};
  return unless defined $id;
  my $st = $?;
  print "E\t$id\t" . (($st & 127) ? 128 + ($st & 127) : $st >> 8) . "\n";
}
for my $j (@jobs) {
  reap() while keys(%running) >= $max;
  last if getppid() != $parent;
  my ($id, $ns, @argv) = @$j;
  my $pid = fork() // die "fork: $!\n";
  if ($pid == 0) {
    my $in = -e "$dir/$id.in" ? "$dir/$id.in" : '/dev/null';
    open(STDIN, '<', $in) or exit 125;
    open(STDOUT, '>', "$dir/$id.out") or exit 125;
    open(STDERR, '>', "$dir/$id.err") or exit 125;
    if ($ns ne '') {
      my $err = enter_netns($nr, $nsdir, $ns);
      if ($err) { print STDERR "$err\n"; exit 126 }
    }
    { no warnings 'exec'; exec { $argv[0] } @argv; }
    print STDERR "$argv[0]: $!\n";
    exit 127;
  }
  $running{$pid} = $id;
  print "S\t$id\t$pid\n";
}
reap() while %running;
