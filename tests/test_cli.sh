#!/usr/bin/env bash
# Drives the built `logstate` binary from outside: every command, every exit
# code, bad input, binary data, odd log IDs, and a Go witness database copied
# to Redis. Usage: test_cli.sh LOGSTATE_BINARY RUN_WITH_REDIS_BINARY
set -u
L=$(realpath "$1")
RWR=$(realpath "$2")
work=$(mktemp -d /tmp/logstate-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
passed=0
failed=0

# expect CODE DESCRIPTION -- COMMAND...: the command must exit with CODE.
expect() {
  local want=$1 what=$2
  shift 3
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what: exit $got, expected $want; stderr: $(head -c 300 "$work/err")"
  fi
}
# check DESCRIPTION CONDITION...: a condition on the last output.
check() {
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); else
    failed=$((failed + 1))
    echo "FAIL: $what"
  fi
}
one_line_err() { [ "$(wc -l <"$work/err")" -eq 1 ]; }

export LOGSTATE_URL=""
cp1=$(printf 'example.com/log\n10\nAAAA\n\n\xe2\x80\x94 sig\n')

# --- the embedded default: sqlite:logstate.db in the current directory ---
expect 0 "logs on a new default store" -- "$L" logs
check "new store lists nothing" test ! -s "$work/out"
check "default store file created" test -f logstate.db
printf '%s' "$cp1" >cp1
expect 0 "set from a file" -- "$L" set example.com/log cp1
expect 0 "get" -- "$L" get example.com/log
check "get writes the exact bytes" cmp -s "$work/out" cp1
expect 0 "logs" -- "$L" logs
check "logs lists the log" test "$(cat "$work/out")" = "example.com/log"
expect 3 "get unknown log" -- "$L" get nobody.example/log
check "not found is one line on stderr" one_line_err

# --- set from stdin, compare-and-set ---
printf 'v2' | "$L" set stdin-log - >/dev/null 2>&1
expect 0 "set from stdin" -- "$L" get stdin-log
check "stdin bytes stored" test "$(cat "$work/out")" = "v2"
printf 'v3' >v3
printf 'v2' >v2
printf 'zz' >zz
expect 4 "--expect-absent on a present log" -- "$L" set stdin-log v3 --expect-absent
expect 0 "--expect-absent on an absent log" -- "$L" set fresh-log v3 --expect-absent
expect 4 "--expect with the wrong bytes" -- "$L" set stdin-log v3 --expect zz
expect 0 "--expect with the right bytes" -- "$L" set stdin-log v3 --expect v2
expect 0 "get after compare-and-set" -- "$L" get stdin-log
check "compare-and-set stored" test "$(cat "$work/out")" = "v3"
expect 4 "--expect on an absent log" -- "$L" set absent-log v3 --expect v2

# --- binary data and odd log IDs ---
printf 'a\0b\r\n\xff\x00' >bin
expect 0 "set binary" -- "$L" set "odd id: {x} caf$(printf '\xc3\xa9')" bin
expect 0 "get binary" -- "$L" get "odd id: {x} caf$(printf '\xc3\xa9')"
check "binary round trip" cmp -s "$work/out" bin
nl_id=$(printf 'new\nline')
expect 0 "set with a newline in the ID" -- "$L" set "$nl_id" v3
expect 0 "get with a newline in the ID" -- "$L" get "$nl_id"
long_id=$(head -c 1024 /dev/zero | tr '\0' 'L')
expect 0 "1024-byte ID" -- "$L" set "$long_id" v3
expect 2 "1025-byte ID" -- "$L" set "${long_id}L" v3
expect 2 "empty ID" -- "$L" set "" v3
: >empty
expect 2 "empty checkpoint" -- "$L" set log empty
head -c $((1024 * 1024 + 1)) /dev/zero >big
expect 2 "oversized checkpoint" -- "$L" set log big

