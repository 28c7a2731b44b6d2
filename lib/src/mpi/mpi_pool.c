/* mpi_pool.c - MPI pools: creation and teardown, options, and the three
 * exchanges every range call goes through (mpi_internal.h). All data
 * between ranks moves through MPI collectives, point-to-point messages and
 * one one-sided counter; nothing else. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_internal.h"
#include "mpk/topo.h"

int mpk__mpi_err(int mpi_rc) {
  if (mpi_rc == MPI_SUCCESS)
    return MPK_OK;
  int cls = MPI_ERR_OTHER;
  MPI_Error_class(mpi_rc, &cls);
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(mpi_rc, text, &len) != MPI_SUCCESS)
    len = 0;
  text[len > 0 && len < MPI_MAX_ERROR_STRING ? len : 0] = '\0';
  return mpk__errf(cls == MPI_ERR_NO_MEM ? MPK_ENOMEM : MPK_EIO,
                   "MPI error %d: %s", mpi_rc, text);
}

/* Another rank's verdict `code` fails the collective call here too. */
static int other_rank(int rank, int code) {
  return mpk__errf(code, "rank %d failed: %s (its mpk_errmsg says why)", rank,
                   mpk_strerror(code));
}

mpk__mpi *mpk__mpi_of(const mpk_pool_t *p) {
  return p != NULL && p->ext_ops == &mpk__mpi_ops ? p->ext : NULL;
}

int mpk_pool_is_mpi(const mpk_pool_t *p) {
  return mpk__mpi_of(p) != NULL;
}

void mpk_mpi_opts_init(mpk_mpi_opts *o) {
  if (o == NULL)
    return;
  memset(o, 0, sizeof *o);
  o->partition = MPK_MPI_STATIC;
  o->root = -1;
}

static bool opts_ok(const mpk_mpi_opts *o, int size) {
  return (o->partition == MPK_MPI_STATIC || o->partition == MPK_MPI_DYNAMIC) &&
         o->root >= -1 && o->root < size;
}

int mpk_pool_mpi_configure(mpk_pool_t *p, const mpk_mpi_opts *o) {
  mpk__mpi *m = mpk__mpi_of(p);
  if (m == NULL)
    return mpk__errf(MPK_EINVAL, "mpk_pool_mpi_configure: not an MPI pool");
  if (o == NULL)
    return mpk__err_null("o");
  if (!opts_ok(o, m->size))
    return mpk__errf(MPK_EINVAL,
                     "MPI options: partition %d, root %d (of %d "
                     "ranks)",
                     (int)o->partition, o->root, m->size);
  m->opts = *o;
  return MPK_OK;
}

int mpk_pool_mpi_info_get(const mpk_pool_t *p, mpk_mpi_info *info) {
  const mpk__mpi *m = mpk__mpi_of(p);
  if (m == NULL)
    return mpk__errf(MPK_EINVAL, "mpk_pool_mpi_info_get: not an MPI pool");
  if (info == NULL)
    return mpk__err_null("info");
  *info = (mpk_mpi_info){.rank = m->rank,
                         .size = m->size,
                         .workers = m->workers,
                         .total_workers = m->total,
                         .partition = m->opts.partition,
                         .root = m->opts.root,
                         .grab = m->opts.grab};
  return MPK_OK;
}

/* ---- creation ------------------------------------------------------------
 */

/* Can this thread of this process take part in MPI calls at all? */
static int mpi_usable(MPI_Comm comm) {
  if (mpk_worker_id() >= 0) /* never an MPI process of its own */
    return mpk__errf(MPK_ESTATE, "an MPI pool cannot be made in a worker");
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin)
    return mpk__errf(MPK_ESTATE, "MPI is %s",
                     fin ? "finalized" : "not initialized");
  if (comm == MPI_COMM_NULL)
    return mpk__errf(MPK_EINVAL, "comm is MPI_COMM_NULL");
  int inter = 0;
  if (MPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter)
    return mpk__errf(MPK_EINVAL, "comm is an inter-communicator");
  int level = MPI_THREAD_SINGLE, main_thread = 0;
  MPI_Query_thread(&level);
  MPI_Is_thread_main(&main_thread);
  if (level < MPI_THREAD_FUNNELED)
    return mpk__errf(MPK_ESTATE,
                     "MPI thread level %d < MPI_THREAD_FUNNELED "
                     "(use MPI_Init_thread)",
                     level);
  if (level == MPI_THREAD_FUNNELED && !main_thread)
    return mpk__errf(MPK_ESTATE, "MPI_THREAD_FUNNELED and not the main "
                                 "thread");
  return MPK_OK;
}

