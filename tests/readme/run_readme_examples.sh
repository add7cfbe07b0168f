#!/usr/bin/env bash
# Runs the `$ ttap stats ...` examples of README.md (lines in ```sh blocks) on files like the ones
# they name: each must exit as the README says (1 for --fail-on-nonfinite on the sample checkpoint,
# whose planted NaNs are the point, else 0) and print something. `ttap bench` examples take minutes
# at full size; the bench smoke tests run that verb instead.
set -euo pipefail
readme=$1
ttap=$2
make_sample=$3

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$make_sample" sample.safetensors > /dev/null
head -c $((128 + 4096 * 2)) /dev/urandom > dump.bin
# A valid .npy (format 1.0) of 16 float32 values: magic, version, header length, padded header.
header="{'descr': '<f4', 'fortran_order': False, 'shape': (16,), }"
printf -v padded '%-117s' "$header"
{ printf '\x93NUMPY\x01\x00\x76\x00'; printf '%s\n' "$padded"; head -c 64 /dev/zero; } > activations.npy
# A forensic dump's directory (tensors.safetensors inside), holding the sample's planted NaNs.
mkdir -p RUN/dumps/step-12-rank-0
cp sample.safetensors RUN/dumps/step-12-rank-0/tensors.safetensors

ran=0
while IFS= read -r line; do
  cmd=${line#\$ ttap }
  cmd=${cmd%%#*}
  case "$cmd" in bench*) continue ;; esac
  expected=0
  case "$cmd" in *--fail-on-nonfinite*) expected=1 ;; esac
  set +e
  # shellcheck disable=SC2086  # the README's arguments, split as a shell would
  out=$("$ttap" $cmd 2>&1)
  status=$?
  set -e
  if [ "$status" -ne "$expected" ] || [ -z "$out" ]; then
    echo "README example failed: ttap $cmd (exit $status, expected $expected)" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "ok: ttap $cmd"
  ran=$((ran + 1))
done < <(awk '/^```sh/{in_block=1; next} /^```/{in_block=0} in_block && /^\$ ttap /' "$readme")

if [ "$ran" -lt 5 ]; then
  echo "found only $ran ttap examples in $readme" >&2
  exit 1
fi
echo "$ran README examples ran as documented"
