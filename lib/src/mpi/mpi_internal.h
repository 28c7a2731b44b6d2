/* mpi_internal.h - the MPI mode's state and its exchanges (mpi_pool.c),
 * used by the range calls (mpi_ops.c). See mpk/mpi.h for the model.
 *
 * Every call on an MPI pool has three collective steps on the pool's own
 * communicator (a duplicate of the user's):
 *   1. agree:  every rank's call header (its local argument verdict and the
 *              arguments that must match) is allgathered; any bad verdict or
 *              mismatch fails the call on every rank before work starts;
 *   2. work:   each rank runs its chunks on its local pool (one run of
 *              chunks, or grabs from rank 0's counter);
 *   3. settle: each rank's outcome and the runs it did are allgathered; a
 *              failure anywhere fails the call everywhere (the same record
 *              on every rank), otherwise the runs' data (map results, chunk
 *              partials) is broadcast from the rank that computed it.
 */
#ifndef MPK_MPI_INTERNAL_H
#define MPK_MPI_INTERNAL_H

#include <mpi.h>
#include <stdint.h>

#include "mpk/mpi.h"
#include "pool/pool_internal.h"

/* Step 1: what must match across ranks, and this rank's verdict. Fixed
   widths: it travels as bytes between ranks of one executable. */
typedef struct {
  int32_t call, rc, kind, op, flags, partition, root, pad_;
  uint64_t n, chunk, size_a, size_b, ctx_size, grab;
} mpk__mpi_hdr;

/* Step 3: one rank's outcome. */
typedef struct {
  int32_t code, status, sig, pad_;
  uint64_t index, nruns;
  uint64_t chunks; /* chunks this rank ran */
} mpk__mpi_outcome;

typedef struct {
  MPI_Comm comm; /* ours: a duplicate, errors returned, not fatal */
  int rank, size;
  int workers;       /* this rank's local workers */
  long total;        /* workers over all ranks */
  long *wprefix;     /* size + 1 prefix sums of the worker counts */
  mpk_mpi_opts opts; /* this rank's view (checked equal at every call) */
  MPI_Win win;       /* rank 0 exposes one uint64: the next free chunk */
  uint64_t *counter; /* its memory (rank 0), unused elsewhere */
  int dyn_rc;        /* MPK_OK, or why the window could not be made */
  /* exchange buffers, size entries each (counts: 2 x size) */
  mpk__mpi_hdr *hdrs;
  mpk__mpi_outcome *outs;
  int *counts;
} mpk__mpi;

enum { MPK__MPI_FOR = 1, MPK__MPI_RED_D, MPK__MPI_RED_G, MPK__MPI_MAP };

/* A run of chunks or elements, [lo, hi). */
typedef struct {
  uint64_t lo, hi;
} mpk__mpi_run;

/* A rank's runs (growable) and its outcome. */
typedef struct {
  mpk__mpi_run *runs;
  size_t nruns, cap;
  uint64_t chunks; /* chunks run */
  int code;        /* MPK_OK or the first failure */
  uint64_t index;  /* global index of the failure, UINT64_MAX: none */
  int status, sig; /* task status (MPK_ETASK), signal (MPK_EWORKER) */
  int kind;        /* mpk__job_kind of the call (for mpk_errmsg) */
} mpk__mpi_out;

mpk__mpi *mpk__mpi_of(const mpk_pool_t *p);

/* Step 1. h->rc is this rank's verdict; on MPK_OK from every rank and
   matching headers returns MPK_OK (for DYNAMIC with rank 0's counter at 0;
   the first DYNAMIC call makes the counter window here: MPK_ENOSYS on every
   rank if that fails, then and for every later DYNAMIC call);
   otherwise every rank returns the same error (the lowest failing rank's
   verdict, or MPK_EINVAL for a mismatch). */
int mpk__mpi_agree(mpk__mpi *m, mpk__mpi_hdr *h);

/* DYNAMIC: rank 0's counter of handed-out chunks: set to 0 (rank 0, at the
   start of a call), raised to at least `to` (a failing rank: no rank
   starts another grab), and a grab of `count` chunks (*first: the first). */
int mpk__mpi_counter_reset(mpk__mpi *m);
int mpk__mpi_counter_raise(mpk__mpi *m, uint64_t to);
int mpk__mpi_grab(mpk__mpi *m, uint64_t count, uint64_t *first);

/* The chunks [k0, k1) of nchunks that rank r takes under STATIC. */
void mpk__mpi_static_share(const mpk__mpi *m, int r, uint64_t nchunks,
                           uint64_t *k0, uint64_t *k1);

/* Record a run / a failure in o. add_run: MPK_ENOMEM. */
int mpk__mpi_add_run(mpk__mpi_out *o, uint64_t lo, uint64_t hi);
void mpk__mpi_fail(mpk__mpi_out *o, int code, uint64_t index, int status,
                   int sig);

/* Step 3. Exchanges every rank's outcome; on a failure anywhere sets the
   pool's last error to the chosen record and returns its code on every
   rank; MPK_EIO when the ranks did not run nchunks chunks in all.
   Otherwise, when buf != NULL, the elements (elem bytes each) of
   every rank's runs are sent from that rank into buf on every rank
   (root < 0) or on rank `root` only. Frees o->runs. */
int mpk__mpi_settle(mpk_pool_t *p, mpk__mpi *m, mpk__mpi_out *o,
                    uint64_t nchunks, void *buf, size_t elem, int root);

/* Step 3 for FAST reductions: allgather one elem-byte value per rank into
   all (size x elem bytes). */
int mpk__mpi_allgather(mpk__mpi *m, const void *mine, void *all, size_t elem);

/* An MPI return code as an mpk error. */
int mpk__mpi_err(int mpi_rc);

/* mpk_pool_free's first step: collective frees of the window and the
   communicator. */
void mpk__mpi_destroy(mpk_pool_t *p);

extern const mpk__pool_ext_ops mpk__mpi_ops;

#endif /* MPK_MPI_INTERNAL_H */
