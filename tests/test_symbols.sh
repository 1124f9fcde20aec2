#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shared library exports exactly the functions its public headers
# declare with LOGSTATE_API (the headers of the parts this build has), and
# nothing internal. Usage: test_symbols.sh LIB GENERATED_INCLUDE SOURCE_INCLUDE
set -euo pipefail
lib=$1 gen=$2 inc=$3
features=$gen/logstate/features.h
headers=("$inc/logstate/logstate.h" "$inc/logstate/sys/backend.h")
grep -q '^#define LOGSTATE_HAVE_REDIS' "$features" && headers+=("$inc/logstate/redis.h")
grep -q '^#define LOGSTATE_HAVE_SQLITE' "$features" && headers+=("$inc/logstate/sqlite.h")
grep -q '^#define LOGSTATE_HAVE_ASYNC' "$features" && headers+=("$inc/logstate/async.h")
# Preprocessed, so that declarations a build leaves out (#ifdef) do not count.
src=$(mktemp /tmp/logstate-symbols-XXXXXX.c)
trap 'rm -f "$src"' EXIT
printf '#include "%s"\n' "${headers[@]}" >"$src"
want=$(cc -E -P -I "$gen" -I "$inc" "$src" | tr '\n' ' ' |
  grep -oE 'visibility\("default"\)\)\) [^;(]*\(' | sed -E 's/.*[ *]([A-Za-z_0-9]+)\($/\1/' | sort -u)
# Names starting with '_' belong to the toolchain (sanitizers, _init, _fini).
got=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[TDBRWV]$/ && $3 !~ /^_/ {print $3}' | sort -u)
if [ "$want" != "$got" ]; then
  echo "exported symbols differ from the public headers (< headers only, > library only):"
  diff <(echo "$want") <(echo "$got") || true
  exit 1
fi
echo "exported_symbols: $(echo "$got" | wc -l) symbols, exactly the LOGSTATE_API functions of ${#headers[@]} headers"
