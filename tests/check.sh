# SPDX-License-Identifier: Apache-2.0
# Sourced by the shell tests: `check DESCRIPTION COMMAND...` runs COMMAND
# with its output in $work/out, counts it passed or failed, and on failure
# prints the description and the end of that output. `finish NAME` prints
# the closing count line and returns the status.
passed=0
failed=0
check() {
  local what=$1
  shift
  if "$@" >"$work/out" 2>&1; then passed=$((passed + 1)); else
    failed=$((failed + 1))
    echo "FAIL: $what:"
    tail -n 15 "$work/out"
  fi
}
finish() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
