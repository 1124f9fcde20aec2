/* SPDX-License-Identifier: Apache-2.0 */
/* A TCP proxy for tests, on 127.0.0.1: every connection it accepts is
 * forwarded to an upstream port, byte for byte, by one thread. Frozen, it
 * forwards nothing (bytes wait in the kernel, the connections stay open):
 * a link that looks up and carries nothing, as a stalled network does. */
#ifndef LOGSTATE_TEST_TCP_PROXY_H
#define LOGSTATE_TEST_TCP_PROXY_H

typedef struct tcp_proxy tcp_proxy;

/* Listens on a free port; NULL on failure. */
tcp_proxy *tcp_proxy_start(int upstream_port);
int tcp_proxy_port(const tcp_proxy *p);
/* 1: stop forwarding; 0: forward again. */
void tcp_proxy_freeze(tcp_proxy *p, int frozen);
/* The next client bytes holding `pattern`: with `forward`, sent upstream
 * first; then that connection is cut both ways, so that no reply comes
 * back (a set sent whose reply is lost; without `forward`, a set lost on
 * the way). Once. */
void tcp_proxy_cut(tcp_proxy *p, const char *pattern, int forward);
/* 1: every new connection is closed at once (a server that is gone); 0: as
 * before. */
void tcp_proxy_refuse(tcp_proxy *p, int refuse);
/* Each chunk of reply bytes is held `ms` before it is passed on (0: off):
 * a slow server or link. One thread forwards everything, so the requests
 * wait behind it too. */
void tcp_proxy_delay(tcp_proxy *p, int ms);
/* Half-open: every connection open now stays open and passes nothing, ever
 * (no FIN, no RST, as when the peer's host vanished); new connections
 * work. */
void tcp_proxy_sever(tcp_proxy *p);
/* Closes every connection and frees the proxy. */
void tcp_proxy_stop(tcp_proxy *p);

#endif
