#!/usr/bin/env bash
# Compares versions with plain shell: sort -V puts the older one first.
set -euo pipefail

need={{ inputs.min_python }}
have=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
oldest=$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)
if [ "$oldest" != "$need" ]; then
  echo "python3 is $have, older than $need" >&2
  exit 1
fi
echo "python3 $have >= $need"
echo "bash ${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}"
echo "python=$have" >> "$OPSBOOK_OUTPUT"
