/* cluster-ns: run one command (a simulated cluster job: mpirun-cluster) in
 * namespaces of its own and check what it leaves behind.
 *
 *   cluster-ns [--expect-fail] [--timeout S] [--grace S] [--stamp FILE]
 *              -- COMMAND [ARGS...]
 *
 * The command runs in a new PID namespace (this program's child is its
 * init, pid 1, and every process of the job lives inside it, daemons and
 * orphans included), a new mount namespace with its own /proc and an empty
 * tmpfs on /dev/shm, and a new IPC namespace (SysV shared memory). After the
 * command has exited:
 *   - every other process of the namespace must be gone within --grace
 *     seconds (default 30); the survivors are listed (pid, parent, state,
 *     name, and whether init had adopted them: orphans) and killed;
 *   - /dev/shm must hold no file (directories may stay) and no SysV
 *     segment may be left.
 * The command must exit 0 (77 passes through: a skip), or, with
 * --expect-fail, with a non-zero status (killed by a signal counts).
 * A command still running after --timeout seconds (default 120) is a hang:
 * everything in the namespace is killed and the run fails.
 * --stamp FILE: the job writes there (once) the CLOCK_MONOTONIC time in
 * seconds at which it killed something; the times from it to the
 * command's exit and to the last process gone are reported.
 *
 * Exit: 0 pass, 1 fail, 2 usage, 77 namespaces cannot be made here (not
 * root, or unshare refused: the reason is printed) or the command skipped.
 * Timeouts only turn hangs into failures; nothing here depends on timing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "cluster-ns"
#define MAXP 512 /* processes tracked at once */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double parse_seconds(const char *s, const char *what) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || !(v > 0)) {
    fprintf(stderr, PROG ": bad %s '%s' (want seconds > 0)\n", what, s);
    exit(2);
  }
  return v;
}

/* One process of the namespace, from /proc/PID/stat. */
typedef struct {
  int pid, ppid;
  char state;
  char comm[32];
} proc_t;

static bool read_proc(int pid, proc_t *p) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* pid (comm) state ppid ...; comm may hold spaces and parentheses */
  char *open = strchr(buf, '('), *close = strrchr(buf, ')');
  if (open == NULL || close == NULL || close[1] == '\0')
    return false;
  size_t len = (size_t)(close - open - 1);
  if (len >= sizeof p->comm)
    len = sizeof p->comm - 1;
  memcpy(p->comm, open + 1, len);
  p->comm[len] = '\0';
  p->pid = pid;
  return sscanf(close + 2, "%c %d", &p->state, &p->ppid) == 2;
}

/* The namespace's processes but us (pid 1) and zombies; at most cap. */
static int live_procs(proc_t *out, int cap) {
  DIR *d = opendir("/proc");
  if (d == NULL)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < cap) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 1)
      continue;
    proc_t p;
    if (read_proc((int)pid, &p) && p.state != 'Z')
      out[n++] = p;
  }
  closedir(d);
  return n;
}

/* Reap every child that ended (the command, and orphans init adopted).
 *cmd_status is set when the command's pid is among them. */
static int reap(pid_t cmd, int *cmd_status, bool *cmd_done) {
  int n = 0, st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    if (pid == cmd) {
      *cmd_status = st;
      *cmd_done = true;
    } else {
      n++;
    }
  }
  return n;
}

/* Wait (without spinning) until a child of ours changes state or one of
   the processes in ps ends, or until the deadline. */
static void wait_any(const proc_t *ps, int n, double deadline) {
  struct pollfd fds[MAXP];
  int k = 0;
  for (int i = 0; i < n && k < MAXP; i++) {
    int fd = (int)syscall(SYS_pidfd_open, ps[i].pid, 0);
    if (fd >= 0)
      fds[k++] = (struct pollfd){.fd = fd, .events = POLLIN};
  }
  double left = deadline - now();
  int ms = left <= 0 ? 0 : left > 1e6 ? 1000000000 : (int)(left * 1e3) + 1;
  if (k > 0) {
    poll(fds, (nfds_t)k, ms);
  } else {
    /* nothing to watch but our children: wait for SIGCHLD */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    sigtimedwait(&set, NULL, &ts);
  }
  for (int i = 0; i < k; i++)
    close(fds[i].fd);
}

/* ps, with a note on those init adopted (all but the command are
   orphans when their parent is pid 1). */
static void list_procs(const char *why, const proc_t *ps, int n, pid_t cmd) {
  for (int i = 0; i < n; i++)
    fprintf(stderr, PROG ": %s: pid %d (%s) state %c, parent %d%s\n", why,
            ps[i].pid, ps[i].comm, ps[i].state, ps[i].ppid,
            ps[i].ppid == 1 && ps[i].pid != cmd
                ? " (an orphan: init adopted it)"
                : "");
}

/* Files left under /dev/shm (the simulated hosts' own /dev/shm are its
   subdirectories: tests/cluster/mpirun-cluster); listed. */
static int shm_files;

static int shm_entry(const char *path, const struct stat *sb, int type,
                     struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  if (type != FTW_D && type != FTW_DP) {
    fprintf(stderr, PROG ": left behind: %s\n", path);
    shm_files++;
  }
  return 0;
}

static int leftovers(const char *dir) {
  shm_files = 0;
  nftw(dir, shm_entry, 16, FTW_PHYS);
  return shm_files;
}

/* SysV shared-memory segments of this IPC namespace; listed. */
static int sysv_leftovers(void) {
  FILE *f = fopen("/proc/sysvipc/shm", "r");
  if (f == NULL)
    return 0;
  char line[512];
  int n = -1; /* the header line */
  while (fgets(line, sizeof line, f) != NULL) {
    if (n >= 0)
      fprintf(stderr, PROG ": left behind: SysV segment %s", line);
    n++;
  }
  fclose(f);
  return n > 0 ? n : 0;
}

