#!/usr/bin/env bash
# Stands in for a nightly batch: processes a few records, one of them bad.
set -euo pipefail

processed=0 failed=0
for record in alpha bravo charlie delta "" echo; do
  if [ -z "$record" ]; then
    echo "skipping an empty record" >&2
    failed=$(( failed + 1 ))
    continue
  fi
  processed=$(( processed + 1 ))
done
echo "processed $processed records, $failed failed"
printf 'processed=%d\nfailed=%d\n' "$processed" "$failed" >> "$OPSBOOK_OUTPUT"
