#!/usr/bin/env bash
# Runs the image tests (test/image/) alone, building the image with scripts/image.sh first when buildah's store
# does not have it. `npm test` runs them too, wherever buildah is usable.
set -euo pipefail
cd "$(dirname "$0")/.."
image=localhost/agentway:$(node -p 'require("./package.json").version')
if ! STORAGE_DRIVER=vfs buildah inspect --type image "$image" >/dev/null 2>&1; then bash scripts/image.sh; fi
NODE_OPTIONS=--experimental-vm-modules exec npx jest test/image "$@"
