/* scale_mpi.c - mpk-scale's ranks x workers points (--ranks) and hosts x
 * ranks x workers points (--hosts): each is one `mpirun -np R ... mpk-pi
 * --mode mpi --workers W --json` run as a child with a deadline, whose JSON
 * report becomes the point. See scale.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_json.h"
#include "mpk/error.h"
#include "scale.h"

#define OUT_CAP (1u << 20)      /* mpk-pi's JSON is a few hundred bytes */
#define ERR_KEEP SCALE_ERR_KEEP /* the tail of stderr kept for messages */
#define MAX_ARGS 96

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Append n bytes to the tail buffer, keeping its last ERR_KEEP - 1. */
static void keep_tail(scale_child *c, const char *b, size_t n) {
  if (n >= ERR_KEEP - 1) {
    memcpy(c->err, b + n - (ERR_KEEP - 1), ERR_KEEP - 1);
    c->err_len = ERR_KEEP - 1;
  } else {
    if (c->err_len + n > ERR_KEEP - 1) {
      size_t drop = c->err_len + n - (ERR_KEEP - 1);
      memmove(c->err, c->err + drop, c->err_len - drop);
      c->err_len -= drop;
    }
    memcpy(c->err + c->err_len, b, n);
    c->err_len += n;
  }
  c->err[c->err_len] = '\0';
}

/* Read what fd has; 0 at EOF (fd closed), 1 otherwise. */
static int drain(scale_child *c, int fd, int is_out, size_t *cap) {
  char buf[4096];
  ssize_t r = read(fd, buf, sizeof buf);
  if (r < 0)
    return errno == EINTR || errno == EAGAIN ? 1 : 0;
  if (r == 0)
    return 0;
  if (!is_out) {
    keep_tail(c, buf, (size_t)r);
    return 1;
  }
  if (c->out_len + (size_t)r + 1 > *cap && *cap < OUT_CAP) {
    size_t nc = *cap * 2 > OUT_CAP ? OUT_CAP : *cap * 2;
    char *p = realloc(c->out, nc);
    if (p != NULL) {
      c->out = p;
      *cap = nc;
    }
  }
  size_t room = *cap - 1 - c->out_len, n = (size_t)r < room ? (size_t)r : room;
  memcpy(c->out + c->out_len, buf, n); /* beyond OUT_CAP: dropped */
  c->out_len += n;
  c->out[c->out_len] = '\0';
  return 1;
}

/* See scale.h. SIGTERM at the timeout lets mpirun stop its ranks. Returns
   when the child is reaped. */
void scale_run_child(char *const argv[], double timeout, scale_child *c) {
  memset(c, 0, sizeof *c);
  size_t cap = 4096;
  c->out = malloc(cap);
  int po[2] = {-1, -1}, pe[2] = {-1, -1}, pidfd = -1;
  if (c->out == NULL) {
    c->sys_errno = ENOMEM;
    return;
  }
  c->out[0] = '\0';
  if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
    c->sys_errno = errno;
    goto out;
  }
  fflush(NULL);
  pid_t parent = getpid(), pid = fork();
  if (pid < 0) {
    c->sys_errno = errno;
    goto out;
  }
  if (pid == 0) {
    setpgid(0, 0);
    /* mpk-scale dying stops the run: mpirun passes SIGTERM to its ranks */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
      _exit(127);
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
      _exit(127);
    execvp(argv[0], argv);
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid); /* also here: no window before the child's own call */
  close(po[1]);
  close(pe[1]);
  po[1] = pe[1] = -1;
  pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) { /* cannot watch it: stop it now rather than block */
    c->sys_errno = errno;
    kill(-pid, SIGKILL);
    while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR)
      ;
    goto out;
  }
  double deadline = now_s() + timeout, grace = INFINITY;
  int open_out = 1, open_err = 1, exited = 0, sent = 0;
  while (open_out || open_err || !exited) {
    double t = now_s();
    if (exited && t >= grace)
      break; /* a grandchild holds the pipes: stop reading */
    if (!exited && t >= deadline) {
      if (sent == 0) {
        c->timed_out = 1;
        kill(-pid, SIGTERM);
        deadline = t + 5;
      } else {
        kill(-pid, SIGKILL);
        deadline = INFINITY;
      }
      sent++;
      continue;
    }
    double until = exited ? grace : deadline;
    int ms = isfinite(until) ? (int)ceil((until - t) * 1e3) : -1;
    struct pollfd fds[3] = {{open_out ? po[0] : -1, POLLIN, 0},
                            {open_err ? pe[0] : -1, POLLIN, 0},
                            {exited ? -1 : pidfd, POLLIN, 0}};
    int r = poll(fds, 3, ms);
    if (r < 0 && errno != EINTR)
      break;
    if (r <= 0)
      continue;
    if (fds[0].revents && !drain(c, po[0], 1, &cap))
      open_out = 0;
    if (fds[1].revents && !drain(c, pe[0], 0, &cap))
      open_err = 0;
    if (fds[2].revents) {
      exited = 1;
      grace = now_s() + 2;
    }
  }
  /* Whatever is left of its group (the leader is at most a zombie, so the
     group id cannot have been reused), then reap it. */
  kill(-pid, SIGKILL);
  while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR)
    ;
