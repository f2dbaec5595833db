#!/usr/bin/env bash
# Removes files older than older_than_days, with coreutils only: stat gives
# the age, and the list of what went is filed under the report day.
set -euo pipefail

days={{ inputs.older_than_days }}
days=${days%.*}
dry_run={{ inputs.dry_run }}
report_day=$(date -d {{ inputs.report_day }} +%F)
cutoff=$(( $(date +%s) - days * 86400 ))

case $SCOPE in
  logs) dirs=("$FOLDER/log") ;;
  tmp) dirs=("$FOLDER/tmp") ;;
  all) dirs=("$FOLDER/log" "$FOLDER/tmp") ;;
esac

mkdir -p reports
report="reports/cleanup-$report_day.txt"
: > "$report"
removed=0 freed=0 kept=0
shopt -s nullglob
for dir in "${dirs[@]}"; do
  for file in "$dir"/*; do
    [ -f "$file" ] || continue
    if (( $(stat -c %Y "$file") < cutoff )); then
      size=$(stat -c %s "$file")
      if [ "$dry_run" = true ]; then
        echo "would remove $file ($size bytes)"
      else
        rm -- "$file"
        echo "removed $file ($size bytes)"
      fi
      echo "$file $size" >> "$report"
      removed=$(( removed + 1 ))
      freed=$(( freed + size ))
    else
      kept=$(( kept + 1 ))
    fi
  done
done

printf 'removed=%d\nfreed_bytes=%d\nkept=%d\ndry_run=%s\nreport=%s\n' \
  "$removed" "$freed" "$kept" "$dry_run" "$report" >> "$OPSBOOK_OUTPUT"
