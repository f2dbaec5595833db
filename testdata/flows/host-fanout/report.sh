#!/usr/bin/env bash
# Joins the facts the other cells left in the shared working directory.
set -euo pipefail

cat disk.facts memory.facts load.facts processes.facts | sort > host.facts
cat host.facts
echo "facts=$(wc -l < host.facts)" >> "$OPSBOOK_OUTPUT"
