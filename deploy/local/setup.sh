#!/usr/bin/env bash
# Prepares a fresh Debian machine (or refreshes a used one) for the demo, the tests and CI:
# system packages, a Python 3.11 virtualenv in .venv with the project installed, and the Kafka jars.
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Real Alertmanager 0.25 and Prometheus: compatibility tests and side-by-side benchmarks use them.
command -v alertmanager >/dev/null 2>&1 || command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# The web UI: Node.js and npm build it (pipeline/ui/web); its browser tests drive Debian's Chromium.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)  # text in the screenshots
# NATS server with JetStream: the NATS stream source's tests and `pipeline dev nats up` (Debian puts it in /usr/sbin).
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
# PostgreSQL 15 for the alert history: `pipeline dev postgres up` and the tests run its initdb/pg_ctl.
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
    # The package would create and start a system cluster on 5432; the project runs its own.
    $sudo mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/alert-pipeline.conf >/dev/null
  fi
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=""
for candidate in "${PYTHON:-}" python3.11 python3; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
     && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "setup: Python 3.11+ is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
# Reinstall only when the dependency list changed.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing the project and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The web UI's bundle: exact versions from package-lock.json (install scripts off: esbuild's binary
# comes in its platform package), then a reproducible build into pipeline/ui/static (committed; the
# build writes the same bytes unless the sources changed).
ui=pipeline/ui/web
ui_stamp="$ui/node_modules/.installed-$(sha256sum "$ui/package-lock.json" | cut -c1-16)"
if [ ! -f "$ui_stamp" ]; then
  echo "setup: installing the web UI's build tools (npm ci)"
  rm -rf "$ui/node_modules"
  npm ci --prefix "$ui" --ignore-scripts --no-audit --no-fund --loglevel=error
  touch "$ui_stamp"
fi
node "$ui/build.mjs"

.venv/bin/pipeline dev broker fetch
