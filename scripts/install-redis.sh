#!/usr/bin/env bash
# Prints the path of a redis-server binary for the tests of shared limits and caches, installing Debian's
# redis-server package when none is on the machine. Nothing is started here: the test harness runs the
# binary itself on a loopback port. Everything but the final path goes to stderr.
set -euo pipefail

log() { echo "install-redis: $*" >&2; }

if bin=$(command -v redis-server 2>/dev/null); then
  echo "$bin"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive

# One installer at a time: apt holds its own lock, but a second run should wait rather than fail on it.
lock=${TMPDIR:-/tmp}/agentway-install-redis.lock
exec 9>"$lock"
flock 9
if bin=$(command -v redis-server 2>/dev/null); then
  echo "$bin"
  exit 0
fi

log "installing redis-server from Debian"
$SUDO apt-get update -qq >&2
# The package's service is never wanted here: policy-rc.d keeps apt from starting it.
policy=/usr/sbin/policy-rc.d
created_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
$SUDO apt-get install -y -qq --no-install-recommends redis-server >&2
[ -n "$created_policy" ] && $SUDO rm -f "$policy"
command -v redis-server
