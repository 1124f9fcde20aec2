#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for the Go witness on its SQLite file, for the interop tests.

It issues the witness's own statements (../shared/reference/go-witness-sqlite.md)
with the witness's value types and default settings: Python's sqlite3 binds a
str as TEXT and bytes as BLOB, as the Go drivers bind a Go string and a []byte;
one connection, the rollback journal the file already has, synchronous=NORMAL
(the Go driver's default, set here because Debian's SQLite defaults to FULL),
a 5 s busy timeout, explicit BEGIN (deferred) ... COMMIT. SQLITE_BUSY is the
witness's pushback: its client sends the checkpoint again.

usage: witness_standin.py DB SCHEMA COMMAND [ARGS]
  SCHEMA: 2024 (chkpts with range), 2026 (chkpts without range, and logs), or
          2026-checkpoints (the 2026 chkpts alone)
  init                  CREATE TABLE IF NOT EXISTS, as the witness does at start
                        (every command but mode and blob starts so)
  get LOG               the checkpoint on stdout (exit 3: NotFound)
  set LOG FILE          one write transaction storing FILE's bytes
  logs                  the log IDs, one per line
  count LOG N           N increments of the counter "ORIGIN\\nK\\nhash\\n" (as the C
                        tests' test_fn_increment), each resubmitted on pushback;
                        prints the number acknowledged
  busy STOPFILE         back-to-back write transactions on log "busy" ("busy N")
                        until STOPFILE exists (60 s at most); prints how many
  blob LOG FILE         what logstate before 0.2 did: the ID bound as BLOB
  mode                  the journal mode, as a new connection of the witness sees it
  (2026 only, the list of logs the witness serves, as its persistence keeps it:)
  addlog ORIGIN VKEY [CONTACT [QPD]]
                        AddLogs: INSERT OR IGNORE, insert-only, with the Go zero
                        values for what is not given ("" contact, 0 qpd, not disabled)
  log ORIGIN            Log(origin): "usable" or "disabled" and the entry on
                        stdout (exit 3: no entry)
  enabled               Logs(): the origins of the enabled entries, one per line
"""
import hashlib
import os
import sqlite3
import sys
import time

SCHEMAS = {
    "2024": ["CREATE TABLE IF NOT EXISTS chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB)"],
    "2026": [
        "CREATE TABLE IF NOT EXISTS chkpts (logID BLOB PRIMARY KEY, chkpt BLOB)",
        "CREATE TABLE IF NOT EXISTS logs (logID BLOB PRIMARY KEY, origin STRING NOT NULL, vkey STRING NOT NULL, "
        "contact STRING, qpd FLOAT64, disabled BOOL)",
    ],
    "2026-checkpoints": ["CREATE TABLE IF NOT EXISTS chkpts (logID BLOB PRIMARY KEY, chkpt BLOB)"],
}


def connect(path):
    db = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def select(db, log):
    row = db.execute("SELECT chkpt FROM chkpts WHERE logID = ?", (log,)).fetchone()
    return None if row is None else (row[0] if row[0] is not None else b"")


def write(db, schema, log, cp):
    if schema == "2024":  # the 2026 forms write (logID, chkpt)
        db.execute("INSERT OR REPLACE INTO chkpts (logID, chkpt, range) VALUES (?, ?, ?)", (log, cp, None))
    else:
        db.execute("INSERT OR REPLACE INTO chkpts (logID, chkpt) VALUES (?, ?)", (log, cp))


def update(db, schema, log, fn):
    """Update(origin, f): BEGIN, read, f, write, COMMIT; False on pushback."""
    try:
        db.execute("BEGIN")
        write(db, schema, log, fn(select(db, log)))
        db.execute("COMMIT")
        return True
    except sqlite3.OperationalError as e:
        if "locked" not in str(e) and "busy" not in str(e):
            raise
        if db.in_transaction:
            db.execute("ROLLBACK")
        return False


def log_id(origin):
    """transparency-dev/formats' log.ID: hex SHA-256 of "o:" || origin."""
    return hashlib.sha256(b"o:" + origin.encode()).hexdigest()


def add_log(db, origin, vkey, contact="", qpd=0.0):
    db.execute("BEGIN")
    db.execute("INSERT OR IGNORE INTO logs (logID, origin, vkey, contact, qpd, disabled) VALUES (?, ?, ?, ?, ?, ?)",
               (log_id(origin), origin, vkey, contact, float(qpd), False))
    db.execute("COMMIT")


def increment(cur):
    n = 0 if cur is None else int(cur.split(b"\n")[1])
    return b"counter.example\n%d\nhash\n" % (n + 1)


def main(argv):
    path, schema, cmd, args = argv[1], argv[2], argv[3], argv[4:]
    db = connect(path)
    if cmd not in ("mode", "blob"):  # the witness's start: its tables, if missing
        for stmt in SCHEMAS[schema]:
            db.execute(stmt)
    if cmd == "init":
        pass
    elif cmd == "get":
        cp = select(db, args[0])
        if cp is None:
            sys.stderr.write("witness: no checkpoint for log\n")
            return 3
        sys.stdout.buffer.write(cp)
    elif cmd == "set":
        data = open(args[1], "rb").read()
        while not update(db, schema, args[0], lambda cur: data):
            pass
    elif cmd == "logs":
        for (log,) in db.execute("SELECT logID FROM chkpts"):
            print(log.decode() if isinstance(log, bytes) else log)
    elif cmd == "count":
        acked, pushback = 0, 0
        while acked < int(args[1]):
            if update(db, schema, args[0], increment):
                acked += 1
            else:
                pushback += 1
                if pushback > 100000:
                    raise SystemExit("witness: pushed back 100000 times")
        print(acked)
    elif cmd == "busy":
        end, n = time.monotonic() + 60, 0
        while time.monotonic() < end and not os.path.exists(args[0]):
            n += update(db, schema, "busy", lambda cur: b"busy %d" % n)
        print(n)
    elif cmd == "blob":
        db.execute("INSERT INTO chkpts (logID, chkpt) VALUES (?, ?)", (args[0].encode(), open(args[1], "rb").read()))
    elif cmd == "mode":
        print(db.execute("PRAGMA journal_mode").fetchone()[0])
    elif cmd == "addlog":
        add_log(db, *args)
    elif cmd == "log":
        row = db.execute("SELECT origin, vkey, contact, qpd, disabled FROM logs WHERE logID = ?",
                         (log_id(args[0]),)).fetchone()
        if row is None:
            sys.stderr.write("witness: no such log\n")
            return 3
        print("disabled" if row[4] else "usable", *row[:4], sep="\t")
    elif cmd == "enabled":
        for (origin,) in db.execute("SELECT origin FROM logs WHERE NOT disabled ORDER BY origin"):
            print(origin)
    else:
        raise SystemExit("witness: unknown command " + cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
