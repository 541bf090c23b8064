#!/usr/bin/env bash
# `make demo`: local broker and Redis up, topology applied, the built components started, and a demo
# alert sent through them. The broker and Redis keep running afterwards (`make down` stops them).
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/pipeline dev up
# The local Redis requires a password, generated into the state dir on its first start.
export PIPELINE_REDIS__PASSWORD_FILE="${PIPELINE_DEV__STATE_DIR:-$PWD/.dev}/redis/password"
.venv/bin/pipeline demo
echo
echo "The local broker and Redis are still running: 'make down' stops them."
echo "Look around: .venv/bin/pipeline topology describe; .venv/bin/pipeline tail alerts.raw"
echo "The web UI (alerts, silences) is served by the bridge at /ui/: .venv/bin/pipeline demo --keep-running leaves it up."
