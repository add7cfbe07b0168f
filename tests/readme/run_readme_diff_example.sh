#!/usr/bin/env bash
# Runs README.md's determinism example (the ```console block after "<!-- readme_diff_example -->")
# in an empty directory with the built ttap and ttap-demo first on PATH. Each `$ CMD  # exit N`
# line must exit N (0 without the comment); each output line shown under it must appear in CMD's
# output, a line ending in "..." as a prefix ("..." alone stands for lines not shown).
# usage: run_readme_diff_example.sh README BIN_DIR
set -euo pipefail
readme=$(realpath "$1")
bin_dir=$(cd "$2" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export PATH="$bin_dir:$PATH"

block=$(awk '/<!-- readme_diff_example -->/ {armed=1; next}
             armed && /^```console/ {inside=1; next}
             inside && /^```/ {exit}
             inside {print}' "$readme")
[ -n "$block" ] || { echo "no readme_diff_example block in $readme" >&2; exit 1; }

output=
commands=0
check_line() {  # the expected line $1 against the last command's output
  local want=$1
  [ "$want" = "..." ] && return 0
  if [[ $want == *... ]]; then
    local prefix=${want%...}
    while IFS= read -r got; do
      [[ $got == "$prefix"* ]] && return 0
    done <<< "$output"
  else
    while IFS= read -r got; do
      [ "$got" = "$want" ] && return 0
    done <<< "$output"
  fi
  echo "README line not in the output of '$cmd': $want" >&2
  echo "$output" >&2
  exit 1
}

while IFS= read -r line; do
  if [[ $line == '$ '* ]]; then
    cmd=${line#\$ }
    expected=0
    if [[ $cmd =~ \#\ exit\ ([0-9]+) ]]; then expected=${BASH_REMATCH[1]}; fi
    cmd=${cmd%%#*}
    status=0
    output=$(bash -c "$cmd" 2>&1) || status=$?
    if [ "$status" -ne "$expected" ]; then
      echo "README example '$cmd' exited $status, expected $expected" >&2
      echo "$output" >&2
      exit 1
    fi
    commands=$((commands + 1))
  else
    check_line "$line"
  fi
done <<< "$block"
[ "$commands" -ge 5 ] || { echo "only $commands commands in the example" >&2; exit 1; }
echo "README determinism example: $commands commands ran as documented"
