#!/usr/bin/env bash
set -euo pipefail

cp model.json model-approved.json
echo "promoted model with accuracy" {{ cells.train.outputs.accuracy }}
echo "path=$PWD/model-approved.json" >> "$OPSBOOK_OUTPUT"
