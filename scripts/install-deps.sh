#!/usr/bin/env bash
# Installs what tensortap needs to build and test on Debian 12, and nothing already present.
# Idempotent: a second run only checks. Runs apt-get update at most once, only when installing.
set -euo pipefail

packages=(
  g++ cmake ninja-build make pkg-config   # toolchain
  ccache                                  # reuses compiled objects across rebuilds and checkouts
  libcli11-dev                            # ttap command-line parsing
  nlohmann-json3-dev                      # JSON output and parsing (safetensors headers)
  googletest libgtest-dev                 # unit tests
  libsqlite3-dev sqlite3                  # the run store (and the shell to read it)
  prometheus-cpp-dev                      # ttap run --prometheus: the metrics endpoint
  libcurl4-openssl-dev                    # the alert webhook sink's HTTP client
  prometheus prometheus-alertmanager      # tests: contrib/ rules and configs against the real servers
  curl                                    # tests scrape that endpoint
  python3-dev pybind11-dev                # the Python binding (headers, pybind11's CMake package)
  python3-torch python3-numpy             # PyTorch (CPU) for the binding's tests and examples
  python3-pytest                          # the binding's tests
  python3-mpi4py                          # tensortap.set_group over MPI, and its multi-rank test
  libopenmpi-dev                          # the MPI interposer's mpi.h and the MPI example trainer
  openmpi-bin                             # mpirun for the multi-rank hook tests
  python3-venv                            # TensorBoard read-back test: venv for pip's tensorboard
  chromium                                # tests load ttap report's HTML page in headless chromium
  clang libclang-rt-dev                   # the fuzz harnesses (libFuzzer, its sanitizer runtimes)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-deps: missing ${missing[*]} and not root (no sudo): install them and rerun" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
