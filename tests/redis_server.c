/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* mkdtemp, nftw details */
#include "redis_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

double test_now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void test_pause_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

redisContext *test_redis_admin(const test_redis *s) {
  struct timeval tv = {2, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
  if (c == NULL || c->err) {
    if (c)
      redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  return c;
}

static int launch(test_redis *s) {
  char conf[400];
  snprintf(conf, sizeof(conf), "%s/redis.conf", s->dir);
  FILE *f = fopen(conf, "w");
  if (f == NULL)
    return -1;
  if (s->sentinel) /* the sentinel rewrites this file: it must stay writable */
    fprintf(f, "bind 127.0.0.1\nport %d\ndir %s\ndaemonize no\nlogfile %s/redis.log\n%s\n", s->port, s->dir, s->dir,
            s->extra);
  else
    fprintf(f,
            "bind 127.0.0.1 -::1\nport %d\ndir %s\nunixsocket %s\nunixsocketperm 700\n"
            "appendonly yes\nappendfsync always\nsave \"\"\ndaemonize no\nlogfile %s/redis.log\n%s\n",
            s->port, s->dir, s->sock, s->dir, s->extra);
  fclose(f);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    if (s->sentinel)
      execlp("redis-server", "redis-server", conf, "--sentinel", (char *)NULL);
    else
      execlp("redis-server", "redis-server", conf, (char *)NULL);
    _exit(127);
  }
  s->pid = pid;
  /* Wait for the condition (PING answered), bounded. */
  double deadline = test_now_s() + 20;
  while (test_now_s() < deadline) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      s->pid = 0;
      return -1; /* exited: port taken, or bad config */
    }
    redisContext *c = test_redis_admin(s);
    if (c) {
      redisReply *r = redisCommand(c, "PING");
      /* Up: PONG, or NOAUTH from a server with a password (or LOADING, if
       * the test wants to meet it). */
      int ok = r && (r->type == REDIS_REPLY_STATUS ||
                     (r->type == REDIS_REPLY_ERROR &&
                      (strncmp(r->str, "NOAUTH", 6) == 0 || (s->loading_is_up && strncmp(r->str, "LOADING", 7) == 0))));
      if (r)
        freeReplyObject(r);
      redisFree(c);
      if (ok)
        return 0;
    }
    test_pause_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  s->pid = 0;
  return -1;
}

static int start(test_redis *s, const char *extra, int sentinel);

int test_redis_start(test_redis *s, const char *extra) { return start(s, extra, 0); }
int test_sentinel_start(test_redis *s, const char *conf) { return start(s, conf, 1); }

static int start(test_redis *s, const char *extra, int sentinel) {
  memset(s, 0, sizeof(*s));
  s->sentinel = sentinel;
  snprintf(s->extra, sizeof(s->extra), "%s", extra ? extra : "");
  snprintf(s->dir, sizeof(s->dir), "/tmp/logstate-redis-XXXXXX");
  if (mkdtemp(s->dir) == NULL)
    return -1;
  snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
  for (int attempt = 0; attempt < 5; attempt++) {
    if ((s->port = free_port()) > 0 && launch(s) == 0)
      return 0;
  }
  fprintf(stderr, "test_redis_start: redis-server did not start (see %s/redis.log)\n", s->dir);
  return -1;
}

int test_redis_restart(test_redis *s) {
  if (s->pid)
    test_redis_stop_keep(s);
  return launch(s);
}

static void stop_signal(test_redis *s, int sig) {
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGCONT); /* in case a test left it stopped */
  kill(s->pid, sig);
  double deadline = test_now_s() + 10;
  while (test_now_s() < deadline) {
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      s->pid = 0;
      return;
    }
    test_pause_ms(5);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

void test_redis_stop_keep(test_redis *s) { stop_signal(s, SIGTERM); }
void test_redis_kill9(test_redis *s) { stop_signal(s, SIGKILL); }

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

void test_redis_stop(test_redis *s) {
  test_redis_stop_keep(s);
  if (s->dir[0])
    nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  s->dir[0] = '\0';
}

int test_redis_info_has(const test_redis *s, const char *command, const char *what) {
  char words[64], *argv[4], *save = NULL;
  int argc = 0;
  snprintf(words, sizeof(words), "%s", command);
  for (char *w = strtok_r(words, " ", &save); w && argc < 4; w = strtok_r(NULL, " ", &save))
    argv[argc++] = w;
  redisContext *c = test_redis_admin(s);
  redisReply *r = c ? redisCommandArgv(c, argc, (const char **)argv, NULL) : NULL;
  int has = r && r->type == REDIS_REPLY_STRING && strstr(r->str, what) != NULL;
  if (r)
    freeReplyObject(r);
  if (c)
    redisFree(c);
  return has;
}