out:
  for (int i = 0; i < 2; i++) {
    if (po[i] >= 0)
      close(po[i]);
    if (pe[i] >= 0)
      close(pe[i]);
  }
  if (pidfd >= 0)
    close(pidfd);
}

/* The last non-empty line of s (for messages), at most cap - 1 bytes. */
static void last_line(const char *s, char *buf, size_t cap) {
  const char *end = s + strlen(s);
  while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
    end--;
  const char *b = end;
  while (b > s && b[-1] != '\n')
    b--;
  size_t n = (size_t)(end - b) < cap - 1 ? (size_t)(end - b) : cap - 1;
  memcpy(buf, b, n);
  buf[n] = '\0';
}

int scale_mpi_probe(scale_mpi *m, char *err, size_t cap) {
  char *argv[] = {(char *)m->mpirun, "--version", NULL};
  scale_child c;
  scale_run_child(argv, 30, &c);
  int ok = c.sys_errno == 0 && !c.timed_out && WIFEXITED(c.status) &&
           WEXITSTATUS(c.status) == 0;
  if (ok) {
    m->openmpi = strstr(c.out, "Open MPI") != NULL ||
                 strstr(c.out, "OpenRTE") != NULL ||
                 strstr(c.err, "Open MPI") != NULL;
  } else {
    char line[256];
    last_line(c.err, line, sizeof line);
    snprintf(err, cap, "'%s --version' failed%s%s", m->mpirun,
             line[0] ? ": " : "", line);
  }
  free(c.out);
  return ok ? 0 : -1;
}

/* Split s on spaces into argv[*n..], at most cap entries; -1 if too many.
   s is modified in place. */
static int split_args(char *s, char **argv, int *n, int cap) {
  for (char *tok = strtok(s, " \t"); tok != NULL; tok = strtok(NULL, " \t")) {
    if (*n >= cap)
      return -1;
    argv[(*n)++] = tok;
  }
  return 0;
}

/* Whether point p's workers fit its cores: the machine's, or over hosts
   each of its hosts' slots. */
static int point_fits(const scale_mpi *m, const scale_point *p) {
  if (p->hosts <= 0)
    return p->cores <= m->machine_cores;
  for (int i = 0; i < p->hosts; i++)
    if (p->ranks_per_host * p->workers > m->hosts->h[i].slots)
      return 0;
  return 1;
}

/* "a:S,b:S" of the first n hosts into buf; -1 when it does not fit. */
static int host_list(const scale_hosts *h, int n, char *buf, size_t cap) {
  size_t len = 0;
  for (int i = 0; i < n; i++) {
    int w = snprintf(buf + len, cap - len, "%s%s:%d", i ? "," : "",
                     h->h[i].name, h->h[i].slots);
    if (w < 0 || (size_t)w >= cap - len)
      return -1;
    len += (size_t)w;
  }
  return 0;
}