static double read_stamp(const char *file) {
  if (file == NULL)
    return -1;
  FILE *f = fopen(file, "r");
  double t = -1;
  if (f != NULL) {
    if (fscanf(f, "%lf", &t) != 1)
      t = -1;
    fclose(f);
  }
  return t;
}

typedef struct {
  bool expect_fail;
  double timeout, grace;
  const char *stamp;
  char **cmd;
} opts;

/* The namespace's init: run the command, then check what is left. */
static int init_main(const opts *o) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) !=
          0 ||
      mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") !=
          0) {
    fprintf(stderr,
            PROG ": skipped: cannot mount /proc and /dev/shm in a "
                 "new mount namespace: %s\n",
            strerror(errno));
    return 77;
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  if (o->stamp != NULL)
    unlink(o->stamp);
  double t0 = now();
  pid_t cmd = fork();
  if (cmd < 0) {
    perror(PROG ": fork");
    return 1;
  }
  if (cmd == 0) {
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    execvp(o->cmd[0], o->cmd);
    fprintf(stderr, PROG ": cannot run %s: %s\n", o->cmd[0], strerror(errno));
    _exit(127);
  }
  int st = 0, orphans = 0;
  bool done = false, ok = true;
  while (!done) {
    orphans += reap(cmd, &st, &done);
    if (done)
      break;
    if (now() - t0 > o->timeout) {
      proc_t ps[MAXP];
      int n = live_procs(ps, MAXP);
      fprintf(stderr, PROG ": the command still runs after %.0f s: a hang\n",
              o->timeout);
      list_procs("running at the timeout", ps, n, cmd);
      kill(-1, SIGKILL);
      return 1;
    }
    sigset_t set = chld;
    double left = o->timeout - (now() - t0);
    struct timespec ts = {(time_t)left,
                          (long)((left - (double)(time_t)left) * 1e9)};
    sigtimedwait(&set, NULL, &ts);
  }
  double t_exit = now();
  /* Survivors: wait for each until the grace deadline. */
  proc_t ps[MAXP];
  int n = live_procs(ps, MAXP), first_n = n;
  if (n > 0)
    list_procs("outlived the command", ps, n, cmd);
  double deadline = t_exit + o->grace;
  while (n > 0 && now() < deadline) {
    wait_any(ps, n, deadline);
    orphans += reap(cmd, &st, &done);
    n = live_procs(ps, MAXP);
  }
  double t_gone = first_n > 0 ? now() : t_exit;
  if (n > 0) {
    list_procs("still running after the grace time", ps, n, cmd);
    kill(-1, SIGKILL);
    ok = false;
  }
  while (waitpid(-1, NULL, 0) > 0) /* everything is dead: reap the rest */
    orphans++;
  int shm = leftovers("/dev/shm") + sysv_leftovers();
  if (shm > 0)
    ok = false;
  /* the report */
  char how[64];
  if (WIFEXITED(st))
    snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(st));
  else
    snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(st));
  fprintf(stderr, PROG ": the command %s after %.2f s\n", how, t_exit - t0);
  double stamp = read_stamp(o->stamp);
  if (o->stamp != NULL && stamp < 0) {
    fprintf(stderr, PROG ": %s: no kill time was written\n", o->stamp);
    ok = false;
  } else if (stamp >= 0) {
    fprintf(stderr,
            PROG ": from the kill: the command ended after %.2f s, the last "
                 "process was gone after %.2f s\n",
            t_exit - stamp, t_gone - stamp);
  }
  fprintf(stderr,
          PROG ": %d process%s outlived the command (%s), %d reaped as "
               "orphans; /dev/shm and SysV shm: %s\n",
          first_n, first_n == 1 ? "" : "es",
          n > 0 ? "NOT all gone" : "all gone", orphans,
          shm ? "NOT empty" : "empty");
  bool failed = !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  if (!o->expect_fail && WIFEXITED(st) && WEXITSTATUS(st) == 77 && ok)
    return 77;
  if (o->expect_fail != failed) {
    fprintf(stderr, PROG ": expected the command to %s\n",
            o->expect_fail ? "fail" : "succeed");
    ok = false;
  }
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  opts o = {.timeout = 120, .grace = 30};
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (!strcmp(argv[i], "--expect-fail"))
      o.expect_fail = true;
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
      o.timeout = parse_seconds(argv[++i], "--timeout");
    else if (!strcmp(argv[i], "--grace") && i + 1 < argc)
      o.grace = parse_seconds(argv[++i], "--grace");
    else if (!strcmp(argv[i], "--stamp") && i + 1 < argc)
      o.stamp = argv[++i];
    else
      break;
  }
  if (i + 1 >= argc || strcmp(argv[i], "--") != 0) {
    fprintf(stderr, "usage: " PROG " [--expect-fail] [--timeout S] "
                    "[--grace S] [--stamp FILE] -- COMMAND [ARGS...]\n");
    return 2;
  }
  o.cmd = argv + i + 1;
  if (unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC) != 0) {
    printf(PROG ": skipped: cannot make PID, mount and IPC namespaces "
                "(unshare: %s; needs root or CAP_SYS_ADMIN)\n",
           strerror(errno));
    return 77;
  }
  fflush(stdout);
  pid_t init = fork();
  if (init < 0) {
    perror(PROG ": fork");
    return 1;
  }
  if (init == 0) {
    /* our parent killed (a CTest timeout, say): the namespace dies with
       its init */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    _exit(init_main(&o));
  }
  int st = 0;
  while (waitpid(init, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