int test_redis_wait_info(const test_redis *s, const char *command, const char *what, double seconds) {
  double deadline = test_now_s() + seconds;
  while (!test_redis_info_has(s, command, what))
    if (test_now_s() > deadline)
      return 0;
    else
      test_pause_ms(10);
  return 1;
}

/* The README's "ACL SETUSER kind on >PASSWORD ..." line, in `line`. */
static int readme_acl_line(const char *kind, char *line, size_t size) {
  char want[64];
  snprintf(want, sizeof(want), "ACL SETUSER %s on >PASSWORD ", kind);
  FILE *f = fopen(LOGSTATE_TEST_README, "r");
  if (f == NULL) {
    perror(LOGSTATE_TEST_README);
    return -1;
  }
  int found = 0;
  while (!found && fgets(line, (int)size, f))
    found = strncmp(line, want, strlen(want)) == 0;
  fclose(f);
  if (!found)
    fprintf(stderr, "test_redis_readme_acl: no \"%s\" line in %s\n", want, LOGSTATE_TEST_README);
  return found ? 0 : -1;
}

/* `w` with every "{logstate}" turned into "{ns}", into a new string. */
static char *with_namespace(const char *w, const char *ns) {
  size_t n = strlen(w) + 1;
  for (const char *p = w; (p = strstr(p, "{logstate}")) != NULL; p++)
    n += strlen(ns);
  char *out = malloc(n), *o = out;
  for (const char *p = w, *at; *p; p = at + strlen("{logstate}")) {
    if ((at = strstr(p, "{logstate}")) == NULL) {
      strcpy(o, p);
      return out;
    }
    o += sprintf(o, "%.*s{%s}", (int)(at - p), p, ns);
  }
  *o = '\0';
  return out;
}

int test_redis_readme_acl(const test_redis *s, const char *kind, const char *name, const char *pass, const char *ns,
                          const char *extra) {
  char line[2048], more[512], passarg[128], *save = NULL;
  const char *args[128];
  char *owned[128];
  int argc = 0, nowned = 0;
  if (readme_acl_line(kind, line, sizeof(line)) != 0)
    return -1;
  snprintf(passarg, sizeof(passarg), ">%s", pass);
  snprintf(more, sizeof(more), "%s", extra ? extra : "");
  /* By argv, word for word (rules such as %R~ are no printf conversions),
   * a selector "(...)" as one argument. */
  for (char *w = strtok_r(line, " \n", &save); w && argc < 100; w = strtok_r(NULL, " \n", &save)) {
    if (argc == 2) {
      args[argc++] = name;
      args[argc++] = "reset"; /* an earlier user of that name leaves nothing */
      continue;
    }
    if (w[0] == '(')
      while (w[strlen(w) - 1] != ')') { /* join the selector's words back */
        char *next = strtok_r(NULL, " \n", &save);
        if (next == NULL)
          break;
        next[-1] = ' ';
      }
    if (strcmp(w, ">PASSWORD") == 0)
      args[argc++] = passarg;
    else
      args[argc++] = owned[nowned++] = with_namespace(w, ns);
  }
  for (char *w = strtok_r(more, " ", &save); w && argc < 128; w = strtok_r(NULL, " ", &save))
    args[argc++] = w;
  redisContext *c = test_redis_admin(s);
  redisReply *r = c ? redisCommandArgv(c, argc, args, NULL) : NULL;
  int ok = r && r->type == REDIS_REPLY_STATUS;
  if (!ok)
    fprintf(stderr, "test_redis_readme_acl: ACL SETUSER %s: %s\n", name, r && r->str ? r->str : "no reply");
  if (r)
    freeReplyObject(r);
  if (c)
    redisFree(c);
  for (int i = 0; i < nowned; i++)
    free(owned[i]);
  return ok ? 0 : -1;
}

static redisReply *vcmd(const test_redis *s, const char *fmt, va_list ap) {
  redisContext *c = test_redis_admin(s);
  if (c == NULL) {
    fprintf(stderr, "test_redis_cmd: cannot connect to port %d\n", s->port);
    abort();
  }
  redisReply *r = redisvCommand(c, fmt, ap);
  redisFree(c);
  if (r == NULL) {
    fprintf(stderr, "test_redis_cmd: no reply\n");
    abort();
  }
  return r;
}

redisReply *test_redis_cmd(const test_redis *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = vcmd(s, fmt, ap);
  va_end(ap);
  return r;
}

void test_redis_do(const test_redis *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  freeReplyObject(vcmd(s, fmt, ap));
  va_end(ap);
}