/* The launch command of point p into argv (numbers formatted into store,
   the host list into hosts, extra split in place); returns argc, or -1
   when extra has too many words or the host list is too long. Open MPI
   places the ranks: when R x W fits (point_fits) each rank gets W cores of
   its own and mpk-pi pins its workers inside them; beyond, nothing is
   pinned and the OS shares the cores. Over hosts, each of the first H
   hosts gets R / H ranks (ppr: processes per resource). */
static int build_argv(const scale_mpi *m, const scale_point *p, int repeat,
                      char **argv, char store[][32], char *hosts, size_t hcap,
                      char *extra) {
  int n = 0, k = 0;
  argv[n++] = (char *)m->mpirun;
  argv[n++] = "-np";
  snprintf(store[k], 32, "%d", p->ranks);
  argv[n++] = store[k++];
  const int fits = point_fits(m, p);
  if (p->hosts > 0) {
    if (host_list(m->hosts, p->hosts, hosts, hcap) != 0)
      return -1;
    argv[n++] = "--host";
    argv[n++] = hosts;
  }
  if (m->openmpi) {
    char *map = store[k++];
    if (p->hosts > 0)
      snprintf(map, 32, fits ? "ppr:%d:node:PE=%d" : "ppr:%d:node",
               p->ranks_per_host, p->workers);
    else
      snprintf(map, 32, "slot:PE=%d", p->workers);
    if (fits || p->hosts > 0) {
      argv[n++] = "--map-by";
      argv[n++] = map;
    }
    if (fits) { /* each rank its own W cores, its workers pinned inside */
      argv[n++] = "--bind-to";
      argv[n++] = "core";
    } else { /* more workers than cores: nobody pinned, the OS shares */
      argv[n++] = "--oversubscribe";
      argv[n++] = "--bind-to";
      argv[n++] = "none";
    }
  }
  if (extra != NULL && split_args(extra, argv, &n, MAX_ARGS - 24) != 0)
    return -1;
  argv[n++] = (char *)m->mpk_pi;
  argv[n++] = "--mode";
  argv[n++] = "mpi";
  argv[n++] = "--workers";
  snprintf(store[k], 32, "%d", p->workers);
  argv[n++] = store[k++];
  argv[n++] = "--steps";
  snprintf(store[k], 32, "%zu", p->size);
  argv[n++] = store[k++];
  argv[n++] = "--repeat";
  snprintf(store[k], 32, "%d", repeat);
  argv[n++] = store[k++];
  argv[n++] = "--bind";
  argv[n++] = fits ? "compact" : "none";
  argv[n++] = "--json";
  argv[n] = NULL;
  return n;
}

static void fail(scale_point *p, int rc, const char *msg) {
  p->rc = rc;
  snprintf(p->check, sizeof p->check, "%.95s", msg); /* check[96] */
}