static void mpi_free(mpk__mpi *m) {
  /* After a failed window creation some ranks may hold a window and others
     not: freeing it (collective) could wait forever, so it is left. */
  if (m->win != MPI_WIN_NULL && m->dyn_rc == MPK_OK) {
    MPI_Win_unlock_all(m->win);
    MPI_Win_free(&m->win);
  }
  if (m->comm != MPI_COMM_NULL)
    MPI_Comm_free(&m->comm);
  free(m->wprefix);
  free(m->hdrs);
  free(m->outs);
  free(m->counts);
  free(m);
}

void mpk__mpi_destroy(mpk_pool_t *p) {
  mpk__mpi *m = p->ext;
  p->ext_ops = NULL;
  p->ext = NULL;
  mpi_free(m);
}

/* The counter window: rank 0 exposes one uint64 (reset to 0), every rank
   keeps a passive-target epoch open on it for the pool's life. Made at the
   first DYNAMIC call, so pools that never use it never touch MPI's
   one-sided layer. */
static int open_window(mpk__mpi *m) {
  MPI_Aint bytes = m->rank == 0 ? (MPI_Aint)sizeof(uint64_t) : 0;
  /* All ranks on one node: a shared-memory window (Open MPI's osc/sm).
     Open MPI 4.1 picks osc/rdma for MPI_Win_allocate, whose backing file
     is named after the communicator's context id only, so the windows of
     two halves of one split made at the same time collide
     (open-mpi/ompi#9492); osc/sm's do not. */
  MPI_Comm node;
  int node_size = 0;
  int rc = MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
                               &node);
  if (rc == MPI_SUCCESS) {
    MPI_Comm_size(node, &node_size);
    MPI_Comm_free(&node);
  }
  /* every rank must choose alike (a failed split on one rank says no) */
  int one_node = node_size == m->size, all_one = 0;
  rc = MPI_Allreduce(&one_node, &all_one, 1, MPI_INT, MPI_MIN, m->comm);
  if (rc != MPI_SUCCESS)
    return MPK_ENOSYS;
  if (all_one)
    rc = MPI_Win_allocate_shared(bytes, (int)sizeof(uint64_t), MPI_INFO_NULL,
                                 m->comm, &m->counter, &m->win);
  else
    rc = MPI_Win_allocate(bytes, (int)sizeof(uint64_t), MPI_INFO_NULL, m->comm,
                          &m->counter, &m->win);
  if (rc != MPI_SUCCESS) {
    m->win = MPI_WIN_NULL;
    return MPK_ENOSYS;
  }
  MPI_Win_set_errhandler(m->win, MPI_ERRORS_RETURN);
  rc = MPI_Win_lock_all(MPI_MODE_NOCHECK, m->win);
  if (rc != MPI_SUCCESS)
    return MPK_ENOSYS;
  return m->rank == 0 ? mpk__mpi_counter_reset(m) : MPK_OK;
}

#define SLICE_CAP 1024 /* a cpuset list string */

/* Ranks on one node that were given the same PUs (mpirun --bind-to none, or
   a binding wider than one rank) would each plan their workers over all of
   them, onto the same cores. Each such rank takes a disjoint slice instead:
   with L of them on C cores, the l-th (in rank order) plans over the l-th
   of L compact slices of max(1, C / L) cores, and by default runs one
   worker per core of its slice. Only when the caller gave no cpuset and
   binds. Collective over m->comm: every rank calls it. *lo: the local
   options (o, or the defaults, with the slice); slice: its storage. */
