#!/usr/bin/env bash
set -euo pipefail

heading="## "{{ inputs.version }}
if ! grep -qxF -- "$heading" release/CHANGELOG.md; then
  echo "CHANGELOG.md has no \"$heading\" section" >&2
  exit 1
fi
# The heading is data: awk gets it as a variable, never inside its program.
entries=$(awk -v heading="$heading" '$0 == heading { on = 1; next } /^## / { on = 0 } on && /^- / { n++ } END { print n + 0 }' release/CHANGELOG.md)
echo "changelog has $entries entries for this release"
echo "entries=$entries" >> "$OPSBOOK_OUTPUT"
