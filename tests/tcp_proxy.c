/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE
#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 32

struct tcp_proxy {
  int listen_fd, port, upstream_port;
  int wake[2];           /* a byte here makes the thread look at `frozen` and `stop` again */
  int fds[MAX_PAIRS][2]; /* client, upstream; -1: free */
  atomic_int frozen, stop;
  atomic_int applied; /* the `frozen` value the thread's current round obeys */
  atomic_int refuse;
  atomic_int delay_ms; /* each reply is held this long before it is passed on */
  atomic_int sever;    /* 1: the thread is to make every open pair dead */
  int dead[MAX_PAIRS]; /* severed: kept open, never read or written again */
  pthread_mutex_t mu;  /* guards the cut */
  char cut_pattern[64];
  int cut_forward;
  pthread_t thread;
};

static void close_pair(tcp_proxy *p, int i) {
  for (int k = 0; k < 2; k++) {
    if (p->fds[i][k] >= 0)
      close(p->fds[i][k]);
    p->fds[i][k] = -1;
  }
  p->dead[i] = 0;
}

static void accept_one(tcp_proxy *p) {
  int c = accept(p->listen_fd, NULL, NULL);
  if (c < 0)
    return;
  if (atomic_load(&p->refuse)) {
    close(c);
    return;
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)p->upstream_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int u = socket(AF_INET, SOCK_STREAM, 0);
  for (int i = 0; i < MAX_PAIRS; i++) {
    if (p->fds[i][0] < 0 && u >= 0 && connect(u, (struct sockaddr *)&a, sizeof(a)) == 0) {
      p->fds[i][0] = c;
      p->fds[i][1] = u;
      return;
    }
  }
  close(c);
  if (u >= 0)
    close(u);
}

/* Moves what is readable on fds[i][from] to the other side; 0 when the
 * pair is finished. */
static int forward(tcp_proxy *p, int i, int from) {
  char buf[16384];
  ssize_t n = read(p->fds[i][from], buf, sizeof(buf));
  if (n <= 0)
    return n < 0 && errno == EINTR;
  if (from == 0) { /* the client's bytes: is this the one to cut after? */
    pthread_mutex_lock(&p->mu);
    int cut = p->cut_pattern[0] && memmem(buf, (size_t)n, p->cut_pattern, strlen(p->cut_pattern)) != NULL;
    int fwd = p->cut_forward;
    if (cut)
      p->cut_pattern[0] = '\0';
    pthread_mutex_unlock(&p->mu);
    if (cut) {
      if (fwd)
        (void)!write(p->fds[i][1], buf, (size_t)n);
      return 0;
    }
  }
  int delay = atomic_load(&p->delay_ms);
  if (from == 1 && delay > 0) { /* a slow server (or link): the reply comes late */
    struct timespec d = {delay / 1000, (long)(delay % 1000) * 1000000L};
    nanosleep(&d, NULL);
  }
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(p->fds[i][1 - from], buf + off, (size_t)(n - off));
    if (w <= 0)
      return 0;
    off += w;
  }
  return 1;
}

static void *run(void *arg) {
  tcp_proxy *p = arg;
  while (!atomic_load(&p->stop)) {
    struct pollfd pf[2 + 2 * MAX_PAIRS];
    int idx[2 + 2 * MAX_PAIRS], n = 0, frozen = atomic_load(&p->frozen);
    atomic_store(&p->applied, frozen);
    if (atomic_load(&p->sever)) {
      for (int i = 0; i < MAX_PAIRS; i++)
        p->dead[i] = p->fds[i][0] >= 0;
      atomic_store(&p->sever, 0);
    }
    pf[n] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
    idx[n++] = -1;
    pf[n] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
    idx[n++] = -2;
    for (int i = 0; i < MAX_PAIRS && !frozen; i++)
      for (int k = 0; k < 2 && p->fds[i][0] >= 0 && !p->dead[i]; k++) {
        pf[n] = (struct pollfd){.fd = p->fds[i][k], .events = POLLIN};
        idx[n++] = i * 2 + k;
      }
    if (poll(pf, (nfds_t)n, 1000) <= 0)
      continue;
    for (int j = 0; j < n; j++) {
      if (!(pf[j].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      if (idx[j] == -1) {
        char b[16];
        (void)!read(p->wake[0], b, sizeof(b));
      } else if (idx[j] == -2) {
        accept_one(p);
      } else if (p->fds[idx[j] / 2][0] >= 0 && !forward(p, idx[j] / 2, idx[j] % 2)) {
        close_pair(p, idx[j] / 2);
      }
    }
  }
  return NULL;
}

tcp_proxy *tcp_proxy_start(int upstream_port) {
  tcp_proxy *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  memset(p->fds, -1, sizeof(p->fds));
  pthread_mutex_init(&p->mu, NULL);
  p->upstream_port = upstream_port;
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if ((p->listen_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || bind(p->listen_fd, (struct sockaddr *)&a, len) != 0 ||
      listen(p->listen_fd, 16) != 0 || getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0 ||
      pipe(p->wake) != 0) {
    if (p->listen_fd >= 0)
      close(p->listen_fd);
    free(p);
    return NULL;
  }
  p->port = ntohs(a.sin_port);
  if (pthread_create(&p->thread, NULL, run, p) != 0) {
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
    free(p);
    return NULL;
  }
  return p;
}

int tcp_proxy_port(const tcp_proxy *p) { return p->port; }

/* Returns once the thread obeys: nothing is forwarded after a freeze. */
void tcp_proxy_freeze(tcp_proxy *p, int frozen) {
  atomic_store(&p->frozen, frozen);
  atomic_store(&p->applied, -1);
  (void)!write(p->wake[1], "x", 1);
  struct timespec ms = {0, 1000000L};
  while (atomic_load(&p->applied) != frozen)
    nanosleep(&ms, NULL);
}

void tcp_proxy_cut(tcp_proxy *p, const char *pattern, int forward) {
  pthread_mutex_lock(&p->mu);
  snprintf(p->cut_pattern, sizeof(p->cut_pattern), "%s", pattern);
  p->cut_forward = forward;
  pthread_mutex_unlock(&p->mu);
}

void tcp_proxy_refuse(tcp_proxy *p, int refuse) { atomic_store(&p->refuse, refuse); }

void tcp_proxy_delay(tcp_proxy *p, int ms) { atomic_store(&p->delay_ms, ms); }

/* Returns once the thread has severed them. */
void tcp_proxy_sever(tcp_proxy *p) {
  atomic_store(&p->sever, 1);
  (void)!write(p->wake[1], "x", 1);
  struct timespec ms = {0, 1000000L};
  while (atomic_load(&p->sever))
    nanosleep(&ms, NULL);
}

void tcp_proxy_stop(tcp_proxy *p) {
  if (p == NULL)
    return;
  atomic_store(&p->stop, 1);
  (void)!write(p->wake[1], "x", 1);
  pthread_join(p->thread, NULL);
  for (int i = 0; i < MAX_PAIRS; i++)
    close_pair(p, i);
  close(p->listen_fd);
  close(p->wake[0]);
  close(p->wake[1]);
  pthread_mutex_destroy(&p->mu);
  free(p);
}