void scale_mpi_measure(const scale_mpi *m, scale_point *p, int repeat) {
  char *argv[MAX_ARGS], store[8][32], extra[1024], line[160], msg[200];
  char hosts[8192];
  snprintf(p->check, sizeof p->check, "ok");
  if (scale_point_reserve(p, repeat) != 0) {
    fail(p, MPK_ENOMEM, "out of memory");
    return;
  }
  p->repeats = repeat;
  p->rounds = 1;
  for (int i = 0; i < repeat; i++)
    p->round[i] = 0;
  if (p->hosts > 0 && (m->hosts == NULL || p->hosts > m->hosts->n)) {
    fail(p, MPK_EINVAL, "more hosts than the hostfile names");
    return;
  }
  if (p->hosts > 0 && !m->openmpi) {
    fail(p, MPK_ENOSYS,
         "--hosts places ranks with Open MPI's mpirun (--host, --map-by "
         "ppr); this mpirun is not it");
    return;
  }
  snprintf(extra, sizeof extra, "%s", m->extra ? m->extra : "");
  int argc = build_argv(m, p, repeat, argv, store, hosts, sizeof hosts, extra);
  if (argc < 0) {
    fail(p, MPK_EINVAL, "too many --mpirun-args, or too long a host list");
    return;
  }
  /* The command, for the record (JSON "launch"). */
  size_t len = 0;
  p->launch[0] = '\0';
  for (int i = 0; i < argc && len < sizeof p->launch; i++) {
    int w = snprintf(p->launch + len, sizeof p->launch - len, "%s%s",
                     i ? " " : "", argv[i]);
    if (w < 0)
      break;
    len += (size_t)w;
  }
  scale_child c;
  scale_run_child(argv, m->timeout, &c);
  last_line(c.err, line, sizeof line);
  if (c.sys_errno != 0) {
    snprintf(msg, sizeof msg, "cannot launch mpirun: %s",
             strerror(c.sys_errno));
    fail(p, MPK_ECHILD, msg);
  } else if (c.timed_out) {
    snprintf(msg, sizeof msg, "mpirun timed out after %g s (killed)",
             m->timeout);
    fail(p, MPK_ETIMEDOUT, msg);
  } else if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
    snprintf(msg, sizeof msg, "mpirun %s %d%s%.60s",
             WIFEXITED(c.status) ? "exited" : "killed by signal",
             WIFEXITED(c.status) ? WEXITSTATUS(c.status) : WTERMSIG(c.status),
             line[0] ? ": " : "", line);
    fail(p, MPK_ECHILD, msg);
  } else {
    app_json *doc = NULL;
    char err[128];
    if (app_json_parse(c.out, c.out_len, &doc, err, sizeof err) != 0) {
      snprintf(msg, sizeof msg, "mpk-pi output is not JSON: %s", err);
      fail(p, MPK_EIO, msg);
    } else {
      const app_json *res = app_json_get(doc, "results");
      const app_json *r = res && res->type == APP_JSON_ARRAY && res->len == 1
                              ? &res->items[0]
                              : NULL;
      const app_json *t = r ? app_json_get(r, "times") : NULL;
      if (r == NULL || t == NULL || t->type != APP_JSON_ARRAY ||
          (int)t->len != repeat ||
          strcmp(app_json_get_str(r, "mode", ""), "mpi") != 0) {
        fail(p, MPK_EIO, "mpk-pi output lacks the mpi result");
      } else if (app_json_get_num(r, "ranks", 0) != p->ranks ||
                 app_json_get_num(r, "total_workers", 0) != p->cores) {
        snprintf(msg, sizeof msg, "ran %g ranks, %g workers in all",
                 app_json_get_num(r, "ranks", 0),
                 app_json_get_num(r, "total_workers", 0));
        fail(p, MPK_EIO, msg);
      } else if (p->hosts > 0 && app_json_get_num(r, "nodes", 0) != p->hosts) {
        snprintf(msg, sizeof msg,
                 "the ranks ran on %g nodes, not %d hosts (hosts that "
                 "are one machine to MPI?)",
                 app_json_get_num(r, "nodes", 0), p->hosts);
        fail(p, MPK_EIO, msg);
      } else {
        int good = 1;
        for (int i = 0; i < repeat; i++) {
          const app_json *v = &t->items[i];
          good &= v->type == APP_JSON_NUMBER && v->number > 0;
          p->times[i] = good ? v->number : NAN;
        }
        p->value = app_json_get_num(r, "pi", NAN);
        if (!good)
          fail(p, MPK_EIO, "mpk-pi reported a time that is not > 0");
        else if (app_stats_compute(p->times, repeat, &p->st) != 0)
          fail(p, MPK_ENOMEM, "statistics failed");
        else
          p->rc = MPK_OK;
      }
      app_json_free(doc);
    }
  }
  free(c.out);
}