static int share_node(mpk__mpi *m, const mpk_pool_opts *o, mpk_pool_opts *lo,
                      char *slice) {
  mpk_pool_opts def;
  if (o == NULL) {
    mpk_pool_opts_init(&def);
    o = &def;
  }
  *lo = *o;
  char mine[SLICE_CAP] = "";
  if (o->cpuset != NULL || o->bind == MPK_BIND_NONE ||
      mpk_topo_allowed(mine, sizeof mine) != MPK_OK)
    mine[0] = '\0'; /* not taking part in a share */
  MPI_Comm node;
  int rc = MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
                               &node);
  if (rc != MPI_SUCCESS)
    return mpk__mpi_err(rc);
  int nr = 0, ns = 1;
  MPI_Comm_rank(node, &nr);
  MPI_Comm_size(node, &ns);
  char *all = malloc((size_t)ns * SLICE_CAP);
  if (all == NULL)
    MPI_Abort(m->comm, 1); /* cannot take part: the others would wait */
  rc = MPI_Allgather(mine, SLICE_CAP, MPI_CHAR, all, SLICE_CAP, MPI_CHAR, node);
  MPI_Comm_free(&node);
  int L = 0, l = 0;
  for (int r = 0; rc == MPI_SUCCESS && mine[0] != '\0' && r < ns; r++)
    if (strcmp(all + (size_t)r * SLICE_CAP, mine) == 0) {
      if (r == nr)
        l = L;
      L++;
    }
  free(all);
  if (rc != MPI_SUCCESS)
    return mpk__mpi_err(rc);
  if (L <= 1)
    return MPK_OK;
  int cores = mpk_core_count();
  int per = cores / L > 0 ? cores / L : 1;
  if (mpk_topo_plan_ex(L, per, MPK_BIND_COMPACT, NULL, l, slice, SLICE_CAP,
                       NULL) != MPK_OK)
    return MPK_OK; /* keep the unshared plan */
  lo->cpuset = slice;
  if (lo->workers == 0) {
    int tpw = lo->threads_per_worker > 0 ? lo->threads_per_worker : 1;
    lo->workers = per / tpw > 0 ? per / tpw : 1;
  }
  return MPK_OK;
}

/* Every rank's verdict; MPK_OK when all are, else the lowest rank's (this
   rank's own keeps its message; another's says which rank). */
static int all_agree(MPI_Comm comm, int size, int mine, int *all) {
  int rc = MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, comm);
  if (rc != MPI_SUCCESS)
    return mpk__mpi_err(rc);
  for (int r = 0; r < size; r++)
    if (all[r] != MPK_OK)
      return all[r] == mine ? mine : other_rank(r, all[r]);
  return MPK_OK;
}

int mpk_pool_create_mpi(mpk_pool_t **p, MPI_Comm comm, const mpk_pool_opts *o) {
  if (p != NULL)
    *p = NULL;
  int rc = mpi_usable(comm);
  if (rc != MPK_OK)
    return rc; /* nothing to talk through, or not allowed to */
  mpk__mpi *m = calloc(1, sizeof *m);
  if (m == NULL) /* as if MPI ran out: the job cannot go on anyway */
    return mpk__errf(MPK_ENOMEM, "no memory for an MPI pool");
  m->win = MPI_WIN_NULL;
  mpk_mpi_opts_init(&m->opts);
  rc = MPI_Comm_dup(comm, &m->comm);
  if (rc != MPI_SUCCESS) {
    m->comm = MPI_COMM_NULL;
    mpi_free(m);
    return mpk__mpi_err(rc);
  }
  MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(m->comm, &m->rank);
  MPI_Comm_size(m->comm, &m->size);
  size_t sz = (size_t)m->size;
  int *all = malloc(sz * 2 * sizeof *all);
  m->wprefix = malloc((sz + 1) * sizeof *m->wprefix);
  m->hdrs = malloc(sz * sizeof *m->hdrs);
  m->outs = malloc(sz * sizeof *m->outs);
  m->counts = malloc(sz * 2 * sizeof *m->counts);
  mpk_pool_t *pool = NULL;
  int verdict = p == NULL ? mpk__errf(MPK_EINVAL, "mpk_pool_create_mpi: p is "
                                                  "NULL")
                          : MPK_OK;
  if (all == NULL || !m->wprefix || !m->hdrs || !m->outs || !m->counts)
    verdict = mpk__errf(MPK_ENOMEM, "no memory for an MPI pool");
  mpk_pool_opts lo;
  char slice[SLICE_CAP];
  int shared = share_node(m, o, &lo, slice);
  if (verdict == MPK_OK)
    verdict = shared;
  if (verdict == MPK_OK)
    verdict = mpk_pool_create(&pool, &lo);
  if (all == NULL)
    MPI_Abort(m->comm, 1); /* cannot take part: the others would wait */
  int agreed = all_agree(m->comm, m->size, verdict, all);
  if (agreed == MPK_OK) {
    mpk_pool_info info;
    mpk_pool_info_get(pool, &info);
    m->workers = info.workers;
    int w = m->workers;
    rc = MPI_Allgather(&w, 1, MPI_INT, all, 1, MPI_INT, m->comm);
    agreed = mpk__mpi_err(rc);
  }
  if (agreed == MPK_OK) {
    m->wprefix[0] = 0;
    for (int r = 0; r < m->size; r++)
      m->wprefix[r + 1] = m->wprefix[r] + all[r];
    m->total = m->wprefix[m->size];
  }
  free(all);
  if (agreed != MPK_OK) {
    mpk_pool_free(pool);
    mpi_free(m);
    return agreed;
  }
  pool->ext = m;
  pool->ext_ops = &mpk__mpi_ops;
  *p = pool;
  return MPK_OK;
}

