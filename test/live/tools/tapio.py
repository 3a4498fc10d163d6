#!/usr/bin/python3
# Traffic through a TAP or MACVTAP device for live tests: plays the "VM" behind the device.
# Plain Python 3 (Debian's /usr/bin/python3), no dependencies.
#
#   tapio.py tap NAME     --mac M --ip A --to B [--count N] [--timeout S]
#   tapio.py macvtap NAME --mac M --ip A --to B [--count N] [--timeout S]
#
# tap: attaches to the (persistent) tap NAME with TUNSETIFF, as the calling user (so the device's
# owner and group are enforced). macvtap: opens the character device of the macvtap NAME, found
# through sysfs (/sys/class/net/NAME/ifindex and .../macvtap/tapN/dev, major:minor) and made with
# mknod in a temporary directory, since /dev is the machine's and ifindexes repeat across namespaces.
# Run it inside the device's namespace (ip netns exec NS ...), so sysfs and TUNSETIFF see it.
#
# Then, as MAC M with address A: resolves B with ARP and sends N ICMP echo requests to it.
# Prints one JSON line: {"ok":true,"mac":"<B's MAC>","replies":N,"rtt_ms":[...]} or
# {"ok":false,"error":"..."}; exits 0 either way (the JSON says what happened).
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


def args():
    a = sys.argv[1:]
    if len(a) < 2 or a[0] not in ("tap", "macvtap"):
        sys.exit("usage: tapio.py tap|macvtap NAME --mac M --ip A --to B [--count N] [--timeout S]")
    opts = {"kind": a[0], "name": a[1], "count": 3, "timeout": 3.0}
    rest = a[2:]
    for i in range(0, len(rest), 2):
        k, v = rest[i], rest[i + 1]
        opts[k.lstrip("-")] = v
    opts["count"] = int(opts["count"])
    opts["timeout"] = float(opts["timeout"])
    return opts


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


def open_device(kind, name):
    if kind == "tap":
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
        return fd
    ifindex = open("/sys/class/net/%s/ifindex" % name).read().strip()
    major, minor = open("/sys/class/net/%s/macvtap/tap%s/dev" % (name, ifindex)).read().strip().split(":")
    d = tempfile.mkdtemp(prefix="tapio-")
    node = os.path.join(d, "tap%s" % ifindex)
    os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(int(major), int(minor)))
    try:
        fd = os.open(node, os.O_RDWR)
    finally:
        os.unlink(node)
        os.rmdir(d)
    # Plain frames: no virtio-net header in front (macvtap has one by default).
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"", IFF_TAP | IFF_NO_PI))
    return fd


def frames(fd, until):
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return
        r, _, _ = select.select([fd], [], [], left)
        if r:
            yield os.read(fd, 65536)


def main():
    o = args()
    mac, ip, to = mac_bytes(o["mac"]), socket.inet_aton(o["ip"]), socket.inet_aton(o["to"])
    try:
        fd = open_device(o["kind"], o["name"])
    except OSError as e:
        print(json.dumps({"ok": False, "error": "%s: %s" % (e.__class__.__name__, e)}))
        return
    arp = (
        b"\xff" * 6 + mac + b"\x08\x06"
        + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
        + mac + ip + b"\0" * 6 + to
    ).ljust(60, b"\0")
    peer = None
    deadline = time.monotonic() + o["timeout"]
    while peer is None and time.monotonic() < deadline:
        os.write(fd, arp)
        for f in frames(fd, min(deadline, time.monotonic() + 0.3)):
            if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and f[28:32] == to and f[32:38] == mac:
                peer = f[22:28]
                break
    if peer is None:
        print(json.dumps({"ok": False, "error": "no ARP reply from %s" % o["to"]}))
        return
    rtts = []
    ident = os.getpid() & 0xFFFF
    for seq in range(1, o["count"] + 1):
        payload = b"netlab-tapio" + struct.pack("!d", time.time())
        icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0, ip, to)
        iph = iph[:10] + struct.pack("!H", checksum(iph)) + iph[12:]
        sent = time.monotonic()
        os.write(fd, peer + mac + b"\x08\x00" + iph + icmp)
        for f in frames(fd, time.monotonic() + 1.0):
            if len(f) < 42 or f[12:14] != b"\x08\x00":
                continue
            ihl = (f[14] & 0x0F) * 4
            ic = f[14 + ihl :]
            if f[23] == 1 and f[26:30] == to and len(ic) >= 8 and ic[0] == 0 and struct.unpack("!HH", ic[4:8]) == (ident, seq):
                rtts.append(round((time.monotonic() - sent) * 1000, 3))
                break
    print(json.dumps({"ok": len(rtts) > 0, "mac": mac_text(peer), "replies": len(rtts), "rtt_ms": rtts}))


main()
