#!/usr/bin/python3
# A VM's network card, without the VM: opens a TAP or MACVTAP device the way QEMU does and plays
# the guest behind it. Plain Python 3 (Debian's /usr/bin/python3), no dependencies. Run it inside
# the device's namespace (ip netns exec NS ..., netlab exec LAB HOST -- ..., or a lab's `run:`).
#
#   vm-nic.py tap|macvtap DEV --mac M --ip A
#       serve: answer ARP requests for A and ICMP echo requests to A as MAC M, until killed;
#       logs one line per answer.
#   vm-nic.py tap|macvtap DEV --mac M --ip A --ping B [--count N] [--timeout S]
#       ping: resolve B with ARP, send it N ICMP echo requests (default 3), print one JSON line,
#       {"ok":true,"mac":"<B's MAC>","replies":N,"rtt_ms":[...]} or {"ok":false,"error":"..."},
#       and exit 0 either way (the JSON says what happened).
#
# tap: attaches to the (persistent) tap DEV through /dev/net/tun with TUNSETIFF (IFF_TAP |
# IFF_NO_PI: plain Ethernet frames), as the calling user, so the device's owner and group are
# enforced. A tap has no carrier until a process attaches like this.
# macvtap: opens the macvtap's character device /dev/tapN, N its ifindex. /dev is the machine's
# and ifindexes repeat across namespaces, so the device number comes from sysfs in this namespace
# (/sys/class/net/DEV/ifindex, /sys/class/net/DEV/macvtap/tapN/dev = major:minor) and the node is
# made with mknod in a temporary directory (needs root). Then TUNSETIFF clears the virtio-net
# header a macvtap puts in front of each frame by default.
import argparse
import fcntl
import json
import os
import select
import socket
import stat
import struct
import sys
import tempfile
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_ARP, ETH_IP = b"\x08\x06", b"\x08\x00"


def open_device(kind, name):
    """A file descriptor that reads and writes DEV's frames, as the VM's side of it."""
    if kind == "tap":
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
        return fd
    ifindex = open("/sys/class/net/%s/ifindex" % name).read().strip()
    major, minor = open("/sys/class/net/%s/macvtap/tap%s/dev" % (name, ifindex)).read().strip().split(":")
    d = tempfile.mkdtemp(prefix="vm-nic-")
    node = os.path.join(d, "tap%s" % ifindex)
    os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(int(major), int(minor)))
    try:
        fd = os.open(node, os.O_RDWR)
    finally:
        os.unlink(node)
        os.rmdir(d)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"", IFF_TAP | IFF_NO_PI))
    return fd


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def mac_text(b):
    return ":".join("%02x" % x for x in b)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def arp(op, mac, ip, dst_mac, target_mac, target_ip):
    """An ARP frame: op 1 request, 2 reply."""
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac + ip + target_mac + target_ip
    return (dst_mac + mac + ETH_ARP + body).ljust(60, b"\0")


def ipv4_icmp(mac, dst_mac, src, dst, icmp_type, ident, seq, payload):
    """An Ethernet frame with an IPv4 ICMP message (type 8 echo request, 0 echo reply)."""
    icmp = struct.pack("!BBHHH", icmp_type, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0, src, dst)
    iph = iph[:10] + struct.pack("!H", checksum(iph)) + iph[12:]
    return dst_mac + mac + ETH_IP + iph + icmp


def parse_icmp(f):
    """(source address, destination address, ICMP message) of an IPv4 ICMP frame, else None."""
    if len(f) < 34 or f[12:14] != ETH_IP or f[14] >> 4 != 4 or f[23] != 1:
        return None
    ihl = (f[14] & 0x0F) * 4
    total = struct.unpack("!H", f[16:18])[0]
    icmp = f[14 + ihl : 14 + total]
    return (f[26:30], f[30:34], icmp) if len(icmp) >= 8 else None


