#!/usr/bin/env bash
# Builds the repository's Dockerfile without a Docker engine: buildah (vfs storage, chroot isolation) on base
# images made here from Debian packages. Leaves localhost/agentway:<package version> in buildah's store and
# writes it as an OCI archive to image/agentway-<version>.oci.tar.
#
# The base images are debootstrapped from Debian trixie, whose nodejs is 20 (bookworm's is 18):
#   localhost/agentway-base:trixie        minimal Debian + nodejs        (BASE_IMAGE, runs agentway)
#   localhost/agentway-build-base:trixie  the same + npm                 (BUILD_IMAGE, compiles it)
# Both stay in buildah's store, and the debootstrapped root file system is kept as a tarball in
# ~/.cache/agentway/image/ ($AGENTWAY_IMAGE_CACHE), so only the first run pays for debootstrap.
# Needs root (or sudo) for apt, debootstrap and buildah's store, and Debian's mirror and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=trixie
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=localhost/agentway-base:$SUITE
BUILD_BASE=localhost/agentway-build-base:$SUITE
CACHE=${AGENTWAY_IMAGE_CACHE:-$HOME/.cache/agentway/image}
VERSION=$(node -p 'require("./package.json").version')
IMAGE=localhost/agentway:$VERSION
ARCHIVE=image/agentway-$VERSION.oci.tar
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
started=$SECONDS
say() { echo "image: $* ($((SECONDS - started)) s)" >&2; }

missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} with apt"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bah() { "${sudo[@]}" env STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot buildah "$@"; }
has_image() { bah inspect --type image "$1" >/dev/null 2>&1; }

# A minimal trixie with nodejs, without apt's lists and caches, documentation or man pages.
base_rootfs() {
  local tarball=$CACHE/rootfs-$SUITE-nodejs.tar
  if [ ! -s "$tarball" ]; then
    local root
    root=$(mktemp -d)
    say "debootstrap $SUITE with nodejs from $MIRROR (first run only)"
    "${sudo[@]}" debootstrap --variant=minbase --include=nodejs "$SUITE" "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
    "${sudo[@]}" rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
      "$root"/usr/share/man/* "$root"/var/log/*
    "${sudo[@]}" tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
    "${sudo[@]}" rm -rf "$root"
    mv "$tarball.tmp" "$tarball"
  fi
  echo "$tarball"
}

mkdir -p "$CACHE" image
if ! has_image "$BASE"; then
  tarball=$(base_rootfs)
  say "committing $BASE"
  ctr=$(bah from scratch)
  bah add "$ctr" "$tarball" / >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$ctr"
  bah commit --quiet --rm "$ctr" "$BASE" >/dev/null
fi
if ! has_image "$BUILD_BASE"; then
  say "committing $BUILD_BASE (adds npm)"
  ctr=$(bah from --pull=false "$BASE")
  bah run --network host "$ctr" -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends npm >/dev/null && rm -rf /var/lib/apt/lists/*'
  bah commit --quiet --rm "$ctr" "$BUILD_BASE" >/dev/null
fi

# npm in the build stage trusts what this machine trusts (a TLS-intercepting proxy's CA, for one).
ca=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
secret=()
if [ -f "$ca" ]; then secret=(--secret "id=ca-certificates,src=$ca"); fi
say "building $IMAGE from Dockerfile"
bah build --quiet --layers --pull=false --network host "${secret[@]}" \
  --build-arg BASE_IMAGE="$BASE" --build-arg BUILD_IMAGE="$BUILD_BASE" -t "$IMAGE" -f Dockerfile . >/dev/null
rm -f "$ARCHIVE"
bah push --quiet "$IMAGE" "oci-archive:$ARCHIVE:$IMAGE"
if [ -n "${SUDO_UID:-}" ] || [ ${#sudo[@]} -gt 0 ]; then "${sudo[@]}" chown "$(id -u):$(id -g)" "$ARCHIVE"; fi
say "built $IMAGE ($(bah images --format '{{.Size}}' "$IMAGE"); $(du -m "$ARCHIVE" | cut -f1) MB compressed as $ARCHIVE)"
