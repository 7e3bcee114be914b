#!/usr/bin/env bash
# Regenerates imports/: the Gateway API v1.3.0 types (cdk8s.yaml's imports, from ../shared/crds) and the
# types of our own CRDs (rendered by `agentway crds`). Offline; the Kubernetes types come from cdk8s-plus-28.
set -euo pipefail
cd "$(dirname "$0")/.."
export CDK8S_CHECK_UPGRADE=false
npx cdk8s import --language typescript --output imports
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx tsx controller/cli.ts crds > "$tmp/agentway.yaml"
# From the temporary directory: `cdk8s import <file>` records the file in the cdk8s.yaml of its working directory.
out=$PWD/imports
(cd "$tmp" && "$OLDPWD/node_modules/.bin/cdk8s" import "agentway:=$tmp/agentway.yaml" --language typescript --output "$out")
