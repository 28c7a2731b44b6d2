/* tests/test-scale-util.h - run a program and capture its output, for the
 * scale.* tests (mpk-scale, scripts/render-results, scripts/make-results).
 * Paths come from the environment set in tests/cmake/scale.cmake. */
#ifndef MPK_TEST_SCALE_UTIL_H
#define MPK_TEST_SCALE_UTIL_H

#include <fcntl.h>
#include <sys/stat.h>

#include "check.h"

/* The value of environment variable `name` (the test must set it). */
static inline const char *need_env(const char *name) {
  const char *v = getenv(name);
  CHECK_MSG(v != NULL && *v != '\0', "environment variable %s not set", name);
  return v;
}

/* Run argv (argv[0] a path) with stdout to out_path and stderr to err_path
   (NULL: /dev/null) and return its exit status (a signal fails the test).
   Waits at most timeout seconds. */
static inline int run_prog(const char *const argv[], const char *out_path,
                           const char *err_path, double timeout) {
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm(0);
    int o = open(out_path ? out_path : "/dev/null",
                 O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_path ? err_path : "/dev/null",
                 O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
      _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st = check_wait(pid, timeout);
  CHECK_MSG(WIFEXITED(st), "%s killed by signal %d", argv[0],
            WIFSIGNALED(st) ? WTERMSIG(st) : -1);
  return WEXITSTATUS(st);
}

/* A whole file as a malloc'd string (NULL if it cannot be read). */
static inline char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  CHECK(buf != NULL);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += r;
    if (cap - n - 1 == 0) {
      cap *= 2;
      buf = realloc(buf, cap);
      CHECK(buf != NULL);
    }
  }
  fclose(f);
  buf[n] = '\0';
  return buf;
}

/* Number of '\n' in s. */
static inline int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* A fresh temporary directory (removed by rm_tree). */
static inline void make_tmpdir(char *buf, size_t cap, const char *tag) {
  const char *base = getenv("TMPDIR");
  snprintf(buf, cap, "%s/mpk-%s-XXXXXX", base && *base ? base : "/tmp", tag);
  CHECK(mkdtemp(buf) != NULL);
}

static inline void rm_tree(const char *dir) {
  const char *argv[] = {"/bin/rm", "-rf", dir, NULL};
  CHECK_EQ(run_prog(argv, NULL, NULL, 30), 0);
}

/* 1 when path exists and starts with the PNG signature. */
static inline int is_png(const char *path) {
  unsigned char sig[8] = {0};
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return 0;
  size_t r = fread(sig, 1, 8, f);
  fclose(f);
  return r == 8 && memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0;
}

#endif
