/* mpi_dyn.c - the DYNAMIC partition's counter of handed-out chunks, held by
 * rank 0, and the grab loop each rank runs against it (mpi_internal.h).
 *
 * Three ways to reach the counter; the first DYNAMIC call picks one for the
 * pool's life, the same on every rank:
 *   SHM  every rank on one node: a shared-memory window
 *        (MPI_Win_allocate_shared, Open MPI's osc/sm), MPI_Fetch_and_op;
 *   RMA  several nodes: an MPI_Win_allocate window and MPI_Fetch_and_op,
 *        when the network has the one-sided atomics (Open MPI's osc/rdma
 *        over RDMA hardware, osc/ucx);
 *   MSG  otherwise (TCP between nodes, or no one-sided component at all):
 *        two-sided messages. Each other rank sends rank 0 a request for
 *        `grab` chunks and waits for the first chunk; rank 0 answers the
 *        requests between its own runs, which it keeps to half a grab so
 *        that an answer never waits longer than a grab runs elsewhere. The
 *        other ranks ask for their next grab before running the current
 *        one, so the answer arrives while they compute.
 * A window is chosen when MPI made it on every rank and a first
 * MPI_Fetch_and_op through it succeeded on every rank (errors are returned,
 * never fatal: MPI_ERRORS_RETURN on the communicator and the window); if
 * not, every rank takes MSG.
 */
#include <stdlib.h>

#include "mpi/mpi_internal.h"

/* The tag of MSG requests (2 x uint64: chunks wanted, stop flag) and
   answers (uint64: the first chunk, >= nchunks when none is left) on the
   pool's own communicator, where only settle's root-mode sends (tag 0)
   also travel. Below 32767, the least MPI_TAG_UB MPI allows. */
#define GRAB_TAG 1

/* ---- choosing the path ------------------------------------------------ */

/* 1 when every rank of comm says 1 (and the reduction itself worked). */
static int all_say(MPI_Comm comm, int mine) {
  int all = 0;
  if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
    return 0;
  return all;
}

/* Every rank of the pool on one node? (A failed split says no.) */
static int one_node(mpk__mpi *m) {
  MPI_Comm node;
  int node_size = 0;
  if (MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
                          &node) == MPI_SUCCESS) {
    MPI_Comm_size(node, &node_size);
    MPI_Comm_free(&node);
  }
  return all_say(m->comm, node_size == m->size);
}

/* Try a counter window: rank 0 exposes one uint64, every rank keeps a
   passive-target epoch open on it for the pool's life. 1 when it works on
   every rank (then the window stays), else 0 and no window. */
static int try_window(mpk__mpi *m, int shared) {
  MPI_Aint bytes = m->rank == 0 ? (MPI_Aint)sizeof(uint64_t) : 0;
  /* One node: osc/sm. Open MPI 4.1 picks osc/rdma for MPI_Win_allocate,
     whose backing file is named after the communicator's context id only,
     so the windows of two halves of one split made at the same time collide
     (open-mpi/ompi#9492); osc/sm's do not. */
  int rc =
      shared
          ? MPI_Win_allocate_shared(bytes, (int)sizeof(uint64_t), MPI_INFO_NULL,
                                    m->comm, &m->counter, &m->win)
          : MPI_Win_allocate(bytes, (int)sizeof(uint64_t), MPI_INFO_NULL,
                             m->comm, &m->counter, &m->win);
  if (rc != MPI_SUCCESS)
    m->win = MPI_WIN_NULL;
  if (!all_say(m->comm, rc == MPI_SUCCESS)) {
    /* Made on some ranks only: freeing it (collective) could wait forever,
       so those ranks leave it (m->win stays set, never used). */
    return 0;
  }
  /* First use: an epoch and one fetch-and-op of nothing on rank 0. */
  MPI_Win_set_errhandler(m->win, MPI_ERRORS_RETURN);
  int locked = MPI_Win_lock_all(MPI_MODE_NOCHECK, m->win) == MPI_SUCCESS;
  uint64_t none = 0, old = 0;
  rc = locked ? MPI_Fetch_and_op(&none, &old, MPI_UINT64_T, 0, 0, MPI_NO_OP,
                                 m->win)
              : MPI_ERR_OTHER;
  if (rc == MPI_SUCCESS)
    rc = MPI_Win_flush(0, m->win);
  if (all_say(m->comm, rc == MPI_SUCCESS))
    return 1;
  if (locked)
    MPI_Win_unlock_all(m->win);
  MPI_Win_free(&m->win); /* made on every rank: the collective free is safe */
  m->win = MPI_WIN_NULL;
  return 0;
}