/* ---- the exchanges ---------------------------------------------------- */

int mpk__mpi_agree(mpk__mpi *m, mpk__mpi_hdr *h) {
  h->partition = m->opts.partition;
  h->root = m->opts.root;
  h->grab = m->opts.grab;
  bool dyn = h->partition == MPK_MPI_DYNAMIC;
  if (h->rc == MPK_OK && dyn && m->dyn_rc != MPK_OK)
    h->rc = m->dyn_rc;
  /* The counter restarts at 0 for every DYNAMIC call. No grab of the last
     call is in flight: every rank flushed its grabs before it entered that
     call's settle, which rank 0 left after all of them. */
  if (h->rc == MPK_OK && dyn && m->rank == 0 && m->win != MPI_WIN_NULL)
    h->rc = mpk__mpi_counter_reset(m);
  mpk__mpi_hdr *all = m->hdrs;
  int rc = MPI_Allgather(h, (int)sizeof *h, MPI_BYTE, all, (int)sizeof *h,
                         MPI_BYTE, m->comm);
  if (rc != MPI_SUCCESS)
    return mpk__mpi_err(rc);
  int out = MPK_OK;
  for (int r = 0; r < m->size && out == MPK_OK; r++)
    if (all[r].rc != MPK_OK)
      out = all[r].rc == h->rc ? h->rc : other_rank(r, all[r].rc);
  for (int r = 1; r < m->size && out == MPK_OK; r++) {
    mpk__mpi_hdr a = all[0], b = all[r];
    a.rc = b.rc = 0;
    if (memcmp(&a, &b, sizeof a) != 0)
      out = mpk__errf(MPK_EINVAL,
                      "rank %d's call differs from rank 0's "
                      "(every rank must make the same call with the same n, "
                      "schedule, sizes and MPI options)",
                      r);
  }
  if (out == MPK_OK && dyn && m->win == MPI_WIN_NULL) {
    /* first DYNAMIC call: every rank makes the window (counter 0) */
    m->dyn_rc = all_agree(m->comm, m->size, open_window(m), m->counts);
    if (m->dyn_rc != MPK_OK)
      m->dyn_rc = MPK_ENOSYS;
    out = m->dyn_rc;
  }
  if (out == MPK_ENOSYS && dyn && m->dyn_rc == MPK_ENOSYS)
    out = mpk__errf(MPK_ENOSYS, "MPK_MPI_DYNAMIC: the MPI one-sided counter "
                                "window could not be made on every rank");
  return out;
}

int mpk__mpi_counter_reset(mpk__mpi *m) {
  uint64_t zero = 0;
  int rc = MPI_Accumulate(&zero, 1, MPI_UINT64_T, 0, 0, 1, MPI_UINT64_T,
                          MPI_REPLACE, m->win);
  if (rc == MPI_SUCCESS)
    rc = MPI_Win_flush(0, m->win);
  return mpk__mpi_err(rc);
}

int mpk__mpi_counter_raise(mpk__mpi *m, uint64_t to) {
  uint64_t old;
  int rc = MPI_Fetch_and_op(&to, &old, MPI_UINT64_T, 0, 0, MPI_MAX, m->win);
  if (rc == MPI_SUCCESS)
    rc = MPI_Win_flush(0, m->win);
  return mpk__mpi_err(rc);
}

