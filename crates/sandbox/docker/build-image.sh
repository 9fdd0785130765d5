#!/usr/bin/env bash
# Builds the Docker sandbox image offline: no registry, only Debian packages.
#
#   bash crates/sandbox/docker/build-image.sh [tag]     (default tag: bookworm)
#
# Produces pydojo-sandbox:<tag>, the same image as ./Dockerfile (which needs a
# registry): Debian bookworm with python3 (3.11, at /usr/bin/python3), run as
# 65534:65534 in /work, with /etc closed to that user. Idempotent: an image
# that already carries the label of this script's content is kept.
#
# Needs root, debootstrap and a running Docker daemon. DEBIAN_MIRROR picks the
# mirror (default http://deb.debian.org/debian); FORCE=1 rebuilds anyway.
set -euo pipefail

TAG=${1:-bookworm}
IMAGE=pydojo-sandbox:$TAG
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=${DOCKER:-docker}
HERE=$(cd "$(dirname "$0")" && pwd)
# The recipe's fingerprint: a change to this script rebuilds the image.
RECIPE=$(sha256sum "$HERE/build-image.sh" | cut -c1-16)

if [ "${FORCE:-0}" != 1 ] &&
    [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "org.pydojo.recipe" }}' "$IMAGE" 2>/dev/null)" = "$RECIPE" ]; then
    echo "$IMAGE is up to date (recipe $RECIPE)"
    exit 0
fi

command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "debootstrap needs root" >&2; exit 1; }

ROOT=$(mktemp -d /tmp/pydojo-sandbox-root.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT

echo "debootstrap bookworm (minbase + python3) into $ROOT"
debootstrap --variant=minbase --include=python3 \
    bookworm "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || { tail -n 30 "$ROOT.log" >&2; rm -f "$ROOT.log"; exit 1; }
rm -f "$ROOT.log"

# What a run never needs: package management, documentation, caches, logs.
# The image is only ever used read-only, so dpkg's state goes too.
rm -rf "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
    "$ROOT"/usr/share/locale/* "$ROOT"/usr/share/lintian "$ROOT"/usr/share/zoneinfo \
    "$ROOT"/var/cache/* "$ROOT"/var/lib/apt "$ROOT"/var/log/* \
    "$ROOT"/usr/bin/apt* "$ROOT"/usr/lib/apt "$ROOT"/etc/apt "$ROOT"/usr/share/perl* \
    "$ROOT"/usr/lib/x86_64-linux-gnu/perl* "$ROOT"/usr/bin/perl* \
    "$ROOT"/var/lib/dpkg "$ROOT"/usr/share/bash-completion "$ROOT"/root/.[!.]* \
    "$ROOT"/usr/lib/python3.11/ensurepip "$ROOT"/usr/lib/python3.11/lib2to3/tests
find "$ROOT"/usr/lib/python3* -name '*.pyc' -path '*/test/*' -delete 2>/dev/null || true
# Precompiled bytecode: the root file system is read-only in a run, so
# python3 could not write it later.
chroot "$ROOT" /usr/bin/python3 -m compileall -q -j 0 /usr/lib/python3.11 >/dev/null 2>&1 || true
# The work directory (a tmpfs in every run) and a closed /etc: the program
# runs as 65534 and needs nothing there (no passwd lookups, no ld.so.cache),
# and Docker's /etc/hostname, /etc/hosts and /etc/resolv.conf become
# unreadable too.
mkdir -p "$ROOT/work"
chmod 0700 "$ROOT/etc" "$ROOT/root"

echo "importing $IMAGE"
tar --numeric-owner -C "$ROOT" -c . | "$DOCKER" import \
    --change 'USER 65534:65534' \
    --change 'WORKDIR /work' \
    --change 'ENV PATH=/usr/bin:/bin' \
    --change "LABEL org.pydojo.recipe=$RECIPE" \
    --change 'CMD ["/usr/bin/python3"]' \
    - "$IMAGE" >/dev/null

"$DOCKER" run --rm --network none "$IMAGE" /usr/bin/python3 -I -S -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version; print("python", sys.version.split()[0])'
"$DOCKER" image ls "$IMAGE"
