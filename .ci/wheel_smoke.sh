#!/usr/bin/env bash
# The package a user installs: build the wheel, install it into a clean virtualenv (no source
# tree on the path) and check that it imports, its CLI runs, the demo runs on a fresh home, and
# the package data is inside (the dashboard's files, py.typed and the sync twin's stub).
#
#   .ci/wheel_smoke.sh [python]     (default: .venv/bin/python, which needs the `build` package)
#
# Build the dashboard first (cd web && npm ci && npm run build): the wheel ships its build.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-.venv/bin/python}
if [ ! -f src/fstore/web_dist/index.html ]; then
    echo "wheel smoke: src/fstore/web_dist/index.html is missing: cd web && npm ci && npm run build" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" -m build --wheel --outdir "$work/dist" . >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; exit 1; }
wheel=$(ls "$work"/dist/fstore-*.whl)
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel"
bin="$work/venv/bin"
cd "$work"  # nothing of the source tree is importable from here

"$bin/python" - <<'PY'
import importlib.metadata
import importlib.resources
import sys

import fstore

root = importlib.resources.files("fstore")
assert fstore.__file__.startswith(sys.prefix), f"fstore imported from {fstore.__file__}, not the wheel"
assert fstore.__version__ == importlib.metadata.version("fstore"), "two versions"
for name in ("web_dist/index.html", "py.typed", "sync.pyi"):
    assert root.joinpath(name).is_file(), f"the wheel lacks fstore/{name}"
assert any(p.name.endswith(".js") for p in root.joinpath("web_dist", "assets").iterdir()), "no dashboard code"
store = fstore.FeatureStore.sync(home="sdk-home")
assert "get_historical_features" in dir(store)
store.close()
print(f"wheel smoke: fstore {fstore.__version__} imports from {fstore.__file__}")
PY

if "$bin/fstore" --help | grep -q -- "--version"; then
    "$bin/fstore" --version | grep -q "$("$bin/python" -c 'import fstore; print(fstore.__version__)')"
else
    "$bin/fstore" --help >/dev/null
fi
export FSTORE_HOME="$work/home"
if "$bin/fstore" --help | grep -qE "^│ +init "; then
    "$bin/fstore" init >/dev/null
fi
"$bin/fstore" demo --customers 30 --events 3 --days 5 >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; exit 1; }
"$bin/fstore" features list >/dev/null
echo "wheel smoke: $(basename "$wheel") installed in a clean virtualenv; CLI and demo ran"
