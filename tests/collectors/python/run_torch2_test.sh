#!/usr/bin/env bash
# Runs pytest files of the binding's tests, in one process, under current PyTorch from PyPI (with
# Lightning and transformers): the environment of scripts/torch2-venv.sh, created on first use and
# reused.
# Exit 77 (ctest: skipped) when it does not exist and the package registry cannot be reached.
# usage: run_torch2_test.sh SOURCE_DIR TEST_FILE...
set -euo pipefail
source_dir=$1
shift

status=0
python=$(bash "$source_dir/scripts/torch2-venv.sh") || status=$?
if [ "$status" -eq 2 ]; then
  echo "SKIPPED: no torch 2.x environment and the package registry cannot be reached" \
       "(scripts/torch2-venv.sh installs it once network access to PyPI is available)"
  exit 77
elif [ "$status" -ne 0 ]; then
  echo "FAIL: scripts/torch2-venv.sh could not make the torch 2.x environment" >&2
  exit 1
fi
"$python" -c 'import torch; print("torch", torch.__version__)'
exec "$python" -m pytest -q -p no:cacheprovider "$@"
