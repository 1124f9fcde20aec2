#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Drives the built `logstate` binary from outside: every command, every exit
# code, bad input, binary data, odd log IDs, and a Go witness database copied
# to Redis. Usage: test_cli.sh LOGSTATE_BINARY RUN_WITH_REDIS_BINARY
set -u
here=$(dirname "$(realpath "$0")")
L=$(realpath "$1")
RWR=$(realpath "$2")
work=$(mktemp -d /tmp/logstate-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
umask 022
# shellcheck source=tests/cli_checks.sh
. "$here/cli_checks.sh"
one_line_err() { [ "$(wc -l <"$work/err")" -eq 1 ]; }

export LOGSTATE_URL=""
cp1=$(printf 'example.com/log\n10\nAAAA\n\n\xe2\x80\x94 sig\n')

# --- the embedded default: sqlite:logstate.db in the current directory ---
expect 6 "logs on a missing default store: no store" -- "$L" logs
check "a read-only command creates no file" test ! -e logstate.db
expect 6 "get on a missing store: no store" -- "$L" get example.com/log
expect 6 "check on a missing store: no store" -- "$L" check
check "still no file" test ! -e logstate.db
printf '%s' "$cp1" >cp1
expect 0 "set from a file" -- "$L" set example.com/log cp1
check "set created the default store" test -f logstate.db
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
: >empty.jsonl
expect 0 "import of an empty file stores nothing (fuzz_import found its qsort(NULL))" -- "$L" --url sqlite:copy.db import empty.jsonl
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

# --- options anywhere, '--' ends them, an unknown option named as written ---
printf 'h1' | "$L" --url sqlite:opts.db set olog - --expect-absent >/dev/null
expect 0 "--url after the command and its arguments" -- "$L" get olog --url sqlite:opts.db
check "read from the --url store" test "$(cat "$work/out")" = h1
expect 0 "logs with -0 after --url" -- "$L" logs --url sqlite:opts.db -0
check "-0 applied" bash -c "tr '\\0' '\\n' <'$work/out' | grep -qx olog"
expect 0 "set LOG FILE --expect FILE with --url last" -- "$L" set olog v3 --expect <(printf h1) --url sqlite:opts.db
expect 0 "history LOG --limit N --json (options after the log ID)" -- "$L" --url sqlite:opts.db history olog --limit 3 --json
expect 0 "history LOG --json --limit=N" -- "$L" --url sqlite:opts.db history olog --json --limit=1
printf 'dash' | "$L" --url sqlite:opts.db set -- -dash - >/dev/null
expect 0 "'--' ends the options: a LOG that starts with '-'" -- "$L" --url sqlite:opts.db get -- -dash
check "read the dash log" test "$(cat "$work/out")" = dash
expect 2 "get -odd" -- "$L" --url sqlite:opts.db get -odd
check "names the option, not the command" grep -q "get: unknown option -o " "$work/err"
expect 2 "get --frob=1" -- "$L" --url sqlite:opts.db get --frob=1 olog
check "names the long option" grep -q "get: unknown option --frob " "$work/err"
expect 2 "history --limit without a value" -- "$L" --url sqlite:opts.db history olog --limit
check "says the value is missing" grep -q "history: option needs a value: --limit" "$work/err"
expect 2 "logstate --frob" -- "$L" --frob logs
check "names the global option" grep -q "unknown option --frob" "$work/err"
expect 2 "logstate -x" -- "$L" -x logs
check "names the short global option" grep -q "unknown option -x" "$work/err"
for args in "--version" "--help" "help" "help set" "set --help"; do
  # shellcheck disable=SC2086 # args is a list
  "$L" $args >/dev/full 2>"$work/err"
  code=$?
  check "$args >/dev/full exits 1 ($code) and says why" bash -c "test $code -eq 1 && grep -q 'cannot write standard output: No space left' '$work/err'"
done

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

# --- import checks the whole input first, with jansson ---
good='{"log": "ok.example/log", "log_b64": "b2suZXhhbXBsZS9sb2c=", "checkpoint_b64": "eA=="}'
imp() { # imp DESCRIPTION CONTENT...: import must refuse it (2) and store nothing
  local what=$1
  shift
  rm -f imp.db*
  printf '%s\n' "$@" >imp.jsonl
  expect 2 "import refuses: $what" -- "$L" --url sqlite:imp.db import imp.jsonl
  "$L" --url sqlite:imp.db logs >imp.logs 2>/dev/null
  check "import stored nothing: $what" test ! -s imp.logs
}
imp "garbage around the fields" "$good" 'garbage "log_b64": "YQ==", "checkpoint_b64": "eA==" garbage'
imp "an array" "$good" '[{"log_b64": "YQ==", "checkpoint_b64": "eA=="}]'
imp "trailing garbage" "$good" '{"log_b64": "YQ==", "checkpoint_b64": "eA=="} x'
imp "a duplicate key" "$good" '{"log_b64": "YQ==", "log_b64": "Yg==", "checkpoint_b64": "eA=="}'
imp "log disagreeing with log_b64" "$good" '{"log": "b", "log_b64": "YQ==", "checkpoint_b64": "eA=="}'
imp "an unknown field" "$good" '{"log_b64": "YQ==", "checkpoint_b64": "eA==", "chekpoint": 1}'
imp "a missing checkpoint" "$good" '{"log_b64": "YQ=="}'
imp "bad base64" "$good" '{"log_b64": "YQ=", "checkpoint_b64": "eA=="}'
check "the message names the line and the field" grep -q 'imp.jsonl line 2: field "log_b64" is not standard' "$work/err"
imp "two lines for one log" "$good" "$good"
check "the message names both lines" grep -q 'imp.jsonl lines 1 and 2 are for the same log' "$work/err"
imp "one bad line among good ones" "$good" '{"log_b64": 5, "checkpoint_b64": "eA=="}'
check "a wrong type is named" grep -q 'line 2: field "log_b64" is not a string' "$work/err"
rm -f imp.db*
printf '%s\n' '{"log": "caf\u00e9", "log_b64": "Y2Fmw6k=", "checkpoint_b64": "eA=="}' "" "$good" >imp.jsonl
expect 0 "import accepts \\u escapes and empty lines" -- "$L" --url sqlite:imp.db import imp.jsonl
expect 0 "the escaped log is there" -- "$L" --url sqlite:imp.db get "caf$(printf '\xc3\xa9')"

# --- options, exit codes, output errors ---
expect 0 "set with -- before a dash ID" -- "$L" set -- -dash-id v3
expect 0 "get with -- before a dash ID" -- "$L" get -- -dash-id
check "the dash ID holds v3" test "$(cat "$work/out")" = "v3"
expect 2 "a dash ID without --" -- "$L" get -dash-id
expect 0 "--version" -- "$L" --version
check "--version names the version" grep -qE '^logstate [0-9]+\.[0-9]+\.[0-9]+$' "$work/out"
expect 0 "logs -0" -- "$L" logs -0
check "logs -0 ends each ID with a NUL" test "$(tr -cd '\0' <"$work/out" | wc -c)" -eq "$("$L" export | wc -l)"
check "logs -0 keeps a newline inside an ID" bash -c "tr '\\000\\n' '|#' <'$work/out' | grep -qE '(^|[|])new#line[|]'"
expect 2 "--expect-absent with --expect" -- "$L" set log v3 --expect-absent --expect v2
expect 2 "a SQLite directory that does not exist" -- "$L" --url sqlite:/nonexistent-dir/x.db logs
check "the message names the directory" grep -q "nonexistent-dir" "$work/err"
mkdir -p fresh && cd fresh
expect 2 "a usage error" -- "$L" set log v3 --bogus
check "a usage error creates no store" test ! -e logstate.db
cd ..
if [ -w /dev/full ]; then
  expect 1 "logs to a full disk" -- bash -c "'$L' logs >/dev/full"
  check "the reason is given" grep -q "No space left on device" "$work/err"
  expect 1 "get to a full disk" -- bash -c "'$L' get example.com/log >/dev/full"
fi
expect 0 "check on memory" -- "$L" --url memory: check
check "memory: check says nothing survives" grep -q "in-process store" "$work/out"
check "memory: check claims no durability" bash -c "! grep -q 'durability settings verified' '$work/out'"
expect 0 "check on sqlite" -- "$L" check
check "sqlite: check opens read-only, so it claims no durability" grep -q "durability not checked" "$work/out"

# --- progress on a terminal only ---
for i in $(seq 1 40); do printf 'cp %s' "$i" | "$L" --url sqlite:many.db set "log-$i" - 2>/dev/null; done
expect 0 "copy, not on a terminal" -- "$L" --url sqlite:many.db copy --to sqlite:many2.db
check "no progress when stderr is not a terminal" test ! -s "$work/err"
if command -v script >/dev/null; then
  expect 0 "copy on a terminal" -- script -qec "'$L' --url sqlite:many.db copy --to sqlite:many3.db" /dev/null
  check "progress on a terminal" grep -q "copy: 40/40 logs" "$work/out"
  "$L" --url sqlite:many.db export >many.jsonl
  expect 0 "import on a terminal" -- script -qec "'$L' --url sqlite:many4.db import many.jsonl" /dev/null
  check "import progress on a terminal" grep -q "import: 40/40 logs" "$work/out"
fi

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
cp go.db go.orig
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
"$L" --url "$url" check | grep -q "durability settings verified"
"$L" --url "$url" check | grep -qE "^store_id: [0-9a-f]{32}$" || exit 11
cmp go.db go.orig || exit 18 # logs, get, check and copy opened it read-only
printf v | "$L" --url sqlite:sid.db set sid.example/log -
sid=$("$L" --url sqlite:sid.db check | sed -n "s/^store_id: //p")
test ${#sid} -eq 32 || exit 12
"$L" --url "sqlite:sid.db?store_id=$sid" check > /dev/null || exit 13
"$L" --url "sqlite:sid.db?store_id=another" check 2> other.err; test $? -eq 1 || exit 14
grep -q "this is another store" other.err || exit 15
"$L" --url "sqlite:absent.db?create=no" check 2> /dev/null; test $? -eq 6 || exit 16
test ! -e absent.db || exit 17
"$L" --url "sqlite:absent.db?create=no" init 2> /dev/null; test $? -eq 6 || exit 19
test ! -e absent.db || exit 20
test "$("$L" --url sqlite:sid.db init | sed -n "s/^store_id: //p")" = "$sid" || exit 21 # idempotent
new_sid=$("$L" --url sqlite:new.db init | sed -n "s/^store_id: //p")
test ${#new_sid} -eq 32 && test "$new_sid" != "$sid" || exit 22
"$L" --url "sqlite:new.db?mode=ro" logs || exit 23 # init made a store that opens read-only
"$L" --url "${url}?durability=ignore" check | grep -q "durability not checked"
redis-cli -u "$url" DEL "{logstate}:log:other.example/log" >/dev/null
"$L" --url "$url" check > damaged.out; test $? -eq 1 || exit 6
grep -q "damaged: log \"other.example/log\": key {logstate}:log:other.example/log is missing" damaged.out || exit 7
"$L" --url "$url" get other.example/log; test $? -eq 1 || exit 10
printf "g.example\n10\nx\n" > g10; printf "g.example\n5\nx\n" > g5
"$L" --url "${url}?guard=size" set g.example g10
"$L" --url "${url}?guard=size" set g.example g5; test $? -eq 4 || exit 8
echo copy-ok
'
expect 0 "copy a Go witness database to Redis, and verify" -- "$RWR" --expect-output "copy-ok" --expect-output "copied 2" -- /bin/bash -c "$copy_script" bash "$L" @URL@
check "Redis holds the Go logs" grep -q "other.example/log" "$work/out"

# --- the README's by-hand recipe for lua/set.lua keeps the bytes exact ---
printf 'hand.example\n3\nx\n\n' >hand.cp # ends with two newlines
lua_script='
set -e
L=$1; url=$2; lua=$3
cp=$(cat hand.cp; printf x); cp=${cp%x}     # keeps the trailing newlines
printf v | "$L" --url "$url" set other.example -   # the store exists before an operator edits it
redis-cli -u "$url" --eval "$lua" "{logstate}:log:hand.example" "{logstate}:logs" , 0 "$cp" hand.example none
"$L" --url "$url" get hand.example > hand.back
cmp hand.cp hand.back
echo lua-ok
'
LUA=$(realpath "$(dirname "$0")/../lua/set.lua")
expect 0 "the README's redis-cli --eval recipe stores the exact bytes" -- "$RWR" --expect-output "lua-ok" -- /bin/bash -c "$lua_script" bash "$L" @URL@ "$LUA"

# --- history and export-monitoring ---
H="sqlite:hist.db?history=2&client_name=cli-w"
for i in 1 2 3; do printf 'hist.example\n%s\nsig%s\n' "$i" "$i" >"hcp$i"; expect 0 "set with history $i" -- "$L" --url "$H" set hlog "hcp$i"; done
expect 0 "history" -- "$L" --url sqlite:hist.db history hlog
check "history keeps the 2 newest, newest first" test "$(cut -f1 "$work/out" | tr '\n' ' ')" = "3 2 "
check "history names the writer and the tree size" grep -q $'size 3\tsha256 [0-9a-f]\{64\}\tcli-w' "$work/out"
expect 0 "history --json" -- "$L" --url sqlite:hist.db history --json --limit 1 hlog
check "one JSON object per entry, with the checkpoint" python3 -c '
import json, sys, base64
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
e = json.loads(lines[0])
assert e["version"] == 3 and e["tree_size"] == 3 and e["origin"] == "hist.example" and e["client_name"] == "cli-w"
assert base64.b64decode(e["checkpoint_b64"]) == open(sys.argv[2], "rb").read()
' "$work/out" hcp3
expect 0 "history of a log never set" -- "$L" --url sqlite:hist.db history nolog
check "prints nothing" test ! -s "$work/out"
expect 2 "history --limit 0" -- "$L" --url sqlite:hist.db history --limit 0 hlog
expect 2 "history without LOG" -- "$L" --url sqlite:hist.db history
expect 6 "history of no store" -- "$L" --url sqlite:absent-hist.db history hlog
M=sqlite:mon.db
printf 'mon.example/a\n5\nx\n' | "$L" --url "$M" set a - >/dev/null
printf 'odd origin \xc3\xbc/%%2F\n7\nx\n' | "$L" --url "$M" set odd - >/dev/null
printf 'binary-no-newline' | "$L" --url "$M" set bin - >/dev/null
printf '\nempty first line\n' | "$L" --url "$M" set empty - >/dev/null
mkdir -p mon && echo keep >mon/unrelated.txt
expect 0 "export-monitoring" -- "$L" --url "$M" export-monitoring mon
check "2 written, 2 skipped" grep -q "2 written, 0 unchanged, 2 skipped" "$work/out"
check "each file at the SHA-256 of its origin line, byte for byte" python3 -c '
import hashlib, sys, os
for origin, body in [(b"mon.example/a", b"mon.example/a\n5\nx\n"), ("odd origin \u00fc/%2F".encode(), "odd origin \u00fc/%2F\n7\nx\n".encode())]:
    p = os.path.join("mon", hashlib.sha256(origin).hexdigest(), "checkpoint")
    assert open(p, "rb").read() == body, p
assert sorted(os.listdir("mon")) == sorted([hashlib.sha256(b"mon.example/a").hexdigest(), hashlib.sha256("odd origin \u00fc/%2F".encode()).hexdigest(), "unrelated.txt"])
'
check "the skipped logs are named, escaped" grep -q 'skipped "bin"' "$work/err"
expect 0 "export-monitoring again" -- "$L" --url "$M" export-monitoring mon
check "idempotent: nothing rewritten" grep -q "0 written, 2 unchanged" "$work/out"
check "nothing it did not write is removed" test "$(cat mon/unrelated.txt)" = keep
printf 'mon.example/a\n6\nx\n' | "$L" --url "$M" set a - >/dev/null
expect 0 "export-monitoring after a set" -- "$L" --url "$M" export-monitoring mon
check "the changed one is replaced" grep -q "1 written, 1 unchanged" "$work/out"
printf 'mon.example/a\n1\ny\n' | "$L" --url "$M" set twin - >/dev/null
expect 1 "two logs with one origin line" -- "$L" --url "$M" export-monitoring mon
check "named as an error" grep -q "have the same origin line" "$work/err"
check "no temporary file left behind" bash -c "! find mon -name '.checkpoint.*' | grep -q ."
printf 'mon.example/z\n1\nz\n' | "$L" --url sqlite:mon2.db set z - >/dev/null
expect 0 "export-monitoring creates a missing DIR and its parents" -- "$L" --url sqlite:mon2.db export-monitoring new/deep/mon
check "written into it" test -f "new/deep/mon/$(printf 'mon.example/z' | sha256sum | cut -c1-64)/checkpoint"
check "each new directory 0755" test "$(stat -c %a new new/deep new/deep/mon | sort -u)" = 755
expect 6 "export-monitoring of no store creates no DIR" -- "$L" --url sqlite:absent-mon.db export-monitoring never/made
check "no DIR, no store file" bash -c "test ! -e never && test ! -e absent-mon.db"
: >afile
expect 2 "export-monitoring into a file" -- "$L" --url sqlite:mon2.db export-monitoring afile

# --- a password never reaches the tool's output or messages ---
# Every command on good credentials (check included), and each failure that
# formats a URL or reports a connection: wrong password, a bad query, a
# refused port, sentinels and cluster seeds that do not answer, copy's
# target, the password from $LOGSTATE_REDIS_PASSWORD.
secret_script='
L=$1; url=$2
hp=${url#redis://}; hp=${hp%/}
redis-cli -u "$url" ACL SETUSER sec on ">Pw-Z9secret" "~*" "+@all" >/dev/null || exit 9
good="redis://sec:Pw-Z9secret@$hp/"
{
  set -e
  "$L" --url "$good" init
  printf "s.example\n1\nx\n" | "$L" --url "$good" set s.example -
  "$L" --url "$good" get s.example
  "$L" --url "$good" logs
  "$L" --url "$good" export
  "$L" --url "$good" check
  LOGSTATE_REDIS_PASSWORD=Pw-Z9secret "$L" --url "redis://sec@$hp/" check
  set +e
  "$L" --url "redis://sec:Wr0ng-pass@$hp/" check; test $? -eq 1 || echo "UNEXPECTED: wrong password"
  LOGSTATE_REDIS_PASSWORD=Wr0ng-pass "$L" --url "redis://sec@$hp/" check; test $? -eq 1 || echo "UNEXPECTED: env"
  "$L" --url "redis://sec:Pw-Z9secret@$hp/?bogus=1" check; test $? -eq 2 || echo "UNEXPECTED: bad query"
  "$L" --url "redis://sec:Pw-Z9secret@$hp:x/" check; test $? -eq 2 || echo "UNEXPECTED: bad port"
  LOGSTATE_REDIS_PASSWORD=Pw-Z9secret "$L" --url "redis://sec@$hp/?timeout_ms=x" check; test $? -eq 2 || echo "UNEXPECTED: env bad"
  "$L" --url "redis://sec:Pw-Z9secret@127.0.0.1:1/?connect_timeout_ms=300" check; test $? -eq 5 || echo "UNEXPECTED: refused"
  printf v | "$L" --url "sqlite:src.db" set a -
  "$L" --url "sqlite:src.db" copy --to "redis://sec:Pw-Z9secret@127.0.0.1:1/?connect_timeout_ms=300"; test $? -ne 0 || echo "UNEXPECTED: copy"
  "$L" --url "redis+sentinel://sec:Pw-Z9secret@127.0.0.1:1/m?sentinel_password=Pw-Z9secret&connect_timeout_ms=300" check; test $? -eq 5 || echo "UNEXPECTED: sentinel"
  "$L" --url "redis+cluster://sec:Pw-Z9secret@127.0.0.1:1/?connect_timeout_ms=300" check; test $? -eq 5 || echo "UNEXPECTED: cluster"
} > all.out 2>&1 || { cat all.out; exit 8; }
grep -q "store_id:" all.out || exit 7
grep -q UNEXPECTED all.out && { cat all.out; exit 6; }
grep -q -e Pw-Z9secret -e Wr0ng-pass all.out && { grep -e Pw-Z9secret -e Wr0ng-pass all.out; exit 5; }
echo secrets-ok
'
expect 0 "no password in any output or message" -- "$RWR" --expect-output "secrets-ok" -- /bin/bash -c "$secret_script" bash "$L" @URL@
check "the password paths ran" grep -q secrets-ok "$work/out"

# --- a password on the command line does not stay in ps ---
# A server that accepts and never answers keeps the tool waiting while
# /proc/PID/cmdline is read; the password must be gone from it (bounded).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $port)); s.listen(8); c=[s.accept() for _ in range(2)]; time.sleep(10)" &
mute=$!
for _ in $(seq 1 200); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null && break; sleep 0.02; done
"$L" --url "redis://u:SecretPw42@127.0.0.1:$port/?timeout_ms=5000" logs >/dev/null 2>&1 &
tool=$!
scrubbed=1
for _ in $(seq 1 250); do
  if tr '\0' ' ' <"/proc/$tool/cmdline" 2>/dev/null | grep -q 'u:\*\*\*\*\*\*\*\*\*\*@'; then scrubbed=0; break; fi
  sleep 0.02
done
check "the tool overwrites the password in its command line" test "$scrubbed" -eq 0
check "and the password is nowhere in it" bash -c "! tr '\\0' ' ' </proc/$tool/cmdline 2>/dev/null | grep -q SecretPw42"
kill "$tool" "$mute" 2>/dev/null
wait "$tool" "$mute" 2>/dev/null

echo "test_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
