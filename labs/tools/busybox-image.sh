#!/bin/sh
# Makes the local container image localhost/netlab-busybox from this machine's busybox-static
# (/bin/busybox and its applets as symlinks, nothing else), with `podman import`: no registry,
# no download. Does nothing when the image exists already, so it is safe to run again.
#
#   labs/tools/busybox-image.sh [PODMAN GLOBAL OPTIONS...]
#
# The options go to every podman command (e.g. `--root DIR --runroot DIR` for a throwaway
# storage, as test/live/container.test.ts does). Needs root, podman and busybox-static.
set -eu

IMAGE=localhost/netlab-busybox
BUSYBOX=${BUSYBOX:-/bin/busybox}

if podman "$@" image exists "$IMAGE"; then
  echo "$IMAGE exists already"
  exit 0
fi
if [ ! -x "$BUSYBOX" ]; then
  echo "error: $BUSYBOX not found; install busybox-static (apt-get install busybox-static)" >&2
  exit 1
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/etc" "$rootfs/tmp"
cp "$BUSYBOX" "$rootfs/bin/busybox"
# Symlinks for every applet (sh, ip, ping, sleep, ...), made by busybox itself inside the tree.
chroot "$rootfs" /bin/busybox --install -s /bin
tar -C "$rootfs" -c . | podman "$@" import --change 'CMD ["/bin/sh"]' - "$IMAGE"
