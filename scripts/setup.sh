#!/usr/bin/env bash
# Bootstrap for a fresh clone: Node dependencies first, then the zx setup script (system packages,
# default kernel, TypeScript build). Idempotent and quiet when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing Node dependencies (npm ci)" >&2
  # --prefer-offline: what npm's cache holds is not asked of the registry again (a warm clone took a minute of
  # fetches). --ignore-scripts: native-addons.mjs below runs the install scripts, taking better-sqlite3's
  # compiled addon from the cache when the same version was built for this Node before.
  npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error >&2
fi
node scripts/native-addons.mjs
exec node scripts/setup.mjs "$@"
