#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The tool's log configuration commands from outside: `id` against Python's
# hashlib for 100 origins (non-ASCII ones too), every `config` subcommand
# and exit code, import refusing a whole file for one bad line, export,
# import and copy carrying configurations, racing adders in separate
# processes (SQLite and Redis), and the Redis key layout as redis-cli sees
# it. Usage: test_cli_config.sh LOGSTATE_BINARY RUN_WITH_REDIS_BINARY
set -u
here=$(dirname "$(realpath "$0")")
L=$(realpath "$1")
RWR=$(realpath "$2")
work=$(mktemp -d /tmp/logstate-clicfg-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
# shellcheck source=tests/cli_checks.sh
. "$here/cli_checks.sh"
export LOGSTATE_URL="sqlite:$work/c.db?client_name=ops-alice"

# --- id: the Go witness's log ID, as Python computes it ---
python3 - >origins <<'PY'
import random
random.seed(7)
words = ["example.com/log", "ct.example/2026h1", "sigsum.org/v1/tree/ab", "café.example/log", "日志.example/κ",
         "a", "log with spaces", "emoji 🌳 tree", "x" * 300]
for i in range(100):
    print(words[i % len(words)] + ("" if i < len(words) else "/%d-%x" % (i, random.getrandbits(32))))
PY
ok=0
while IFS= read -r o; do
  want=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(b"o:" + sys.argv[1].encode()).hexdigest())' "$o")
  [ "$("$L" id -- "$o")" = "$want" ] && ok=$((ok + 1))
done <origins
check "id equals hashlib's for 100 origins (100 matched: $ok)" test "$ok" -eq 100
expect 2 "id of an empty origin" -- "$L" id ""
expect 2 "id of an origin with a newline" -- "$L" id "$(printf 'a\nb')"

# --- add, get, list, disable, enable, history: every exit code ---
expect 0 "add" -- "$L" config add example.com/log 'example.com/log+01234567+AQID' --contact ops@example.com --qpd 86400
check "add says added" grep -qx "added example.com/log" out
expect 0 "add the same again: identical" -- "$L" config add example.com/log 'example.com/log+01234567+AQID' --contact ops@example.com --qpd 86400
check "it says identical" grep -qx "identical example.com/log" out
expect 4 "add other values: conflict" -- "$L" config add example.com/log 'other+1+AA=='
check "nothing changed by it" bash -c "'$L' config get example.com/log | grep -qx 'vkey: example.com/log+01234567+AQID'"
expect 2 "add a bad vkey: usage" -- "$L" config add b.example 'has space'
expect 2 "add a numeric origin: usage" -- "$L" config add 007 v+1+AA==
expect 2 "add with a bad --qpd" -- "$L" config add q.example v+1+AA== --qpd lots
expect 2 "add with an option it has not" -- "$L" config add q.example v+1+AA== --reason x
expect 2 "add with one argument" -- "$L" config add q.example
expect 0 "get" -- "$L" config get example.com/log
check "get shows the entry" bash -c "grep -qx 'origin: example.com/log' out && grep -qx 'state: enabled' out && grep -qx 'qpd: 86400' out"
expect 0 "get --json" -- "$L" config get example.com/log --json
check "get --json is the entry" python3 -c "import json; e=json.load(open('out')); assert e['vkey']=='example.com/log+01234567+AQID' and e['qpd']==86400 and e['contact']=='ops@example.com' and len(e['log_id'])==64 and e['added_ms']>0"
expect 3 "get an origin without an entry" -- "$L" config get nobody.example
expect 0 "disable" -- "$L" config disable example.com/log --reason "key compromised"
check "disable says so" grep -qx "disabled example.com/log" out
expect 0 "disable again: nothing to do" -- "$L" config disable example.com/log
check "it says already" grep -qx "disabled example.com/log already" out
expect 3 "disable an origin without an entry" -- "$L" config disable nobody.example
expect 0 "add it again, as a feed would: identical" -- "$L" config add example.com/log 'example.com/log+01234567+AQID' --contact ops@example.com --qpd 86400
expect 0 "list: the enabled ones" -- "$L" config list
check "the disabled log is not listed" test ! -s out
expect 0 "list --all" -- "$L" config list --all
check "list --all shows it disabled" grep -qxP 'example.com/log\texample.com/log\+01234567\+AQID\tdisabled' out
expect 0 "history" -- "$L" config history
check "history names who and why" grep -qP '\tdisabled\texample.com/log\tops-alice\tkey compromised$' out
expect 0 "enable" -- "$L" config enable example.com/log
expect 0 "history --json of the origin" -- "$L" config history example.com/log --json
check "two events, newest first" python3 -c "import json; ev=[json.loads(l) for l in open('out')]; assert [e['disabled'] for e in ev]==[False, True], ev; assert ev[1]['reason']=='key compromised' and ev[1]['by']=='ops-alice'"
expect 2 "history --limit 0" -- "$L" config history --limit 0
expect 2 "config without a subcommand" -- "$L" config
expect 2 "config with an unknown subcommand" -- "$L" config frob

