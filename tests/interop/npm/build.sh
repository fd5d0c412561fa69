#!/usr/bin/env bash
# Installs the npm WHIP/WHEP clients (registry access needed here, never at test time) and
# bundles them into build/eyevinn.js, which tests/browser/test_npm_clients.py loads.
set -euo pipefail
cd "$(dirname "$0")"
npm install --no-audit --no-fund --loglevel=error
npx esbuild entry.js --bundle --format=iife --platform=browser --log-level=warning \
  --outfile=build/eyevinn.js
