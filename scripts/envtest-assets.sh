#!/usr/bin/env bash
# Prints a directory holding etcd, kube-apiserver and kube-controller-manager for the test control plane.
#
# 1. $KUBEBUILDER_ASSETS, when it already holds all three (envtest's convention, e.g. setup-envtest).
# 2. A cache outside the repository ($AGENTWAY_ENVTEST_CACHE, default ~/.cache/agentway/envtest), filled
#    once by building Kubernetes 1.20.2 from Debian's source package with Debian's Go, and etcd from
#    Debian's etcd-server. Works offline except for Debian's own mirror.
#
# Everything but the final directory goes to stderr, so `dir=$(scripts/envtest-assets.sh)` works.
set -euo pipefail

K8S_DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
BINARIES=(etcd kube-apiserver kube-controller-manager)

log() { echo "envtest-assets: $*" >&2; }

has_all() {
  local dir=$1 b
  for b in "${BINARIES[@]}"; do [ -x "$dir/$b" ] || return 1; done
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && has_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

cache=${AGENTWAY_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentway/envtest}
# The suffix names the patch level of the build below; bump it whenever the build changes so that machines
# holding an older build make a new one.
out="$cache/k8s-1.20.2-r2"
if has_all "$out"; then
  echo "$out"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive

# One builder at a time: a second run waits for the first and then reuses its result.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if has_all "$out"; then
  echo "$out"
  exit 0
fi

log "building the test control plane into $out (first run only; a few minutes)"

# The Kubernetes 1.20 source package lives in bookworm; on newer Debian releases the bookworm deb-src
# line still brings it.
mirror=$( { sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
  sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null; } \
  | grep -E '/debian/?$' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
srclist=/etc/apt/sources.list.d/agentway-bookworm-src.list
if ! grep -qs "deb-src $mirror bookworm main" "$srclist"; then
  echo "deb-src $mirror bookworm main" | $SUDO tee "$srclist" >/dev/null
fi
log "apt-get update"
$SUDO apt-get update -qq >&2
log "installing build dependencies"
$SUDO apt-get install -y -qq --no-install-recommends \
  make golang-go etcd-server rsync dpkg-dev xz-utils ca-certificates \
  golang-github-modern-go-reflect2-dev >&2

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
log "fetching kubernetes=$K8S_DEB_VERSION source"
apt-get source --download-only "kubernetes=$K8S_DEB_VERSION" >&2
orig=$(ls kubernetes_*.orig.tar.* | head -n1)
mkdir src
tar -xf "$orig" -C src --strip-components=1
cd src

# The vendored reflect2 1.0.1 crashes the apiserver under Go >= 1.18 (SIGSEGV in map iteration on the
# first custom-resource watch event); Debian's 1.0.2 does not.
r2=/usr/share/gocode/src/github.com/modern-go/reflect2
rm -rf vendor/github.com/modern-go/reflect2
mkdir -p vendor/github.com/modern-go/reflect2
find "$r2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
  -exec cp {} vendor/github.com/modern-go/reflect2/ \;
sed -i 's|^# github.com/modern-go/reflect2 v1.0.1|# github.com/modern-go/reflect2 v1.0.2|' vendor/modules.txt || true
sed -i 's|github.com/modern-go/reflect2 v1.0.1|github.com/modern-go/reflect2 v1.0.2|' go.mod || true

# Since Go 1.16 reflect.Zero returns a shared pointer for small types, so the OpenAPI type validator's zero-value
# check, reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)), holds for a decoded "" and
# custom resources with an empty string field are rejected as "null". Upstream removed the check
# (kubernetes/kube-openapi#230); do the same here. go-openapi/validate carries the same code.
for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go vendor/github.com/go-openapi/validate/type.go; do
  sed -i 's/if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {/if data == nil {/' "$f"
  if grep -q 'reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data))' "$f"; then
    log "could not patch the zero-value check in $f"
    exit 1
  fi
done

mkdir -p .go/src/k8s.io
ln -s ../../.. .go/src/k8s.io/kubernetes
log "compiling kube-apiserver and kube-controller-manager (about 4-8 minutes on 2 cores)"
GOPATH=$PWD/.go GO111MODULE=${GO111MODULE:-} GOFLAGS=-mod=vendor GOTOOLCHAIN=local CGO_ENABLED=0 \
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >&2

staging="$cache/.staging.$$"
rm -rf "$staging"
mkdir -p "$staging"
cp _output/bin/kube-apiserver _output/bin/kube-controller-manager "$staging/"
etcd_bin=$(command -v etcd || echo /usr/bin/etcd)
cp "$etcd_bin" "$staging/etcd"
rm -rf "$out"
mv "$staging" "$out"
log "done"
echo "$out"
