#!/usr/bin/env bash
# The whole test suite, as `make test` runs it (and CI through .ci/run):
#   1. the lock check (lint is `make lint`);
#   2. the shared library's tests (and the recipe-loading test over every package) in the workspace env;
#   3. each package's tests in its own environment, synced with only that package (`uv run --package --exact`);
#   4. the install-alone check: a fresh virtualenv per package with only ./shared and the package, smoke recipe.
# Set CI_PACKAGES="a b" to restrict steps 3-4; CI_SKIP_ALONE=1 skips step 4.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PAPERS=${CI_PACKAGES:-$(ls packages)}
VENVS=${CI_VENV_DIR:-$ROOT/.ci-venvs}
mkdir -p "$VENVS"
t0=$(date +%s)
stamp() { echo "[ci $(( $(date +%s) - t0 ))s] $*"; }

stamp "uv lock --check"
uv lock --check

failed=()
stamp "shared tests"
if ! uv run --frozen --all-packages --group dev pytest shared/tests -q -p no:cacheprovider; then
  failed+=("shared")
fi
for p in $PAPERS; do
  stamp "package $p: tests in an environment with only mlrepro-$p"
  if ! UV_PROJECT_ENVIRONMENT="$VENVS/pkg-$p" uv run --frozen --exact --package "mlrepro-$p" --group dev \
      pytest "packages/$p/tests" -q -p no:cacheprovider; then
    failed+=("$p(tests)")
  fi
done

if [ -z "${CI_SKIP_ALONE:-}" ]; then
  stamp "install-alone check"
  if ! bash ci/install-alone.sh $PAPERS; then failed+=("install-alone"); fi
fi

stamp "done"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
