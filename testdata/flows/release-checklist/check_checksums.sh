#!/usr/bin/env bash
set -euo pipefail

cd release/dist
sha256sum --check --strict SHA256SUMS
for platform in linux-amd64 linux-arm64 darwin-arm64; do
  test -x "app-"{{ inputs.version }}"-$platform" || {
    echo "missing artifact for $platform" >&2
    exit 1
  }
done
echo "verified=$(wc -l < SHA256SUMS)" >> "$OPSBOOK_OUTPUT"
