# Library: open_sysctl(PATH, WRITE) opens a sysctl file for reading (0) or writing (1), returning
# (FH, '') or (undef, WHY): only a path of plain names under /proc/sys/net (none empty, "." or
# ".."), not through a symbolic link, and only if the file opened really is procfs's, under
# /proc/sys (its /proc/self/fd link and its device). The node side checks keys as well; this is
# the last guard before a root process opens the path. Nothing is created or truncated.
# sysctl_file_init(O_NOFOLLOW) must come first: node passes the platform's value, since loading
# Fcntl for it would cost more than the rest of the helper's start.
use strict; use warnings;
my $o_nofollow;
sub sysctl_file_init {
  ($o_nofollow) = @_;
  die "O_NOFOLLOW: expected a positive number\n" unless defined $o_nofollow && $o_nofollow =~ /\A[1-9][0-9]*\z/;
}
sub open_sysctl {
  my ($path, $write) = @_;
  die "open_sysctl before sysctl_file_init\n" unless $o_nofollow;
  return (undef, "refusing $path: not a sysctl file under /proc/sys/net")
    unless $path =~ m{\A/proc/sys/net(?:/[A-Za-z0-9_\-][A-Za-z0-9_.\-]*)+\z};
  sysopen(my $fh, $path, ($write ? 1 : 0) | $o_nofollow) or return (undef, "$path: $!");
  my $real = readlink('/proc/self/fd/' . fileno($fh)) // '';
  return (undef, "refusing $path: it is $real, outside /proc/sys") unless index($real, '/proc/sys/') == 0;
  # A file mounted over a sysctl keeps its path: only procfs's own files are sysctls.
  return (undef, "refusing $path: it is not procfs's own file") unless (stat $fh)[0] == (stat '/proc/sys')[0];
  return ($fh, '');
}
1;
