#!/usr/bin/env bash
# Regenerates imports/: the Gateway API v1.3.0 types (Gateway, HTTPRoute, ReferenceGrant) from the CRDs that
# scripts/gateway-api-crds.ts finds ($GATEWAY_API_CRDS, ../shared/crds, the cache, else a checked download), and
# the types of our own CRDs (rendered by `agentway crds`) and their validators (scripts/validators.ts). The
# Kubernetes types come from cdk8s-plus-28.
set -euo pipefail
cd "$(dirname "$0")/.."
export CDK8S_CHECK_UPGRADE=false
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx tsx scripts/gateway-api-crds.ts "$tmp/gateway-api"
npx tsx controller/cli.ts crds > "$tmp/agentway.yaml"
# From the temporary directory: `cdk8s import <file>` records the file in the cdk8s.yaml of its working directory.
out=$PWD/imports
cdk8s=$PWD/node_modules/.bin/cdk8s
cd "$tmp"
for spec in gateway:gateways httproute:httproutes referencegrant:referencegrants agentway:; do
  name=${spec%%:*} plural=${spec#*:}
  file=$tmp/agentway.yaml
  [ -n "$plural" ] && file=$tmp/gateway-api/gateway.networking.k8s.io_$plural.yaml
  "$cdk8s" import "$name:=$file" --language typescript --output "$out"
done
# The validators of our CRs, compiled ahead of time from the same schemas.
cd "$out/.."
npx tsx scripts/validators.ts
