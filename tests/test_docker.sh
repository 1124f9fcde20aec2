#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# docker/, checked without a Docker engine (none runs here):
# - compose.yaml parses and every file it names exists (its secrets are made
#   at deployment and ignored by git); the Dockerfile's inputs exist;
# - a redis-server started as the compose file starts it (docker/redis.conf,
#   docker/users.acl filled by docker/redis-entrypoint.sh from secret files)
#   passes the conformance suite as the `witness` user, refuses writes from
#   `operator`, and refuses a client without credentials.
# Usage: test_docker.sh SOURCE_DIR CONFORMANCE_REDIS [LOGSTATE_TOOL]
set -u
src=$(realpath "$1")
conformance=$(realpath "$2")
cli=${3:-}
work=$(mktemp -d /tmp/logstate-docker-XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/check.sh
. "$(dirname "$0")/check.sh"

# --- the files ---
check "compose.yaml parses and names files that exist" python3 - "$src/docker" <<'PY'
import os, sys, yaml
d = sys.argv[1]
c = yaml.safe_load(open(os.path.join(d, "compose.yaml")))
assert set(c["services"]) >= {"redis", "check", "tests"}, c["services"].keys()
for name, svc in c["services"].items():
    for v in svc.get("volumes", []):
        host = v.split(":")[0]
        if host.startswith("."):
            assert os.path.exists(os.path.join(d, host)), f"{name}: {host} missing"
    b = svc.get("build")
    if b:
        ctx = os.path.normpath(os.path.join(d, b["context"]))
        assert os.path.isfile(os.path.join(ctx, b["dockerfile"])), f"{name}: no Dockerfile"
    for s in svc.get("secrets", []):
        assert s in c["secrets"], f"{name}: secret {s} undeclared"
for s, v in c["secrets"].items():
    assert v["file"].startswith("./secrets/"), f"secret {s} must come from docker/secrets/"
redis = c["services"]["redis"]
assert redis["ports"] == ["127.0.0.1:6379:6379"], "Redis must listen on loopback only"
PY
check "the secrets directory is ignored by git" grep -qx '/docker/secrets/' "$src/.gitignore"
check "no password in users.acl" bash -c "! grep -E '>[^@ ]' '$src/docker/users.acl'"
check "the default user is off" grep -q '^user default off' "$src/docker/users.acl"
check "the Dockerfile's inputs exist" bash -c "grep -E '^COPY (scripts|\\.)' '$src/docker/Dockerfile' | awk '{print \$2}' | while read -r f; do test -e '$src/'\"\$f\" || exit 1; done"
check "the Dockerfile builds and tests with the CI scripts" bash -c "grep -q 'scripts/install-deps' '$src/docker/Dockerfile' && grep -q 'bash scripts/test' '$src/docker/Dockerfile'"

# --- a server as the compose file starts it ---
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/witness_password"
head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/operator_password"
head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/config_operator_password"
mkdir "$work/data" "$work/acl"
ACL_DIR=$work/acl ACL_TEMPLATE=$src/docker/users.acl REDIS_CONF=$src/docker/redis.conf \
  WITNESS_PASSWORD_FILE=$work/witness_password OPERATOR_PASSWORD_FILE=$work/operator_password \
  CONFIG_OPERATOR_PASSWORD_FILE=$work/config_operator_password \
  sh "$src/docker/redis-entrypoint.sh" --port "$port" --bind 127.0.0.1 --dir "$work/data" --databases 64 \
  --daemonize no --save '' >"$work/redis.log" 2>&1 &
pid=$!
wp=$(cat "$work/witness_password")
op=$(cat "$work/operator_password")
cop=$(cat "$work/config_operator_password")
for _ in $(seq 1 200); do
  redis-cli -p "$port" --user witness --pass "$wp" --no-auth-warning PING 2>/dev/null | grep -q PONG && break
  sleep 0.05
done
check "the server came up with the ACL file" bash -c "redis-cli -p $port --user witness --pass $wp --no-auth-warning PING | grep -q PONG"
check "a client without credentials is refused" bash -c "redis-cli -p $port PING 2>&1 | grep -qE 'NOAUTH|NOPERM'"
# The conformance suite as the witness (disabling and enabling logs as the
# config operator): one database per store number.
check "the conformance suite passes as the witness user" env LOGSTATE_REDIS_PASSWORD="$wp" \
  "$conformance" "redis://witness@127.0.0.1:$port/%u?prefix=logstate&timeout_ms=10000" \
  "redis://config-operator:$cop@127.0.0.1:$port/%u?prefix=logstate&timeout_ms=10000"
printf 'op.example\n1\nx\n' >"$work/cp"
if [ -n "$cli" ] && [ -x "$cli" ]; then
  check "the tool's check refuses a store not yet created (exit 6)" bash -c \
    "LOGSTATE_REDIS_PASSWORD=$wp '$cli' --url redis://witness@127.0.0.1:$port/ check; test \$? -eq 6"
  check "the tool's init creates the store as the witness and prints its store_id" bash -c \
    "LOGSTATE_REDIS_PASSWORD=$wp '$cli' --url redis://witness@127.0.0.1:$port/ init | grep -qE '^store_id: [0-9a-f]{32}\$'"
  check "the tool's check passes as the witness, durability verified" bash -c \
    "LOGSTATE_REDIS_PASSWORD=$wp '$cli' --url redis://witness@127.0.0.1:$port/ check | grep -q 'durability settings verified'"
  check "the tool's check passes as the operator (read-only)" bash -c \
    "LOGSTATE_REDIS_PASSWORD=$op '$cli' --url redis://operator@127.0.0.1:$port/ check | grep -q '^ok: redis'"
  check "the tool stores as the witness" env LOGSTATE_REDIS_PASSWORD="$wp" "$cli" --url "redis://witness@127.0.0.1:$port/" set op.example "$work/cp"
fi
check "the operator reads" bash -c "redis-cli -p $port --user operator --pass $op --no-auth-warning SMEMBERS '{logstate}:logs' | grep -q op.example"
check "the operator may not write" bash -c "redis-cli -p $port --user operator --pass $op --no-auth-warning HSET '{logstate}:log:x' checkpoint y | grep -q NOPERM"
check "the operator may not run the set script" bash -c "redis-cli -p $port --user operator --pass $op --no-auth-warning EVALSHA 0000000000000000000000000000000000000000 0 | grep -q NOPERM"
check "the witness may not leave its namespace" bash -c "redis-cli -p $port --user witness --pass $wp --no-auth-warning HSET other:key f v | grep -q NOPERM"
check "the witness may not change a log configuration" bash -c "redis-cli -p $port --user witness --pass $wp --no-auth-warning HSET '{logstate}:config:x' disabled 0 | grep -q NOPERM"
check "the witness may not write the audit trail" bash -c "redis-cli -p $port --user witness --pass $wp --no-auth-warning XADD '{logstate}:config-audit' '*' f v | grep -q NOPERM"
check "the passwords are not in the server's log" bash -c "! grep -qe '$wp' -e '$op' -e '$cop' '$work/redis.log'"

finish test_docker
