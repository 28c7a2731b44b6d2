/* scn-pool.h - what the pool scenarios (scn-pool.c, scn-pool-iter.c)
   share: the kernels' fault context, the pool with its killer thread, and
   the kill modes (see scn-pool.c). */
#ifndef MPK_TESTS_CHAOS_SCN_POOL_H
#define MPK_TESTS_CHAOS_SCN_POOL_H

#include <pthread.h>
#include <stdatomic.h>

#include "chaos.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "pool-util.h"

#define NONE_AT SIZE_MAX
#define SENTINEL (-777777L)

typedef enum { K_NONE, K_IDLE, K_HOLD, K_RUN, K_TWO } kmode;

/* Copied into the shared heap with every call (ctx), so pointers in it are
   into the shared heap. */
typedef struct {
  size_t kill_at[2]; /* elements whose worker dies (NONE_AT: none) */
  int hold;          /* 1: block there until killed */
  int fd;            /* write end of the pipe to the killer */
  size_t slow_at;    /* this element waits for `slow_until` others */
  long slow_until;
  _Atomic long *done; /* elements finished, in the shared heap */
  long *out;          /* pool-for: results, in the shared heap */
  int op;             /* pool-reduce: MPK_SUM, MPK_MIN or MPK_MAX */
  long gen;           /* the call's number; */
  _Atomic long *now;  /* the call running now (0: none), in the shared heap.
                         A kernel tells and holds only while *now == gen,
                         so one that reaches its element after the call
                         returned (a cancelled chunk) neither holds nor
                         confuses the next call's killer. */
} pk_ctx;

typedef struct {
  long i, v;
} pk_in;

static inline long pk_f(long v) {
  return 3 * v + 1;
}

static inline long pk_g(size_t i) {
  return (long)(i * 7919 % 1000) - 500;
}

typedef struct {
  mpk_pool_t *p;
  int W;
  int fd[2];
  _Atomic long *now; /* see pk_ctx */
  long calls;
  long kills;
  char cpus[3][64];
  pid_t victims[64];
  int nvictims;
} pk_pool;

typedef struct {
  int fd;
  long gen; /* ignore what kernels of other calls tell */
  int hold;
  int expect;
  double delay[2];
  _Atomic int stop;
  int kills;
  pid_t victim[2];
  double killed_at[2];
} pk_killer;

typedef struct {
  kmode mode;
  pk_ctx ctx;
  pk_killer k;
  pthread_t t;
  size_t n; /* elements of the call */
} pk_kill;

/* Kernels' part of a fault: element i's worker tells the killer and blocks
   (hold) or goes on; the slow element waits for others. */
void pk_maybe_die(const pk_ctx *c, size_t i);
/* Count n finished elements (for the slow element). */
void pk_finished(const pk_ctx *c, long n);
/* map / imap kernel: *out = pk_f(in->v). */
int pk_map_kernel(const void *in, void *out, void *ctx);

/* A pool of 1-3 workers (start method, recycling drawn). */
void pk_open(pk_pool *pp);
/* Every killed worker replaced with its cpuset; the pool freed. */
void pk_close(pk_pool *pp);
/* Draw the kill mode of a call over n elements among `modes` (a bit per
   kmode) and start the killer. */
void pk_kill_start(pk_pool *pp, pk_kill *kl, size_t n, unsigned modes);
/* The call returned rc at t_ret: check rc, last_error and the latency.
   apply: the call runs one task (index 0). */
void pk_kill_finish(pk_pool *pp, pk_kill *kl, int rc, double t_ret,
                    const char *call, int apply);
#define PK_ALL_MODES 0x1fu
#define PK_ONLY(m) (1u << (m))

/* A random schedule (kind and chunk). */
mpk_sched pk_sched(void);
/* A buffer in the shared heap (shared = 1) or malloc'd. */
void *pk_buffer(size_t bytes, int shared);
void pk_unbuffer(void *b, int shared);
/* n inputs {i, random v}. */
pk_in *pk_inputs(size_t n, int shared);
/* A random call size: sometimes 0, often small. */
size_t pk_draw_n(void);
/* One map call with a drawn kill mode, results checked. */
void pk_one_map(pk_pool *pp, unsigned modes);
/* A scenario: a pool, 2..max_rounds calls of `one` with any kill mode, a
   last one with none, then pk_close. */
void pk_rounds(void (*one)(pk_pool *, unsigned), long max_rounds);

#endif
