#!/usr/bin/env bash
set -euo pipefail
sleep 0.3

total=0 avail=0
while read -r key value _; do
  case $key in
    MemTotal:) total=$value ;;
    MemAvailable:) avail=$value ;;
  esac
done < /proc/meminfo
echo "memory: $avail kB available of $total kB"
printf 'mem_total_kb=%s\nmem_avail_kb=%s\n' "$total" "$avail" | tee memory.facts >> "$OPSBOOK_OUTPUT"
