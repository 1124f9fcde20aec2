#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's "Running over TLS" recipe, run: hiredis 0.14 has no TLS, so
# a local stunnel client (Debian's stunnel4) carries logstate's plain-text
# connection to a redis-server that listens on TLS only (tls-port, a
# certificate made here with openssl, verified by stunnel against it). The
# conformance suite and the tool run through it, and the server refuses
# plain text. Usage: test_tls.sh CONFORMANCE_REDIS LOGSTATE_TOOL
set -u
conformance=$(realpath "$1")
cli=$(realpath "$2")
work=$(mktemp -d /tmp/logstate-tls-XXXXXX)
redis_pid=""
tunnel_pid=""
cleanup() {
  for p in $tunnel_pid $redis_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/check.sh
. "$(dirname "$0")/check.sh"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stunnel=$(command -v stunnel4 || command -v stunnel) || { echo "test_tls: stunnel4 is not installed (scripts/install-deps installs it)"; exit 1; }

# A certificate for 127.0.0.1, valid one day.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
check "openssl made a certificate" test -s "$work/cert.pem"

# The server: TLS only (port 0 turns plain TCP off), durable.
tls_port=$(free_port)
cat >"$work/redis.conf" <<CONF
bind 127.0.0.1
port 0
tls-port $tls_port
tls-cert-file $work/cert.pem
tls-key-file $work/key.pem
tls-ca-cert-file $work/cert.pem
tls-auth-clients no
dir $work
appendonly yes
appendfsync always
save ""
databases 64
daemonize no
logfile $work/redis.log
CONF
redis-server "$work/redis.conf" &
redis_pid=$!

# The local end: stunnel in client mode, checking the server's certificate.
local_port=$(free_port)
cat >"$work/stunnel.conf" <<CONF
foreground = yes
pid =
[redis]
client = yes
accept = 127.0.0.1:$local_port
connect = 127.0.0.1:$tls_port
verifyChain = yes
CAfile = $work/cert.pem
checkIP = 127.0.0.1
CONF
"$stunnel" "$work/stunnel.conf" >"$work/stunnel.log" 2>&1 &
tunnel_pid=$!
for _ in $(seq 1 250); do
  redis-cli -p "$local_port" PING 2>/dev/null | grep -q PONG && break
  sleep 0.02
done
check "the server answers through the tunnel" bash -c "redis-cli -p $local_port PING | grep -q PONG"
check "the server refuses plain text on its TLS port" bash -c "! redis-cli -p $tls_port PING 2>&1 | grep -q PONG"
check "the conformance suite passes through the tunnel" \
  "$conformance" "redis://127.0.0.1:$local_port/%u?prefix=logstate&timeout_ms=10000"
url="redis://127.0.0.1:$local_port/"
check "the tool creates and checks the store through the tunnel, durability verified" bash -c \
  "'$cli' --url '$url' init >/dev/null && '$cli' --url '$url' check | grep -q 'durability settings verified'"
check "what went through the tunnel is on the server" bash -c \
  "printf 'tls.example\n1\nx\n' | '$cli' --url '$url' set tls.example - && redis-cli -p $local_port HGET '{logstate}:log:tls.example' version | grep -qx 1"
finish test_tls
