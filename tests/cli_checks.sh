# SPDX-License-Identifier: Apache-2.0
# What the tool's test scripts share (sourced, with $work set): each check
# counts into $passed or $failed and prints what failed.

passed=0
failed=0

# expect CODE DESCRIPTION -- COMMAND...: the command must exit with CODE;
# its output goes to $work/out and $work/err.
expect() {
  local want=$1 what=$2
  shift 3
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what: exit $got, expected $want; stderr: $(head -c 400 "$work/err")"
  fi
}

# check DESCRIPTION CONDITION...: a condition, on the last output say.
check() {
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); else
    failed=$((failed + 1))
    echo "FAIL: $what"
  fi
}
