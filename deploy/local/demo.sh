#!/usr/bin/env bash
# `make demo`: local broker and Redis up, topology applied, the built components started, and a demo
# alert sent through them. The broker and Redis keep running afterwards (`make down` stops them).
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/pipeline dev up
.venv/bin/pipeline demo
echo
echo "The local broker and Redis are still running: 'make down' stops them."
echo "Look around: .venv/bin/pipeline topology describe; .venv/bin/pipeline tail alerts.raw"
echo "The web UI (alerts, silences) is served by the bridge at /ui/: .venv/bin/pipeline demo --keep-running leaves it up."