int mpk__mpi_grab(mpk__mpi *m, uint64_t count, uint64_t *first) {
  int rc = MPI_Fetch_and_op(&count, first, MPI_UINT64_T, 0, 0, MPI_SUM, m->win);
  if (rc == MPI_SUCCESS)
    rc = MPI_Win_flush(0, m->win);
  return mpk__mpi_err(rc);
}

void mpk__mpi_static_share(const mpk__mpi *m, int r, uint64_t nchunks,
                           uint64_t *k0, uint64_t *k1) {
  /* chunks in proportion to the worker counts: rank r starts at
     floor(nchunks * wprefix[r] / total), computed without overflow (total
     and wprefix are far below 2^32). */
  uint64_t t = (uint64_t)m->total, q = nchunks / t, rem = nchunks % t;
  uint64_t a = (uint64_t)m->wprefix[r], b = (uint64_t)m->wprefix[r + 1];
  *k0 = q * a + rem * a / t;
  *k1 = q * b + rem * b / t;
}

int mpk__mpi_add_run(mpk__mpi_out *o, uint64_t lo, uint64_t hi) {
  if (lo >= hi)
    return MPK_OK;
  if (o->nruns > 0 && o->runs[o->nruns - 1].hi == lo) {
    o->runs[o->nruns - 1].hi = hi; /* contiguous grabs: one run */
    return MPK_OK;
  }
  if (o->nruns == o->cap) {
    size_t cap = o->cap ? 2 * o->cap : 8;
    mpk__mpi_run *r = realloc(o->runs, cap * sizeof *r);
    if (r == NULL)
      return mpk__errf(MPK_ENOMEM, "no memory for %zu MPI runs", cap);
    o->runs = r;
    o->cap = cap;
  }
  o->runs[o->nruns++] = (mpk__mpi_run){lo, hi};
  return MPK_OK;
}

void mpk__mpi_fail(mpk__mpi_out *o, int code, uint64_t index, int status,
                   int sig) {
  if (o->code != MPK_OK && o->index <= index)
    return; /* keep the earliest failure */
  o->code = code;
  o->index = index;
  o->status = status;
  o->sig = sig;
}

/* The hindexed type of runs (elements of `elem` bytes, displacements from
   the buffer start), blocks cut below INT_MAX elements. */
static int runs_type(const mpk__mpi_run *runs, size_t nruns, MPI_Datatype el,
                     size_t elem, MPI_Datatype *type) {
  size_t blocks = 0;
  const uint64_t cap = INT_MAX;
  for (size_t i = 0; i < nruns; i++)
    blocks += (size_t)((runs[i].hi - runs[i].lo + cap - 1) / cap);
  if (blocks > INT_MAX)
    return MPK_ENOMEM;
  int *len = malloc((blocks ? blocks : 1) * sizeof *len);
  MPI_Aint *disp = malloc((blocks ? blocks : 1) * sizeof *disp);
  if (len == NULL || disp == NULL) {
    free(len);
    free(disp);
    return MPK_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < nruns; i++)
    for (uint64_t lo = runs[i].lo; lo < runs[i].hi; lo += cap) {
      uint64_t left = runs[i].hi - lo;
      len[k] = (int)(left < cap ? left : cap);
      disp[k++] = (MPI_Aint)(lo * elem);
    }
  int rc = MPI_Type_create_hindexed((int)blocks, len, disp, el, type);
  if (rc == MPI_SUCCESS && (rc = MPI_Type_commit(type)) != MPI_SUCCESS)
    MPI_Type_free(type);
  free(len);
  free(disp);
  return mpk__mpi_err(rc);
}

/* Send every rank's runs of buf to all ranks (root < 0) or to root. */
static int spread(mpk__mpi *m, const mpk__mpi_outcome *all,
                  const mpk__mpi_run *runs, void *buf, size_t elem, int root) {
  MPI_Datatype el;
  int rc = MPI_Type_contiguous((int)elem, MPI_BYTE, &el);
  if (rc != MPI_SUCCESS)
    return mpk__mpi_err(rc);
  int out = MPK_OK;
  size_t at = 0;
  for (int q = 0; q < m->size && out == MPK_OK; q++) {
    size_t nr = (size_t)all[q].nruns;
    const mpk__mpi_run *qr = runs + at;
    at += nr;
    if (nr == 0 || q == root)
      continue;
    MPI_Datatype t;
    if (runs_type(qr, nr, el, elem, &t) != MPK_OK)
      MPI_Abort(m->comm, 1); /* cannot take part: the others would wait */
    if (root < 0)
      rc = MPI_Bcast(buf, 1, t, q, m->comm);
    else if (m->rank == q)
      rc = MPI_Send(buf, 1, t, root, 0, m->comm);
    else if (m->rank == root)
      rc = MPI_Recv(buf, 1, t, q, 0, m->comm, MPI_STATUS_IGNORE);
    else
      rc = MPI_SUCCESS;
    out = mpk__mpi_err(rc);
    MPI_Type_free(&t);
  }
  MPI_Type_free(&el);
  return out;
}

