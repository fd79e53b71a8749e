#!/usr/bin/env bash
# Bootstrap for a fresh clone: Node dependencies first, then the zx setup script (system packages,
# default kernel, TypeScript build). Idempotent and quiet when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing Node dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
exec node scripts/setup.mjs "$@"
