#!/usr/bin/env bash
set -euo pipefail
sleep 0.3

read -r one five fifteen _ < /proc/loadavg
cpus=$(nproc)
echo "load: $one $five $fifteen on $cpus CPUs"
printf 'load1=%s\ncpus=%s\n' "$one" "$cpus" | tee load.facts >> "$OPSBOOK_OUTPUT"