int mpk__mpi_settle(mpk_pool_t *p, mpk__mpi *m, mpk__mpi_out *o,
                    uint64_t nchunks, void *buf, size_t elem, int root) {
  mpk__mpi_outcome mine = {.code = o->code,
                           .status = o->status,
                           .sig = o->sig,
                           .index = o->index,
                           .nruns = o->nruns,
                           .chunks = o->chunks};
  mpk__mpi_outcome *all = m->outs;
  int rc = mpk__mpi_err(MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all,
                                      (int)sizeof mine, MPI_BYTE, m->comm));
  int pick = -1; /* the failure with the lowest global index */
  for (int r = 0; rc == MPK_OK && r < m->size; r++)
    if (all[r].code != MPK_OK && (pick < 0 || all[r].index < all[pick].index))
      pick = r;
  if (rc == MPK_OK && pick >= 0) {
    rc = all[pick].code;
    mpk__failure f = mpk__failure_of(rc);
    f.index = all[pick].index;
    f.status = all[pick].status;
    f.signal = all[pick].sig;
    f.rank = pick;
    f.kind = o->kind;
    if (rc == MPK_ETASK || rc == MPK_EWORKER || rc == MPK_ETIMEDOUT) {
      mpk__set_last_error(p, &f);
      mpk__failure_errf(p, &f);
    } else if (pick != m->rank) {
      other_rank(pick, rc);
    }
  }
  if (rc == MPK_OK) {
    /* Every chunk ran exactly once, or the partition broke (a counter
       shared with another window, say): an error, never a wrong result. */
    uint64_t ran = 0;
    for (int r = 0; r < m->size; r++)
      ran += all[r].chunks;
    if (ran != nchunks)
      rc = mpk__errf(MPK_EIO,
                     "MPI: the ranks ran %llu chunks of %llu (the "
                     "partition broke)",
                     (unsigned long long)ran, (unsigned long long)nchunks);
  }
  if (rc == MPK_OK && buf != NULL) {
    /* every rank's runs, as pairs of uint64 */
    int *counts = m->counts, *displs = m->counts + m->size;
    size_t total = 0;
    for (int r = 0; r < m->size; r++)
      total += (size_t)all[r].nruns;
    mpk__mpi_run *runs = malloc((total ? total : 1) * sizeof *runs);
    if (runs == NULL || 2 * total > INT_MAX)
      MPI_Abort(m->comm, 1); /* cannot take part: the others would wait */
    for (int r = 0, at = 0; r < m->size; r++) {
      counts[r] = (int)(2 * all[r].nruns);
      displs[r] = at;
      at += counts[r];
    }
    rc = mpk__mpi_err(MPI_Allgatherv(o->runs, (int)(2 * o->nruns), MPI_UINT64_T,
                                     runs, counts, displs, MPI_UINT64_T,
                                     m->comm));
    if (rc == MPK_OK)
      rc = spread(m, all, runs, buf, elem, root);
    free(runs);
  }
  free(o->runs);
  o->runs = NULL;
  o->nruns = o->cap = 0;
  return rc;
}

int mpk__mpi_allgather(mpk__mpi *m, const void *mine, void *all, size_t elem) {
  MPI_Datatype el;
  int rc = MPI_Type_contiguous((int)elem, MPI_BYTE, &el);
  if (rc == MPI_SUCCESS && (rc = MPI_Type_commit(&el)) != MPI_SUCCESS)
    MPI_Type_free(&el);
  if (rc != MPI_SUCCESS)
    MPI_Abort(m->comm, 1); /* cannot take part: the others would wait */
  rc = MPI_Allgather(mine, 1, el, all, 1, el, m->comm);
  MPI_Type_free(&el);
  return mpk__mpi_err(rc);
}
