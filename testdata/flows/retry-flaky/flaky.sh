#!/usr/bin/env bash
set -euo pipefail

attempt=$(( $(cat attempts.txt 2>/dev/null || echo 0) + 1 ))
echo "$attempt" > attempts.txt
echo "attempt $attempt"

if (( attempt < 2 )); then
  echo "upstream timed out (simulated), try again" >&2
  exit 1
fi

echo "upstream answered on attempt $attempt"
echo "attempts=$attempt" >> "$OPSBOOK_OUTPUT"
