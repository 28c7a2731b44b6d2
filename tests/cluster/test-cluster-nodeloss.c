/* cluster.nodeloss-*: a rank, or a whole simulated host, is SIGKILLed in
   the middle of a collective call. Run by tests/cluster/cluster-ns (which
   checks that nothing of the job survives and no shared memory is left)
   through tests/cluster/mpirun-cluster:

     test-cluster-nodeloss --expect-ranks N [--expect-hosts H]
                           --victim R --what rank|host
                           --partition static|dynamic --stamp FILE

   Every rank makes a pool and runs one reduction that succeeds (all is in
   place). Then a second reduction: the first chunk that a worker of rank R
   runs writes the CLOCK_MONOTONIC time to FILE and SIGKILLs its rank
   (--what rank) or every process of its simulated host, its daemon too
   (--what host: all processes of the host's session, which Open MPI's
   daemon leads). No timing decides anything: the kill happens inside the
   call because a worker of that call does it. Rank R always runs a chunk
   of that call: under STATIC every rank has a share; under DYNAMIC
   choose R = 0, which takes its first grab before the others' requests
   can have taken all chunks.
   The other ranks wait inside the call until Open MPI aborts the job. A
   rank that returns from it instead exits with status 3 (the job fails
   either way); none may print a result. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "mpi-util.h"

#define STEPS 20000000u

static int victim = -1, whole_host;
static const char *stamp;
static pid_t victim_pid; /* set on rank `victim` before its pool forks */

/* Write the kill time once (the first worker to get here), complete
   before any kill: each worker writes its own file and links it to the
   stamp's name, which only the first link gets (a worker that found the
   name taken kills at once, so an O_EXCL create that a second worker saw
   before the first had written its time could leave an empty stamp when
   the rank died: "no kill time was written"). */
static void write_stamp(void) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.%ld", stamp, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  char buf[64];
  int n = snprintf(buf, sizeof buf, "%lld.%09ld\n", (long long)ts.tv_sec,
                   ts.tv_nsec);
  ssize_t w = write(fd, buf, (size_t)n);
  (void)w;
  close(fd);
  if (link(tmp, stamp) != 0 && errno != EEXIST)
    fprintf(stderr, "stamp: link %s: %s\n", stamp, strerror(errno));
  unlink(tmp);
}

/* Every process of this worker's session: the simulated host (its daemon,
   ranks and their workers, this one too). A helper in a session of its own
   does the killing: a killer inside the host would die with its rank
   (PR_SET_PDEATHSIG) before it got through the list. */
static void kill_host(void) {
  pid_t sid = getsid(0), helper = fork();
  if (helper == 0) {
    setsid();
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
      char *end;
      long pid = strtol(e->d_name, &end, 10);
      if (*end == '\0' && pid > 1 && getsid((pid_t)pid) == sid)
        kill((pid_t)pid, SIGKILL);
    }
    _exit(0);
  }
  if (helper > 0)
    waitpid(helper, NULL, 0); /* killed on the way, by the helper */
  raise(SIGKILL);
}

typedef struct {
  double dx;
  int arm; /* the call that kills */
} pi_ctx;

static double pi_kernel(size_t lo, size_t hi, void *ctx) {
  const pi_ctx *c = ctx;
  if (c->arm && victim_pid != 0) {
    write_stamp();
    if (whole_host)
      kill_host();
    kill(victim_pid, SIGKILL);
  }
  return mt_partial_pi(lo, hi, &(mt_pi_ctx){c->dx});
}

static double pi_call(mpk_pool_t *p, int arm) {
  pi_ctx c = {1.0 / (double)STEPS, arm};
  double r = 0;
  int rc = mpk_pool_reduce_double(p, STEPS, pi_kernel, &c, sizeof c, MPK_SUM,
                                  (mpk_sched){MPK_SCHED_STATIC, 0}, 0, &r);
  if (arm) {
    fprintf(stderr, "rank %d: the call returned %s after the kill\n", mt_rank,
            mpk_err_name(rc));
    _exit(3);
  }
  CHECK_OK(rc);
  return r;
}

int main(int argc, char **argv) {
  mpk_mpi_partition part = MPK_MPI_STATIC;
  for (int i = 1; i + 1 < argc; i++) {
    if (!strcmp(argv[i], "--victim"))
      victim = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--what"))
      whole_host = !strcmp(argv[++i], "host");
    else if (!strcmp(argv[i], "--partition"))
      part = strcmp(argv[++i], "dynamic") ? MPK_MPI_STATIC : MPK_MPI_DYNAMIC;
    else if (!strcmp(argv[i], "--stamp"))
      stamp = argv[++i];
  }
  mt_init(&argc, &argv, 100);
  check__current = "setup";
  CHECK_MSG(victim >= 0 && victim < mt_size && stamp != NULL,
            "usage: %s --expect-ranks N --victim R --what rank|host "
            "--partition static|dynamic --stamp FILE",
            argv[0]);
  if (mt_rank == victim)
    victim_pid = getpid();
  mpk_pool_t *p = mt_pool();
  mt_configure(p, part, -1, 0);
  check__current = "the call before the kill";
  CHECK_NEAR(pi_call(p, 0), M_PI, 1e-12);
  MPI_Barrier(MPI_COMM_WORLD);
  if (mt_rank == 0) {
    printf("ok - a call on every rank; now the one that loses rank %d%s\n",
           victim, whole_host ? " and its host" : "");
    fflush(stdout);
  }
  check__current = "the call that loses a rank";
  pi_call(p, 1);
  return 1; /* not reached */
}