def frames(fd, until):
    """Frames read from fd until the monotonic time `until`."""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return
        r, _, _ = select.select([fd], [], [], left)
        if r:
            yield os.read(fd, 65536)


def serve(fd, mac, ip, log):
    while True:
        f = os.read(fd, 65536)
        if len(f) >= 42 and f[12:14] == ETH_ARP and f[20:22] == b"\x00\x01" and f[38:42] == ip:
            sender_mac, sender_ip = f[22:28], f[28:32]
            os.write(fd, arp(2, mac, ip, sender_mac, sender_mac, sender_ip))
            log("ARP: %s is at %s (asked by %s)" % (socket.inet_ntoa(ip), mac_text(mac), socket.inet_ntoa(sender_ip)))
            continue
        p = parse_icmp(f)
        if p and p[1] == ip and p[2][0] == 8:
            src, _, icmp = p
            ident, seq = struct.unpack("!HH", icmp[4:8])
            os.write(fd, ipv4_icmp(mac, f[6:12], ip, src, 0, ident, seq, icmp[8:]))
            log("ICMP: echo reply to %s seq %d" % (socket.inet_ntoa(src), seq))


def ping(fd, mac, ip, to, count, timeout):
    peer = None
    deadline = time.monotonic() + timeout
    while peer is None and time.monotonic() < deadline:
        os.write(fd, arp(1, mac, ip, b"\xff" * 6, b"\0" * 6, to))
        for f in frames(fd, min(deadline, time.monotonic() + 0.3)):
            if len(f) >= 42 and f[12:14] == ETH_ARP and f[20:22] == b"\x00\x02" and f[28:32] == to and f[32:38] == mac:
                peer = f[22:28]
                break
    if peer is None:
        return {"ok": False, "error": "no ARP reply from %s" % socket.inet_ntoa(to)}
    rtts = []
    ident = os.getpid() & 0xFFFF
    for seq in range(1, count + 1):
        sent = time.monotonic()
        os.write(fd, ipv4_icmp(mac, peer, ip, to, 8, ident, seq, b"netlab-vm-nic" + struct.pack("!d", time.time())))
        for f in frames(fd, time.monotonic() + 1.0):
            p = parse_icmp(f)
            if p and p[0] == to and p[2][0] == 0 and struct.unpack("!HH", p[2][4:8]) == (ident, seq):
                rtts.append(round((time.monotonic() - sent) * 1000, 3))
                break
    return {"ok": len(rtts) > 0, "mac": mac_text(peer), "replies": len(rtts), "rtt_ms": rtts}


def main():
    p = argparse.ArgumentParser(description="Plays a VM's network card on a TAP or MACVTAP device.")
    p.add_argument("kind", choices=["tap", "macvtap"])
    p.add_argument("dev", help="the device's name in this namespace")
    p.add_argument("--mac", required=True, help="the VM's MAC address")
    p.add_argument("--ip", required=True, help="the VM's IPv4 address")
    p.add_argument("--ping", metavar="B", help="ping B once resolved, print the result as JSON and exit")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for B's ARP reply")
    o = p.parse_args()
    mac, ip = mac_bytes(o.mac), socket.inet_aton(o.ip)
    try:
        fd = open_device(o.kind, o.dev)
    except OSError as e:
        if o.ping:
            print(json.dumps({"ok": False, "error": "%s: %s" % (e.__class__.__name__, e)}))
            return 0
        print("vm-nic: cannot open %s %s: %s" % (o.kind, o.dev, e), file=sys.stderr)
        return 1
    if o.ping:
        print(json.dumps(ping(fd, mac, ip, socket.inet_aton(o.ping), o.count, o.timeout)))
        return 0

    def log(msg):
        print("vm-nic %s: %s" % (o.dev, msg), flush=True)

    log("attached to %s %s as %s %s" % (o.kind, o.dev, o.mac, o.ip))
    serve(fd, mac, ip, log)


sys.exit(main())
