#!/usr/bin/env bash
# The whole test suite, all five layers of TESTING.md, in order of cost. `npm test` runs this and
# .ci/run runs `npm test`. Exits non-zero if any layer fails; prints a closing summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh || exit 1

failed=()
step() {
  local name=$1; shift
  echo "=== $name: $*"
  local t0=$SECONDS
  if "$@"; then echo "=== $name: ok ($((SECONDS - t0)) s)"; else echo "=== $name: FAILED ($((SECONDS - t0)) s)"; failed+=("$name"); fi
}

step build node scripts/build.mjs --tests || true
[ ${#failed[@]} -eq 0 ] || { echo "build failed"; exit 1; }
step typecheck npx --no-install tsc -p . --noEmit
step lint npx --no-install eslint --max-warnings 0 sidecar extension webview test bench scripts
# Layers 1-3: engine units, protocol (spawns dist/sidecar.js), extension logic without VS Code.
step unit node --test --test-concurrency=1 out/test/unit/
# Layer 4: webview panels in headless Chromium.
step webview node scripts/webview-test.mjs
# Layer 5: the extension in a real VS Code (code-server) driven by headless Chromium.
step integration node scripts/integration.mjs

if [ ${#failed[@]} -eq 0 ]; then
  echo "all test layers passed"
else
  echo "failed layers: ${failed[*]}"
  exit 1
fi
