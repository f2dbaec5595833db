#!/usr/bin/env bash
# Lays out a folder with files of several ages, as a real host would have.
set -euo pipefail

folder={{ inputs.folder }}
mkdir -p "$folder/log" "$folder/tmp"
mkfile() { # mkfile PATH DAYS_OLD SIZE_KB
  head -c "$(( $3 * 1024 ))" /dev/zero > "$1"
  touch -d "$2 days ago" "$1"
}
mkfile "$folder/log/app.log"          1  8
mkfile "$folder/log/app.log.1"       10 16
mkfile "$folder/log/app.log.2"       40 32
mkfile "$folder/tmp/upload-1.part"    2  4
mkfile "$folder/tmp/cache.bin"       20 64
touch -d "2020-01-01" "$folder/log/audit-2019.log"
ls -lR "$folder"
