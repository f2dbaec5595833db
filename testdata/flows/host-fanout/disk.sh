#!/usr/bin/env bash
# The four fact cells do not depend on each other, so in graph order they
# start together; each sleeps a little, as a real probe would wait.
set -euo pipefail
sleep 0.3

read -r _ size used avail pct mount < <(df -Pk . | tail -n 1)
echo "disk of $mount: $pct of $size kB used"
printf 'disk_used_pct=%s\ndisk_avail_kb=%s\n' "${pct%\%}" "$avail" | tee disk.facts >> "$OPSBOOK_OUTPUT"
