#!/usr/bin/env bash
# Install-alone check: for each package, a fresh virtualenv holding only ./shared and that package (versions
# constrained to uv.lock so nothing new is downloaded), then its smoke recipe runs from outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENVS=${CI_VENV_DIR:-$ROOT/.ci-venvs}
PAPERS=${*:-$(ls packages)}
mkdir -p "$VENVS"
constraints="$VENVS/constraints.txt"
uv export --frozen --all-packages --all-extras --no-hashes --no-emit-workspace --no-header -q -o "$constraints" >/dev/null
failed=()
for p in $PAPERS; do
  v="$VENVS/alone-$p"
  rm -rf "$v"
  uv venv -q --python 3.11 "$v" 2>/dev/null || uv venv -q "$v"
  echo "== install-alone $p"
  if ! VIRTUAL_ENV="$v" uv pip install -q -c "$constraints" ./shared "./packages/$p"; then
    failed+=("$p(install)"); continue
  fi
  work=$(mktemp -d)
  # run outside the repo: the installed package must find its recipes as package data
  if ! (cd "$work" && HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MLREPRO_RUNS_DIR="$work/runs" \
        "$v/bin/mlrepro-$p" reproduce --recipe smoke >"$work/log" 2>&1); then
    tail -40 "$work/log"; failed+=("$p(smoke)")
  else
    "$v/bin/python" -c "import mlrepro_$p" && ls "$work"/runs/$p/smoke/*/results.json >/dev/null && echo "ok $p"
  fi
  rm -rf "$work"
done
if [ ${#failed[@]} -gt 0 ]; then echo "install-alone FAILED: ${failed[*]}"; exit 1; fi
echo "install-alone: all ok"
