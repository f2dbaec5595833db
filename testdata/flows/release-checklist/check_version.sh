#!/usr/bin/env bash
set -euo pipefail

want={{ inputs.version }}
got=$(cat release/VERSION)
if [ "$got" != "$want" ]; then
  echo "VERSION says $got, but we are releasing $want" >&2
  exit 1
fi
if ! [[ "$got" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "version $got is not MAJOR.MINOR.PATCH" >&2
  exit 1
fi
echo "version $got ok"
