#!/bin/sh
# Builds the example base image for build_image, from nothing that must be downloaded: a
# root file system holding this machine's static busybox (Debian's busybox-static) and the
# stand-in pip and apt-get beside this script, as `FROM scratch` + `ADD rootfs.tar /`.
#
#   examples/builds/make-base.sh [buildah flags...]
#
# The flags go to `buildah build` (storage options such as --storage-driver vfs --root DIR
# must match the server's builds.builder_flags). BASE_IMAGE names the image (default
# localhost/flyte-webhook-example-base:1).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
image=${BASE_IMAGE:-localhost/flyte-webhook-example-base:1}
bb=/bin/busybox
if [ ! -x "$bb" ]; then
  echo "make-base.sh: $bb is missing: apt-get install busybox-static" >&2; exit 1
fi
if ldd "$bb" >/dev/null 2>&1; then
  echo "make-base.sh: $bb is dynamically linked (Debian's busybox): the image needs busybox-static" >&2; exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
mkdir -p "$root/bin" "$root/usr/bin" "$root/usr/local/bin" "$root/tmp" "$root/var/log" "$root/var/lib/apt/lists"
cp "$bb" "$root/bin/busybox"
for applet in sh ash cat echo env ls mkdir rm sleep; do ln -s busybox "$root/bin/$applet"; done
cp "$here/pip" "$root/usr/local/bin/pip"
cp "$here/apt-get" "$root/usr/bin/apt-get"
chmod 0755 "$root/usr/local/bin/pip" "$root/usr/bin/apt-get"
chmod 1777 "$root/tmp"
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$tmp/rootfs.tar" .
printf 'FROM scratch\nADD rootfs.tar /\nENV PATH=/usr/local/bin:/usr/bin:/bin\nCMD ["/bin/sh"]\n' > "$tmp/Containerfile"
buildah build "$@" -f "$tmp/Containerfile" -t "$image" "$tmp"