/* MSG: rank 0's request and answer buffers, one of each per rank (every
   other rank has at most one request outstanding). */
static int msg_buffers(mpk__mpi *m) {
  if (m->rank != 0)
    return MPK_OK;
  size_t n = (size_t)m->size;
  m->reqs = malloc(n * sizeof *m->reqs);
  m->answers = malloc(n * sizeof *m->answers);
  m->rreq = malloc(n * sizeof *m->rreq);
  m->sreq = malloc(n * sizeof *m->sreq);
  if (!m->reqs || !m->answers || !m->rreq || !m->sreq)
    return mpk__errf(MPK_ENOMEM,
                     "MPK_MPI_DYNAMIC: no memory for rank 0's message "
                     "counter (%zu ranks)",
                     n);
  for (size_t r = 0; r < n; r++)
    m->rreq[r] = m->sreq[r] = MPI_REQUEST_NULL;
  return MPK_OK;
}

int mpk__mpi_dyn_open(mpk__mpi *m) {
  int shared = one_node(m);
  if (try_window(m, shared)) {
    m->counter_kind = shared ? MPK_MPI_COUNTER_SHM : MPK_MPI_COUNTER_RMA;
    return m->rank == 0 ? mpk__mpi_dyn_reset(m) : MPK_OK;
  }
  m->counter_kind = MPK_MPI_COUNTER_MSG;
  m->next = 0;
  return msg_buffers(m);
}

void mpk__mpi_dyn_close(mpk__mpi *m) {
  if (m->win != MPI_WIN_NULL && m->dyn_rc == MPK_OK &&
      m->counter_kind != MPK_MPI_COUNTER_MSG) {
    MPI_Win_unlock_all(m->win);
    MPI_Win_free(&m->win);
  }
  free(m->reqs);
  free(m->answers);
  free(m->rreq);
  free(m->sreq);
}

/* ---- the window's counter (SHM, RMA) --------------------------------- */

int mpk__mpi_dyn_reset(mpk__mpi *m) {
  if (m->counter_kind == MPK_MPI_COUNTER_MSG) {
    m->next = 0;
    return MPK_OK;
  }
  uint64_t zero = 0;
  int rc = MPI_Accumulate(&zero, 1, MPI_UINT64_T, 0, 0, 1, MPI_UINT64_T,
                          MPI_REPLACE, m->win);
  if (rc == MPI_SUCCESS)
    rc = MPI_Win_flush(0, m->win);
  return mpk__mpi_err(rc);
}

/* One fetch-and-op on rank 0's counter: *old = counter, counter op= v. */
static int counter_op(mpk__mpi *m, uint64_t v, uint64_t *old, MPI_Op op) {
  int rc = MPI_Fetch_and_op(&v, old, MPI_UINT64_T, 0, 0, op, m->win);
  if (rc == MPI_SUCCESS)
    rc = MPI_Win_flush(0, m->win);
  return mpk__mpi_err(rc);
}

static void window_work(mpk__mpi *m, uint64_t K, uint64_t g,
                        mpk__mpi_run_fn run, void *arg, mpk__mpi_out *o) {
  while (o->code == MPK_OK) {
    uint64_t k0;
    int rc = counter_op(m, g, &k0, MPI_SUM);
    if (rc != MPK_OK) {
      mpk__mpi_fail(o, rc, UINT64_MAX, 0, 0);
      break;
    }
    if (k0 >= K)
      return;
    run(arg, k0, K - k0 > g ? k0 + g : K, o);
  }
  /* failed: no rank starts another grab */
  uint64_t old;
  counter_op(m, K, &old, MPI_MAX);
}

/* ---- MSG: rank 0 answers, the others ask ------------------------------ */

/* Rank 0's grab from its own counter (never past K, never wrapping). */
static uint64_t take(mpk__mpi *m, uint64_t K, uint64_t count) {
  uint64_t first = m->next;
  if (first < K)
    m->next = K - first > count ? first + count : K;
  return first;
}

/* Answer rank r's request (received into m->reqs[r]); when chunks are left
   listen for its next one. *active counts the ranks still asking. */
static int answer(mpk__mpi *m, int r, uint64_t K, int *active) {
  if (m->reqs[r][1])
    m->next = K; /* that rank failed: no rank starts another grab */
  int rc = MPI_Wait(&m->sreq[r], MPI_STATUS_IGNORE); /* the last answer */
  m->answers[r] = take(m, K, m->reqs[r][0]);
  if (rc == MPI_SUCCESS)
    rc = MPI_Isend(&m->answers[r], 1, MPI_UINT64_T, r, GRAB_TAG, m->comm,
                   &m->sreq[r]);
  if (m->answers[r] >= K)
    (*active)--; /* told: it asks no more */
  else if (rc == MPI_SUCCESS)
    rc = MPI_Irecv(m->reqs[r], 2, MPI_UINT64_T, r, GRAB_TAG, m->comm,
                   &m->rreq[r]);
  return mpk__mpi_err(rc);
}

