# Library for the helpers that speak rtnetlink (require 'rtnetlink.pl'). nl_socket() opens a
# route socket asking for extended acks; nl_send(SOCK, MSG) sends a request (its sequence number
# set here) and returns the answer: every message of a dump up to NLMSG_DONE, the one reply of a
# get, '' for an ack; on failure (undef, ERRNO, TEXT): the kernel's errno and extended-ack message,
# or errno 0 and what failed locally. nl_request(SOCK, TYPE, FLAGS, BODY) builds the header first.
use strict; use warnings;
my $nl_seq = 0;
sub nl_socket {
  socket(my $fh, 16, 3, 0) or return undef;
  setsockopt($fh, 270, 11, pack('l', 1)); # NETLINK_EXT_ACK
  setsockopt($fh, 270, 10, pack('l', 1)); # NETLINK_CAP_ACK
  return $fh;
}
sub nl_send {
  my ($s, $msg) = @_;
  $nl_seq++;
  substr($msg, 8, 4) = pack('L', $nl_seq);
  my $dump = (unpack('S', substr($msg, 6, 2)) & 0x300) == 0x300;
  send($s, $msg, 0) // return (undef, 0, "send: $!");
  my $out = '';
  while (1) {
    my $buf = '';
    defined(recv($s, $buf, 1 << 20, 0)) or return (undef, 0, "recv: $!");
    my $off = 0;
    while ($off + 16 <= length $buf) {
      my ($len, $type, $flags, $sq) = unpack('LSSL', substr($buf, $off, 12));
      last if $len < 16;
      if ($sq == $nl_seq) {
        return ($out) if $type == 3; # NLMSG_DONE
        if ($type == 2) { # NLMSG_ERROR: an ack when the error is 0
          my $err = unpack('l', substr($buf, $off + 16, 4));
          return ($out) unless $err;
          my $text = '';
          if ($flags & 0x200) { # NLM_F_ACK_TLVS: extended ack after the echoed header
            my $a = $off + 16 + 4 + 16;
            while ($a + 4 <= $off + $len) {
              my ($alen, $atype) = unpack('SS', substr($buf, $a, 4));
              last if $alen < 4;
              if ($atype == 1) { $text = substr($buf, $a + 4, $alen - 4); $text =~ s/\0.*//s; last }
              $a += ($alen + 3) & ~3;
            }
          }
          return (undef, -$err, $text);
        }
        $out .= substr($buf, $off, $len);
        return ($out) unless $dump;
      }
      $off += ($len + 3) & ~3;
    }
  }
}
sub nl_request {
  my ($s, $type, $flags, $body) = @_;
  return nl_send($s, pack('LSSLL', 16 + length($body), $type, $flags, 0, 0) . $body);
}
1;
