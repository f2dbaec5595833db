#!/usr/bin/env bash
# Builds the release bundle into ./release: the version file, the changelog
# and one artifact per platform, with their checksums.
set -euo pipefail

version={{ inputs.version }}
mkdir -p release/dist
printf '%s\n' "$version" > release/VERSION

cat > release/CHANGELOG.md <<CHANGES
# Changelog

## $version

- Faster startup.
- Fixed the retry delay of HTTP cells.
CHANGES

for platform in linux-amd64 linux-arm64 darwin-arm64; do
  artifact="release/dist/app-$version-$platform"
  printf '#!/bin/sh\necho app %s %s\n' "$version" "$platform" > "$artifact"
  chmod +x "$artifact"
done

(cd release/dist && sha256sum app-* > SHA256SUMS)
echo "built release $version"
echo "artifacts=$(ls release/dist/app-* | wc -l)" >> "$OPSBOOK_OUTPUT"
