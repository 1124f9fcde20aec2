/* SPDX-License-Identifier: Apache-2.0 */
/* Runs a program against a throwaway redis-server, for tests of the
 * examples and the command-line tool:
 *
 *   run_with_redis [--expect-exit N] [--expect-output TEXT]... -- PROGRAM ARG...
 *
 * "@URL@" in an argument becomes redis://127.0.0.1:PORT/. The program's
 * stdout is captured and echoed; the exit status must be N (default 0) and
 * the output must contain every TEXT. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis_server.h"

int main(int argc, char **argv) {
  int expect_exit = 0, i = 1;
  const char *expect[16];
  int nexpect = 0;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--expect-exit") == 0 && i + 1 < argc)
      expect_exit = atoi(argv[++i]);
    else if (strcmp(argv[i], "--expect-output") == 0 && i + 1 < argc && nexpect < 16)
      expect[nexpect++] = argv[++i];
  }
  if (i + 1 >= argc) {
    fprintf(stderr, "usage: run_with_redis [--expect-exit N] [--expect-output TEXT]... -- PROGRAM ARG...\n");
    return 2;
  }
  test_redis server;
  if (test_redis_start(&server, NULL) != 0)
    return 1;
  char url[64];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/", server.port);
  char **args = calloc((size_t)(argc - i), sizeof(*args));
  for (int j = i + 1; j < argc; j++)
    args[j - i - 1] = strcmp(argv[j], "@URL@") == 0 ? url : argv[j];
  int fds[2];
  if (pipe(fds) != 0)
    return 1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    execv(args[0], args);
    perror(args[0]);
    _exit(127);
  }
  close(fds[1]);
  char out[65536];
  size_t n = 0;
  ssize_t r;
  while ((r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
    n += (size_t)r;
  out[n] = '\0';
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  test_redis_stop(&server);
  free(args);
  fputs(out, stdout);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  int ok = code == expect_exit;
  if (!ok)
    fprintf(stderr, "run_with_redis: exit status %d, expected %d\n", code, expect_exit);
  for (int k = 0; k < nexpect; k++) {
    if (strstr(out, expect[k]) == NULL) {
      fprintf(stderr, "run_with_redis: output lacks \"%s\"\n", expect[k]);
      ok = 0;
    }
  }
  return ok ? 0 : 1;
}
