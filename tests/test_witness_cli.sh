#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The `logstate` tool on the Go witness's SQLite file (witness_standin.py
# acting as the witness, with its statements, value types and settings) and
# on hostile or unlucky files, as a careful operator would try it:
#   - the witness's journal mode after every command, and its fsyncs;
#   - sets next to a busy witness;
#   - one exit code per cause (busy, no space, permission, a directory);
#   - read commands create and change nothing, for an operator who may not
#     write the directory too; a failed command leaves no file;
#   - hostile files refused with the file byte for byte as it was;
#   - logs stored twice found by check and mended by repair.
# Usage: test_witness_cli.sh LOGSTATE_BINARY WITNESS_STANDIN
set -u
here=$(dirname "$(realpath "$0")")
L=$(realpath "$1")
W=$(realpath "$2")
work=$(mktemp -d /tmp/logstate-wcli-XXXXXX)
mnt=""
cleanup() {
  [ -n "$mnt" ] && umount "$mnt" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work" # another user must reach it
cd "$work"
umask 022
# shellcheck source=tests/cli_checks.sh
. "$here/cli_checks.sh"
w() { python3 "$W" "$@"; }
# The files of a database, its side files included, with their bytes.
snapshot() { for f in "$1" "$1"-*; do [ -e "$f" ] && printf '%s %s\n' "$f" "$(sha256sum <"$f" | cut -c1-16)"; done; }
# As another user who may read the work directory but not write it (root
# passes every permission check, so it runs as nobody).
as_other() {
  if [ "$(id -u)" -eq 0 ]; then setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; else "$@"; fi
}

printf 'w.example/log\n5\nWWWW\n' >wcp
printf 'l.example/log\n7\nLLLL\n' >lcp

# --- the witness's journal mode, after every command -------------------------
w wit.db 2024 init
w wit.db 2024 set w.example/log wcp
kept_mode() { # after COMMAND...: still a rollback journal, no side file left
  local what=$1
  check "$what: the witness's file keeps its rollback journal" test "$(w wit.db 2024 mode)" = delete
  check "$what: no -wal, -shm or -journal left" bash -c '! ls wit.db-* >/dev/null 2>&1'
}
expect 0 "init on the witness's file" -- "$L" --url sqlite:wit.db init
check "init says the mode and whose choice it is" grep -q "journal: rollback journal, the file's own (logstate changes the journal mode only of files it creates); logstate writes with synchronous=FULL" "$work/out"
kept_mode init
for cmd in "check" "logs" "get w.example/log" "set l.example/log lcp" "set l.example/log wcp --expect-absent" \
  "history l.example/log" "export" "export-monitoring mon" "copy --to sqlite:copy.db" "repair"; do
  # shellcheck disable=SC2086 # cmd is a list
  "$L" --url sqlite:wit.db $cmd >"$work/out" 2>"$work/err"
  kept_mode "$cmd"
done
"$L" --url sqlite:wit.db export >wit.jsonl
expect 0 "import into the witness's file" -- "$L" --url sqlite:wit.db import wit.jsonl
kept_mode import
expect 0 "copy into the witness's file" -- "$L" --url sqlite:copy.db copy --to sqlite:wit.db
kept_mode "copy --to"
expect 0 "a set with history" -- "$L" --url "sqlite:wit.db?history=4" set l.example/log wcp
kept_mode "set with history"
expect 0 "check" -- "$L" --url sqlite:wit.db check
check "check says the mode too" grep -q "journal: rollback journal, the file's own" "$work/out"
w wit.db 2024 get l.example/log >from-witness
check "the witness reads logstate's log" cmp -s from-witness wcp

# --- an empty checkpoint the witness stored is present ----------------------
: >empty
w wit.db 2024 set e.example/log empty
expect 0 "logs lists the witness's empty checkpoint" -- "$L" --url sqlite:wit.db logs
check "listed" grep -qx e.example/log "$work/out"
expect 0 "get returns it" -- "$L" --url sqlite:wit.db get e.example/log
check "0 bytes" test ! -s "$work/out"
expect 4 "--expect-absent is refused for it" -- "$L" --url sqlite:wit.db set e.example/log lcp --expect-absent
w wit.db 2024 get e.example/log >still
check "and it stays empty" test ! -s still

# --- the witness's fsyncs before and after logstate wrote to its file -------
fsyncs() { # the fsync and fdatasync calls of 100 witness commits
  strace -f -qq -c -e trace=fsync,fdatasync -o fs.trace python3 "$W" fs.db 2024 count c 100 >/dev/null &&
    awk '$NF == "fsync" || $NF == "fdatasync" {n += $4} END {print n + 0}' fs.trace
}
if command -v strace >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null; then
  w fs.db 2024 init
  before=$(fsyncs)
  "$L" --url sqlite:fs.db set l.example/log lcp >/dev/null
  "$L" --url "sqlite:fs.db?history=8" set l.example/log wcp >/dev/null
  after=$(fsyncs)
  echo "witness fsyncs per 100 commits: $before before logstate wrote to its file, $after after"
  check "the witness syncs every commit before ($before)" test "$before" -ge 200
  check "and after logstate wrote to its file ($after)" test "$after" -ge 200
else
  echo "skipped: strace cannot trace here (the fsync count)"
fi

# --- next to a busy witness-style writer --------------------------------------
w busy.db 2024 init
python3 "$W" busy.db 2024 busy busy.stop >busy.out &
busy=$!
for _ in $(seq 1 200); do w busy.db 2024 get busy >/dev/null 2>&1 && break; sleep 0.05; done
first=$(w busy.db 2024 get busy | cut -d' ' -f2)
fails=0
start=$(date +%s%N)
for i in $(seq 1 10); do
  "$L" --url sqlite:busy.db set "l$i.example/log" lcp 2>>busy.err || fails=$((fails + 1))
done
ms=$((($(date +%s%N) - start) / 1000000))
last=$(w busy.db 2024 get busy | cut -d' ' -f2)
touch busy.stop
wait "$busy"
echo "next to a busy witness: $fails failures in 10 sets ($ms ms in all); the witness committed $((last - first)) times meanwhile, $(cat busy.out) in all"
check "the witness was busy during the sets ($first to $last)" test "$((last - first))" -gt 10
check "0 failures in 10 sets next to a busy witness ($(head -c 300 busy.err))" test "$fails" -eq 0
check "the busy witness's file keeps its rollback journal" test "$(w busy.db 2024 mode)" = delete

# --- logstate processes racing on one file: each command's set-up writes nothing
"$L" --url sqlite:race.db init >/dev/null
pids=()
for p in $(seq 1 8); do
  (for i in $(seq 1 5); do "$L" --url sqlite:race.db set "p$p-$i" lcp 2>>race.err || echo x >>race.fail; done) &
  pids+=($!)
done
wait "${pids[@]}"
check "8 processes x 5 sets at once: none failed ($(head -c 300 race.err 2>/dev/null))" test ! -e race.fail
check "40 logs stored" test "$("$L" --url sqlite:race.db logs | wc -l)" -eq 40

# --- one exit code per cause ---------------------------------------------------
# Busy: another writer holds the lock past the busy timeout: 5, try again.
"$L" --url sqlite:lock.db set x lcp >/dev/null
python3 -c '
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").write("held")
time.sleep(5)
' lock.db held &
holder=$!
for _ in $(seq 1 200); do [ -s held ] && break; sleep 0.05; done
expect 5 "busy past the busy timeout" -- "$L" --url "sqlite:lock.db?busy_timeout_ms=200" set x wcp
check "busy says so" grep -q "RESOURCE_EXHAUSTED: .*locked by another writer past the busy timeout" "$work/err"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
# A directory where the file belongs: 2, a clear message.
mkdir adir
expect 2 "a directory as the database" -- "$L" --url sqlite:adir logs
check "says it is a directory" grep -q '"adir" is a directory, not a database file' "$work/err"
expect 2 "a directory as the database (set)" -- "$L" --url sqlite:adir set x lcp
# Permission: 1, PERMISSION_DENIED, and no file made.
mkdir -m 755 locked
"$L" --url sqlite:locked/s.db set x lcp >/dev/null
expect 1 "set by a user who may not write the file" -- as_other "$L" --url sqlite:locked/s.db set x wcp
check "PERMISSION_DENIED" grep -q "PERMISSION_DENIED" "$work/err"
expect 1 "set on a missing file in a directory the user may not write" -- as_other "$L" --url sqlite:locked/new.db set x wcp
check "PERMISSION_DENIED (new file)" grep -q "PERMISSION_DENIED" "$work/err"
check "no file made" test ! -e locked/new.db
# A failed command leaves no file behind.
expect 4 "set --expect on a missing file" -- "$L" --url sqlite:never.db set x lcp --expect wcp
check "no file left" bash -c '! ls never.db* >/dev/null 2>&1'
expect 6 "repair of no store" -- "$L" --url sqlite:never.db repair
check "no file left by repair" bash -c '! ls never.db* .logstate-new-* >/dev/null 2>&1'
# No space: 1, "no space", nothing half made; reads still work.
mkdir full
if mount -t tmpfs -o size=256k tmpfs full 2>/dev/null; then
  mnt=$work/full
  "$L" --url sqlite:full/s.db set x lcp >/dev/null
  dd if=/dev/zero of=full/filler bs=4k 2>/dev/null
  expect 1 "set on a full disk" -- "$L" --url sqlite:full/s.db set y wcp
  check "says no space" grep -q "RESOURCE_EXHAUSTED: .*no space left" "$work/err"
  expect 1 "set on a missing file on a full disk" -- "$L" --url sqlite:full/n.db set y wcp
  check "says no space (new file)" grep -q "no space" "$work/err"
  check "no file half made" bash -c '! ls full/n.db* full/.logstate-new-* >/dev/null 2>&1'
  expect 0 "get on a full disk" -- "$L" --url sqlite:full/s.db get x
  expect 0 "logs on a full disk" -- "$L" --url sqlite:full/s.db logs
  expect 0 "check on a full disk" -- "$L" --url sqlite:full/s.db check
  umount full && mnt=""
else
  echo "skipped: cannot mount a tmpfs here (the full-disk cases)"
fi

# --- read commands create and change nothing --------------------------------
mkdir -m 755 ro
"$L" --url sqlite:ro/wal.db set x lcp >/dev/null
w ro/rb.db 2024 set w.example/log wcp
for db in ro/wal.db ro/rb.db; do
  before=$(snapshot "$db")
  for cmd in "check" "logs" "export" "history x" "get x"; do
    # shellcheck disable=SC2086 # cmd is a list
    "$L" --url "sqlite:$db" $cmd >/dev/null 2>&1
    # shellcheck disable=SC2086
    as_other "$L" --url "sqlite:$db" $cmd >"$work/out" 2>"$work/err"
    code=$?
    check "$cmd on $db by a user who may not write the directory: ran ($code: $(head -c 200 "$work/err"))" test "$code" -eq 0 -o "$code" -eq 3
    check "$cmd on $db: nothing created or changed" test "$(snapshot "$db")" = "$before"
  done
done
python3 -c '
import shutil, sqlite3
db = sqlite3.connect("ro/src.db", isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB)")
db.execute("INSERT INTO chkpts VALUES (?, ?)", ("x", b"frames in the -wal only"))
shutil.copy("ro/src.db", "ro/half.db")
shutil.copy("ro/src.db-wal", "ro/half.db-wal")
'
chmod 644 ro/half.db ro/half.db-wal
expect 1 "a WAL file with a -wal but no -shm" -- as_other "$L" --url sqlite:ro/half.db logs
check "says what is missing and the way out" grep -q "has a -wal file without its -shm file: reading it would create that file" "$work/err"

# --- hostile files: refused, byte for byte as they were ---------------------
hostile() { # hostile NAME SQL: init and set refuse it, naming WHY, changing nothing
  local name=$1 sql=$2 why=$3
  sqlite3 "h-$name.db" "$sql"
  local before
  before=$(snapshot "h-$name.db")
  for cmd in init "set x lcp"; do
    # shellcheck disable=SC2086 # cmd is a list
    expect 1 "$cmd on a file whose $name" -- "$L" --url "sqlite:h-$name.db" $cmd
    check "$cmd ($name): FAILED_PRECONDITION naming it" grep -q "FAILED_PRECONDITION: .*$why" "$work/err"
    check "$cmd ($name): init never says ok" bash -c "! grep -q '^ok' '$work/out'"
    check "$cmd ($name): the file is byte for byte as it was, nothing beside it" test "$(snapshot "h-$name.db")" = "$before"
  done
}
hostile "chkpts is a view" "CREATE TABLE t (logID, chkpt); CREATE VIEW chkpts AS SELECT * FROM t;" "chkpts is a view"
hostile "chkpts has another column" "CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB, extra INT);" "has a column extra"
hostile "chkpts lacks a column" "CREATE TABLE chkpts (logID BLOB PRIMARY KEY, range BLOB);" "lacks a column"
hostile "logID is an integer" "CREATE TABLE chkpts (logID INTEGER PRIMARY KEY, chkpt BLOB);" "logID as its one primary key"
hostile "logstate_meta is a view" "CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB); CREATE VIEW logstate_meta AS SELECT 1 AS key, 2 AS value;" "logstate_meta is a view"
hostile "logstate_versions is not logstate's" "CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB); CREATE TABLE logstate_versions (id, n);" "table logstate_versions has a column id"
hostile "encoding is UTF-16" "PRAGMA encoding='UTF-16le'; CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB);" "encoding is UTF-16le"
hostile "in WAL mode, chkpts is a view" "PRAGMA journal_mode=WAL; CREATE TABLE t (logID, chkpt); CREATE VIEW chkpts AS SELECT * FROM t;" "chkpts is a view"

# --- logs stored twice: check names them, repair mends what it can ----------
w dup.db 2024 init
w dup.db 2024 blob old.example/log wcp
w dup.db 2024 blob twice.example/log wcp
w dup.db 2024 set twice.example/log lcp
expect 1 "check on logs stored under BLOB IDs" -- "$L" --url sqlite:dup.db check
check "names the log stored twice" grep -q 'damaged: log "twice.example/log": stored twice in chkpts, under a TEXT and a BLOB ID' "$work/out"
check "names the BLOB-only log" grep -q 'damaged: log "old.example/log": stored under a BLOB ID' "$work/out"
expect 1 "get of a log stored twice" -- "$L" --url sqlite:dup.db get twice.example/log
check "INTERNAL, naming both rows" grep -q "INTERNAL: .*stored twice in chkpts, under a TEXT and a BLOB ID" "$work/err"
expect 1 "set on a log stored twice" -- "$L" --url sqlite:dup.db set twice.example/log wcp
expect 1 "repair leaves the two that disagree" -- "$L" --url sqlite:dup.db repair
check "repair converts the BLOB-only log" grep -q 'repaired: log "old.example/log": its BLOB ID became TEXT' "$work/out"
check "and shows both checkpoints of the other" bash -c "grep -q 'left: log \"twice.example/log\"' '$work/out' && grep -q '\"l.example/log\"' '$work/out' && grep -q '\"w.example/log\"' '$work/out'"
check "counts" grep -q "repair: 1 repaired, 1 left" "$work/out"
w dup.db 2024 get old.example/log >old
check "the witness sees the converted log" cmp -s old wcp
sqlite3 dup.db "DELETE FROM chkpts WHERE logID = CAST('twice.example/log' AS BLOB)"
expect 0 "repair once resolved" -- "$L" --url sqlite:dup.db repair
expect 0 "check once resolved" -- "$L" --url sqlite:dup.db check

echo "test_witness_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