# --- import and export ---
printf '%s\n' '{"origin": "a.example/log", "vkey": "a+1+AA=="}' '{"origin": "b.example/log", "vkey": "b+1+AA==", "qpd": 5, "disabled": true}' >good.jsonl
printf '%s\n' '{"origin": "c.example/log", "vkey": "c+1+AA=="}' '{"origin": "d.example/log", "vkey": "d+1+AA==", "extra": 1}' >bad.jsonl
expect 2 "import refuses a file with one bad line" -- "$L" config import bad.jsonl
check "it names the line and the field" grep -q 'line 2: field "extra"' err
expect 3 "and imported nothing of it" -- "$L" config get c.example/log
expect 0 "import" -- "$L" config import good.jsonl
check "import counts" grep -q "2 added, 0 identical, 0 with other values" err
printf '%s\n' '{"origin": "a.example/log", "vkey": "a+2+AA=="}' >other.jsonl
expect 4 "import over other values: conflict" -- "$L" config import other.jsonl
expect 0 "export" -- "$L" config export cfg.out
check "export has every entry, b disabled" python3 -c "import json; ev={e['origin']: e for e in map(json.loads, open('cfg.out'))}; assert sorted(ev)==['a.example/log','b.example/log','example.com/log'] and ev['b.example/log']['disabled'] is True and ev['b.example/log']['qpd']==5"
expect 0 "export imports into a new store" -- "$L" --url "sqlite:$work/d.db" config import cfg.out
expect 0 "with b still disabled" -- "$L" --url "sqlite:$work/d.db" config get b.example/log
check "state: disabled" grep -qx "state: disabled" out

# --- the store's export, import and copy carry them ---
printf 'example.com/log\n1\nAAAA\n' >cp
"$L" set example.com/log cp >/dev/null 2>&1
expect 0 "export of the store" -- "$L" export all.jsonl
check "export has the log and three config lines" bash -c "grep -c '^{\"config\": ' all.jsonl | grep -qx 3 && grep -c '\"log_b64\"' all.jsonl | grep -qx 1"
expect 0 "import of it elsewhere" -- "$L" --url "sqlite:$work/e.db" import all.jsonl
expect 0 "its configurations came" -- "$L" --url "sqlite:$work/e.db" config list --all
check "three entries" test "$(wc -l <out)" -eq 3
printf '%s\n' '{"config": {"origin": "x.example", "vkey": "x+1+AA=="}, "log": "x"}' >mixed.jsonl
expect 2 "import refuses a config line with more members" -- "$L" --url "sqlite:$work/e.db" import mixed.jsonl
expect 0 "copy" -- "$L" copy --to "sqlite:$work/f.db"
check "copy reports them" grep -q "log configurations: added 3, identical 0, with other values 0" out
expect 0 "copied disabled" -- "$L" --url "sqlite:$work/f.db" config get b.example/log
check "state: disabled after copy" grep -qx "state: disabled" out

# --- racing adders, one process each ---
race() { # URL: 8 processes add one origin with their own vkey: one is added, 7 conflict
  local url=$1 codes
  codes=$(for i in 1 2 3 4 5 6 7 8; do ("$L" --url "$url" config add race.example/log "race+$i+AA==" >/dev/null 2>&1; echo $?) & done; wait)
  [ "$(echo "$codes" | grep -cx 0)" -eq 1 ] && [ "$(echo "$codes" | grep -cx 4)" -eq 7 ]
}
"$L" --url "sqlite:$work/r.db" init >/dev/null 2>&1
check "8 processes racing on SQLite: one added, 7 conflicts" race "sqlite:$work/r.db"
check "one row" test "$(sqlite3 "$work/r.db" "SELECT count(*) FROM logs")" = 1

# --- Redis: the same, and the keys as an operator sees them ---
redis_script='
L=$1; url=$2; here=$3
race() { codes=$(for i in 1 2 3 4 5 6 7 8; do ("$L" --url "$url" config add race.example/log "race+$i+AA==" >/dev/null 2>&1; echo $?) & done; wait)
  [ "$(echo "$codes" | grep -cx 0)" -eq 1 ] && [ "$(echo "$codes" | grep -cx 4)" -eq 7 ]; }
"$L" --url "$url" init >/dev/null || exit 9
race || { echo "race failed"; exit 8; }
id=$("$L" id race.example/log)
[ "$(redis-cli -u "$url" SMEMBERS "{logstate}:configs")" = "$id" ] || exit 7
redis-cli -u "$url" HGETALL "{logstate}:config:$id" | grep -qx origin || exit 6
"$L" --url "$url?client_name=ops" config disable race.example/log --reason "by hand" >/dev/null || exit 5
[ "$(redis-cli -u "$url" HGET "{logstate}:config:$id" disabled)" = 1 ] || exit 4
redis-cli -u "$url" XREVRANGE "{logstate}:config-audit" + - COUNT 1 | grep -qx "by hand" || exit 3
"$L" --url "$url" config add race.example/log "$(redis-cli -u "$url" HGET "{logstate}:config:$id" vkey)" >/dev/null || exit 2
[ "$(redis-cli -u "$url" HGET "{logstate}:config:$id" disabled)" = 1 ] || exit 1
echo redis-config-ok
'
expect 0 "Redis: racing adders, the keys, the audit stream, a re-add keeps it disabled" -- "$RWR" --expect-output redis-config-ok -- /bin/bash -c "$redis_script" bash "$L" @URL@ "$here"

echo "test_cli_config: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
