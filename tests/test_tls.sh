#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's "Running over TLS" recipe, run: hiredis 0.14 has no TLS, so
# a local stunnel client (Debian's stunnel4) carries logstate's plain-text
# connection to a redis-server that listens on TLS only (tls-port, a
# certificate made here with openssl, verified by stunnel against it). The
# conformance suite and the tool run through it, and the server refuses
# plain text. Then a server that requires client certificates
# (tls-auth-clients yes): through a tunnel that presents one, and not
# through one that does not. Usage: test_tls.sh CONFORMANCE_REDIS LOGSTATE_TOOL
set -u
conformance=$(realpath "$1")
cli=$(realpath "$2")
work=$(mktemp -d /tmp/logstate-tls-XXXXXX)
redis_pid=""
tunnel_pid=""
redis2_pid=""
tunnel2_pid=""
cleanup() {
  for p in $tunnel_pid $redis_pid $tunnel2_pid $redis2_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
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

# One stunnel client service: NAME LOCAL_PORT TLS_PORT [CERT KEY], checking
# the server's certificate (and presenting CERT when given).
service() {
  printf '[%s]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' "$1" "$2" "$3"
  printf 'verifyChain = yes\nCAfile = %s\ncheckIP = 127.0.0.1\n' "$work/cert.pem"
  [ $# -lt 5 ] || printf 'cert = %s\nkey = %s\n' "$4" "$5"
}
# Waits (bounded) until PING through local port $1 answers.
wait_pong() {
  for _ in $(seq 1 250); do
    redis-cli -p "$1" PING 2>/dev/null | grep -q PONG && return
    sleep 0.02
  done
}

# The local end: stunnel in client mode.
local_port=$(free_port)
{ printf 'foreground = yes\npid =\n'; service redis "$local_port" "$tls_port"; } >"$work/stunnel.conf"
"$stunnel" "$work/stunnel.conf" >"$work/stunnel.log" 2>&1 &
tunnel_pid=$!
wait_pong "$local_port"
check "the server answers through the tunnel" bash -c "redis-cli -p $local_port PING | grep -q PONG"
check "the server refuses plain text on its TLS port" bash -c "! redis-cli -p $tls_port PING 2>&1 | grep -q PONG"
check "the conformance suite passes through the tunnel" \
  "$conformance" "redis://127.0.0.1:$local_port/%u?prefix=logstate&timeout_ms=10000"
url="redis://127.0.0.1:$local_port/"
check "the tool creates and checks the store through the tunnel, durability verified" bash -c \
  "'$cli' --url '$url' init >/dev/null && '$cli' --url '$url' check | grep -q 'durability settings verified'"
check "what went through the tunnel is on the server" bash -c \
  "printf 'tls.example\n1\nx\n' | '$cli' --url '$url' set tls.example - && redis-cli -p $local_port HGET '{logstate}:log:tls.example' version | grep -qx 1"

# --- with client certificates (tls-auth-clients yes) ---
# A second server that asks every client for a certificate it trusts; the
# stunnel client presents one (cert =, key =), made here too. A tunnel
# without it gets nothing through.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=witness -keyout "$work/client-key.pem" \
  -out "$work/client.pem" >/dev/null 2>&1
cat "$work/cert.pem" "$work/client.pem" >"$work/trusted.pem"
tls2_port=$(free_port)
mkdir "$work/mtls"
sed -e "s|^tls-port .*|tls-port $tls2_port|" -e "s|^tls-ca-cert-file .*|tls-ca-cert-file $work/trusted.pem|" \
  -e "s|^tls-auth-clients no|tls-auth-clients yes|" -e "s|^dir .*|dir $work/mtls|" \
  -e "s|^logfile .*|logfile $work/mtls/redis.log|" "$work/redis.conf" >"$work/mtls/redis.conf"
redis-server "$work/mtls/redis.conf" &
redis2_pid=$!
with_cert=$(free_port)
without_cert=$(free_port)
{
  printf 'foreground = yes\npid =\n'
  service with-cert "$with_cert" "$tls2_port" "$work/client.pem" "$work/client-key.pem"
  service without-cert "$without_cert" "$tls2_port"
} >"$work/stunnel2.conf"
"$stunnel" "$work/stunnel2.conf" >"$work/stunnel2.log" 2>&1 &
tunnel2_pid=$!
wait_pong "$with_cert"
check "with a client certificate, the server answers through the tunnel" \
  bash -c "redis-cli -p $with_cert PING | grep -q PONG"
check "without one, nothing gets through" bash -c "! redis-cli -p $without_cert PING 2>&1 | grep -q PONG"
url2="redis://127.0.0.1:$with_cert/"
check "the tool stores and reads through the client-certificate tunnel" bash -c \
  "'$cli' --url '$url2' init >/dev/null && printf 'mtls.example\n1\nx\n' | '$cli' --url '$url2' set mtls.example - && '$cli' --url '$url2' get mtls.example | grep -q mtls.example"
check "the conformance suite passes through the client-certificate tunnel" \
  "$conformance" "redis://127.0.0.1:$with_cert/%u?prefix=logstate&timeout_ms=10000"
finish test_tls
