#!/usr/bin/env bash
# Creates (once) and reuses the virtual environment in which the Python binding is tested against
# current PyTorch from PyPI, Lightning and Hugging Face transformers, next to Debian's torch 1.13.
# Prints the environment's python on stdout. Exit 2: the package registry cannot be reached (tests
# skip on it); exit 1: anything else failed.
#
# usage: scripts/torch2-venv.sh [VENV_DIR]
#   VENV_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/tensortap/torch2-venv: outside the
#   source tree, so every checkout and clean clone on this machine shares one (a second run only
#   checks the stamp and imports, about a second).
#
# The environment is made from /usr/bin/python3 (the interpreter the binding is built for: the
# extension does not link torch, only Python's ABI) WITHOUT --system-site-packages: Debian's
# dist-packages would put torch 1.13's own sympy, networkx, numpy and the rest next to the new
# torch, and pip would keep them whenever their version happens to satisfy it, so the tested
# combination would depend on the host. Isolated, the environment holds exactly the pinned set.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
requirements=$here/torch2-requirements.txt
venv=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/tensortap/torch2-venv}
python=${TTAP_TEST_BASE_PYTHON:-/usr/bin/python3}
[ -x "$python" ] || python=python3

log() { echo "torch2-venv: $*" >&2; }

# The stamp is written only after every package installed: no import needed to trust it.
ready() {
  [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$venv/.tensortap-stamp" 2>/dev/null
}

# mpi4py for the group tests (mpirun): Debian's (python3-mpi4py), built for this very interpreter
# and Debian's Open MPI, linked in alone rather than compiled by pip (minutes on two cores).
# Idempotent, so an environment made before this step gets it too.
link_debian_mpi4py() {
  local debian=/usr/lib/python3/dist-packages/mpi4py site
  [ -d "$debian" ] || return 0
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # Written only when missing: tests may be starting interpreters that read the .pth meanwhile.
  [ -L "$venv/debian-mpi4py/mpi4py" ] ||
    { mkdir -p "$venv/debian-mpi4py" && ln -s "$debian" "$venv/debian-mpi4py/mpi4py"; }
  [ -f "$site/debian-mpi4py.pth" ] || echo "$venv/debian-mpi4py" > "$site/debian-mpi4py.pth"
}

mkdir -p "$(dirname "$venv")"
# Several test runs (or checkouts) at once build it once: the others wait here.
exec 9>"$venv.lock"
flock 9

if ready; then
  link_debian_mpi4py
  echo "$venv/bin/python"
  exit 0
fi

start=$(date +%s)
log "creating $venv from $python and installing $(grep -cv '^#' "$requirements") pinned packages" \
    "from PyPI (torch's Linux wheel brings CUDA libraries: about 3 GB, once)"
rm -rf "$venv"
if ! "$python" -m venv "$venv"; then
  log "'$python -m venv' failed (Debian: apt-get install python3-venv, or scripts/install-deps.sh)"
  exit 1
fi
# Is the registry there at all? (pip's configured index; a small query.) If not, say so with its
# own exit status, which the network tests turn into a skip.
if ! "$venv/bin/python" -m pip index versions pytest --disable-pip-version-check >/dev/null 2>&1
then
  rm -rf "$venv"
  log "the package registry cannot be reached: torch 2.x, Lightning and transformers not installed"
  exit 2
fi
# pip's own cache (~/.cache/pip) is left on: a rebuilt environment reuses the downloaded wheels.
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
     --progress-bar off -r "$requirements" >&2; then
  rm -rf "$venv"
  log "pip install -r $requirements failed"
  exit 1
fi
link_debian_mpi4py
cp "$requirements" "$venv/.tensortap-stamp"
log "ready in $(($(date +%s) - start)) s: $("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)')"
echo "$venv/bin/python"
