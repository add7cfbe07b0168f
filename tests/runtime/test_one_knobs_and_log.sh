#!/usr/bin/env bash
# A process holds one copy of the runtime's knobs and log, whichever tensortap libraries it loads:
# libttap, the hooks (libttap_inject) and the Python extension each need libttap_knobs_and_log and
# define none of its functions themselves (before, the hooks and the extension compiled
# runtime/config.cc and runtime/log.cc in, and a process with libttap had two or three caches of
# the environment and warn-once sets). And a process with the hooks and libttap preloaded maps
# that library once.
set -euo pipefail
lib_dir=$1
shift
libraries=("$lib_dir/libttap.so" "$lib_dir/libttap_inject.so" "$@")
state_functions='ttap::(process_knob|env_value|warn_once|log_message|set_log_rank|make_session_config)\('
for library in "${libraries[@]}"; do
  readelf -d "$library" | grep -q 'NEEDED.*\[libttap_knobs_and_log\.so' ||
    { echo "$library does not link libttap_knobs_and_log"; exit 1; }
  defined=$(nm -C --defined-only "$library" | grep -E "$state_functions" || true)
  [ -z "$defined" ] || { echo "$library has its own copy of:"; echo "$defined"; exit 1; }
done
mapped=$(LD_PRELOAD="$lib_dir/libttap_inject.so:$lib_dir/libttap.so" cat /proc/self/maps |
  awk '{print $6}' | sort -u)
for library in libttap_inject libttap.so; do
  grep -q "/$library" <<< "$mapped" || { echo "$library was not loaded"; exit 1; }
done
copies=$(grep -c '/libttap_knobs_and_log' <<< "$mapped" || true)
[ "$copies" -eq 1 ] || { echo "the process maps libttap_knobs_and_log $copies times:"; echo "$mapped"; exit 1; }
echo "one copy of the knobs and log in ${#libraries[@]} libraries and in a process with the hooks and libttap"