# --- export / import ---
expect 0 "export to stdout" -- "$L" export
cp "$work/out" export.jsonl
# Six logs so far: example.com/log, stdin-log, fresh-log, the odd, newline and 1024-byte IDs.
check "export has a line per log" test "$(wc -l <export.jsonl)" -eq 6
expect 0 "export to a file" -- "$L" export exported.jsonl
check "export file equals stdout" cmp -s exported.jsonl export.jsonl
expect 0 "import into a new store" -- "$L" --url sqlite:copy.db import export.jsonl
expect 0 "re-export the copy" -- "$L" --url sqlite:copy.db export
check "import is lossless (binary, newlines, UTF-8)" cmp -s "$work/out" export.jsonl
expect 0 "import again: unchanged" -- "$L" --url sqlite:copy.db import export.jsonl
printf 'changed' | "$L" --url sqlite:copy.db set example.com/log - 2>/dev/null
expect 4 "import refuses a different checkpoint" -- "$L" --url sqlite:copy.db import export.jsonl
expect 0 "import --force overwrites" -- "$L" --url sqlite:copy.db import export.jsonl --force
expect 0 "get after import --force" -- "$L" --url sqlite:copy.db get example.com/log
check "forced import restored the bytes" cmp -s "$work/out" cp1
echo '{"log_b64": "!!!", "checkpoint_b64": "eA=="}' >bad.jsonl
expect 2 "import of a bad line" -- "$L" --url sqlite:copy.db import bad.jsonl
expect 1 "import of a missing file" -- "$L" import /nonexistent/file.jsonl
expect 0 "import from stdin" -- bash -c "'$L' --url sqlite:stdin.db import - <export.jsonl"

# --- usage errors and help ---
expect 2 "no command" -- "$L"
expect 2 "unknown command" -- "$L" frobnicate
check "usage error is one line" one_line_err
expect 2 "unknown option" -- "$L" --frob logs
expect 2 "--url without a value" -- "$L" --url
expect 2 "get without LOG" -- "$L" get
expect 2 "logs with an argument" -- "$L" logs extra
expect 2 "set with an unknown option" -- "$L" set log v3 --bogus
expect 2 "copy without --to" -- "$L" copy
expect 0 "--help" -- "$L" --help
check "--help names every command" grep -q "copy --to URL" "$work/out"
for c in logs get set export import copy check; do
  expect 0 "$c --help" -- "$L" "$c" --help
  check "$c --help says usage" grep -q "usage: logstate $c" "$work/out"
done
expect 0 "help set" -- "$L" help set
expect 1 "set from a missing file" -- "$L" set log /nonexistent/cp

# --- URLs ---
expect 2 "bad URL scheme" -- "$L" --url ftp://x logs
expect 2 "bad redis URL" -- "$L" --url "redis://127.0.0.1:notaport/" logs
expect 2 "empty sqlite path" -- "$L" --url sqlite: logs
expect 5 "unreachable Redis" -- "$L" --url "redis://127.0.0.1:1/?connect_timeout_ms=300" logs
check "unavailable is one line" one_line_err
expect 2 "password never echoed" -- "$L" --url "redis://u:SeCrEt@127.0.0.1:x/" logs
check "the password is not in the message" bash -c "! grep -q SeCrEt '$work/err'"
expect 0 "memory store" -- "$L" --url memory: logs
LOGSTATE_URL=sqlite:env.db expect 0 "URL from LOGSTATE_URL" -- "$L" set env-log v3
check "LOGSTATE_URL was used" test -f env.db
expect 5 "check on an unreachable store" -- "$L" --url "redis://127.0.0.1:1/?connect_timeout_ms=300" check
expect 0 "check" -- "$L" check
check "check reports the logs" grep -q "ok: sqlite backend" "$work/out"

# --- a Go witness database, read and copied to Redis ---
sqlite3 go.db "CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB);
INSERT INTO chkpts VALUES ('go.example/log', 'go.example/log
42
R28=
', NULL);
INSERT INTO chkpts VALUES ('other.example/log', 'other.example/log
7
T3Q=
', NULL);"
expect 0 "logs of a Go witness database" -- "$L" --url sqlite:go.db logs
check "Go database logs" test "$(cat "$work/out" | tr '\n' ' ')" = "go.example/log other.example/log "
expect 0 "get from a Go witness database" -- "$L" --url sqlite:go.db get go.example/log
check "Go database checkpoint" test "$(sed -n 2p "$work/out")" = "42"
copy_script='
set -e
L=$1; url=$2
"$L" --url sqlite:go.db copy --to "$url"
"$L" --url "$url" logs
"$L" --url "$url" get go.example/log > from-redis
"$L" --url sqlite:go.db get go.example/log > from-go
cmp from-redis from-go
"$L" --url sqlite:go.db copy --to "$url" | grep -q "unchanged 2"
printf changed | "$L" --url "$url" set go.example/log -
set +e
"$L" --url sqlite:go.db copy --to "$url"; test $? -eq 4 || exit 9
"$L" --url sqlite:go.db copy --to "$url" --force | grep -q "copied 1"
"$L" --url "$url" check
echo copy-ok
'
expect 0 "copy a Go witness database to Redis, and verify" -- "$RWR" --expect-output "copy-ok" --expect-output "copied 2" -- /bin/bash -c "$copy_script" bash "$L" @URL@
check "Redis holds the Go logs" grep -q "other.example/log" "$work/out"

echo "test_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