/* Answer the requests that arrived (wait: block until at least one did). */
static int answer_some(mpk__mpi *m, uint64_t K, int *active, bool wait) {
  int n = 0, *idx = m->counts; /* size entries of scratch */
  int rc = wait ? MPI_Waitsome(m->size, m->rreq, &n, idx, MPI_STATUSES_IGNORE)
                : MPI_Testsome(m->size, m->rreq, &n, idx, MPI_STATUSES_IGNORE);
  if (rc != MPI_SUCCESS)
    return mpk__mpi_err(rc);
  for (int i = 0; i < n && rc == MPI_SUCCESS; i++) /* MPI_UNDEFINED < 0 */
    rc = answer(m, idx[i], K, active);
  return mpk__mpi_err(rc);
}

static void serve(mpk__mpi *m, uint64_t K, uint64_t g, mpk__mpi_run_fn run,
                  void *arg, mpk__mpi_out *o) {
  int active = m->size - 1, rc = MPI_SUCCESS;
  for (int r = 1; r < m->size && rc == MPI_SUCCESS; r++)
    rc = MPI_Irecv(m->reqs[r], 2, MPI_UINT64_T, r, GRAB_TAG, m->comm,
                   &m->rreq[r]);
  int err = mpk__mpi_err(rc);
  /* own runs of half a grab, the requests answered between them */
  uint64_t half = g / 2 > 0 ? g / 2 : 1;
  while (err == MPK_OK && o->code == MPK_OK) {
    err = answer_some(m, K, &active, false);
    uint64_t k0 = take(m, K, half);
    if (k0 >= K)
      break;
    run(arg, k0, K - k0 > half ? k0 + half : K, o);
  }
  if (o->code != MPK_OK)
    m->next = K; /* failed: no rank starts another grab */
  while (err == MPK_OK && active > 0)
    err = answer_some(m, K, &active, true);
  if (err == MPK_OK)
    err = mpk__mpi_err(MPI_Waitall(m->size, m->sreq, MPI_STATUSES_IGNORE));
  if (err != MPK_OK)
    mpk__mpi_fail(o, err, UINT64_MAX, 0, 0);
}

/* Send rank 0 a request (count chunks, or stop) and listen for the answer
   into *first. */
static int ask(mpk__mpi *m, uint64_t req[2], uint64_t count, bool stop,
               uint64_t *first, MPI_Request rq[2]) {
  req[0] = count;
  req[1] = stop;
  int rc = MPI_Irecv(first, 1, MPI_UINT64_T, 0, GRAB_TAG, m->comm, &rq[0]);
  if (rc == MPI_SUCCESS)
    rc = MPI_Isend(req, 2, MPI_UINT64_T, 0, GRAB_TAG, m->comm, &rq[1]);
  return mpk__mpi_err(rc);
}

static void client(mpk__mpi *m, uint64_t K, uint64_t g, mpk__mpi_run_fn run,
                   void *arg, mpk__mpi_out *o) {
  uint64_t req[2][2], first[2];
  MPI_Request rq[2][2];
  int cur = 0;
  int err = ask(m, req[cur], g, false, &first[cur], rq[cur]);
  while (err == MPK_OK) {
    err = mpk__mpi_err(MPI_Waitall(2, rq[cur], MPI_STATUSES_IGNORE));
    uint64_t k0 = first[cur];
    if (err != MPK_OK || k0 >= K)
      break; /* rank 0 has no chunk left for anyone */
    int nxt = 1 - cur;
    bool failed = o->code != MPK_OK;
    /* the next request first: its answer comes while this grab runs */
    err = ask(m, req[nxt], failed ? 0 : g, failed, &first[nxt], rq[nxt]);
    if (err == MPK_OK && !failed)
      run(arg, k0, K - k0 > g ? k0 + g : K, o);
    cur = nxt;
  }
  if (err != MPK_OK)
    mpk__mpi_fail(o, err, UINT64_MAX, 0, 0);
}

void mpk__mpi_dyn_work(mpk__mpi *m, uint64_t K, uint64_t g, mpk__mpi_run_fn run,
                       void *arg, mpk__mpi_out *o) {
  if (m->counter_kind != MPK_MPI_COUNTER_MSG)
    window_work(m, K, g, run, arg, o);
  else if (m->rank == 0)
    serve(m, K, g, run, arg, o);
  else
    client(m, K, g, run, arg, o);
}
