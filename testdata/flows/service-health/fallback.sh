#!/usr/bin/env bash
# Runs only when the probe did not answer 200: record what we saw so the
# on-call person has something to start from.
set -euo pipefail

echo "service:" {{ inputs.service }}
echo "probe of" {{ inputs.base_url }}"/health answered" {{ cells.probe?.status ?? "nothing" }}
checked_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "checked at $checked_at"

{
  echo "state=degraded"
  echo "checked_at=$checked_at"
} >> "$OPSBOOK_OUTPUT"
