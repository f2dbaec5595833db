#!/usr/bin/env bash
set -euo pipefail

heading="## "{{ inputs.version }}
if ! grep -qxF -- "$heading" release/CHANGELOG.md; then
  echo "CHANGELOG.md has no \"$heading\" section" >&2
  exit 1
fi
entries=$(sed -n "/^$heading\$/,/^## /p" release/CHANGELOG.md | grep -c '^- ' || true)
echo "changelog has $entries entries for this release"
echo "entries=$entries" >> "$OPSBOOK_OUTPUT"
