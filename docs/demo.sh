#!/bin/sh
# Builds a busybox bundle with `ociruntime spec` and runs it in the foreground.
# Usage: docs/demo.sh [BUNDLE_DIR]   (needs root and Debian's busybox-static)
set -eu
bundle=${1:-/tmp/ociruntime-demo}
rm -rf "$bundle"
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$bundle/rootfs/bin/$applet"
done
cd "$bundle"
ociruntime spec
# the process, and a cgroup of its own (an empty cgroupsPath nests under the caller's cgroup)
sed -i -e 's|^      "sh"$|      "sh", "-c", "echo Hello from $(hostname): PID $$, $(id), root $(ls /)"|' \
       -e 's|^  "linux": {$|  "linux": {\n    "cgroupsPath": "/ociruntime-demo",|' config.json
exec ociruntime run "demo-$$"
