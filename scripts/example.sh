#!/usr/bin/env bash
# The main job on the bundled example: inspect the reference model, then compress it with the
# example plan and print the report. The example output folder is ours, so it is replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/build.mjs
node dist/cli.js inspect models/rankwise-brown-14m
rm -rf out/examples/brown-svd-20
node dist/cli.js compress examples/brown-svd-20.rankwise.json
