#!/usr/bin/env bash
# CTest entry for the panel browser tests: run.sh [<test>.test.mjs] <hostplane binary> <artefact dir>
# (default test: signup.test.mjs).
# scripts/bootstrap installs chromium, node and the npm packages (npm ci in this folder).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v node > /dev/null || fail "node is not installed (run scripts/bootstrap)"
[ -x "${HP_CHROMIUM:-/usr/bin/chromium}" ] || fail "chromium is not installed (run scripts/bootstrap)"
[ -f "$here/node_modules/playwright-core/package.json" ] || fail "playwright-core is not installed in $here (run scripts/bootstrap)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || fail "node $(node --version) is too old for playwright-core (needs 20 or later)"
script=signup.test.mjs
if [[ "${1:-}" == *.mjs ]]; then script=$1; shift; fi
exec node "$here/$script" "$@"
