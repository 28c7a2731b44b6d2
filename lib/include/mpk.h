/* mpk.h - the umbrella header: every public mpk module. */
#ifndef MPK_H
#define MPK_H

#include "mpk/common.h"
#include "mpk/error.h"
#include "mpk/topo.h"
#include "mpk/shm.h"
#include "mpk/process.h"
#include "mpk/sync.h"
#include "mpk/queue.h"
#include "mpk/pipe.h"
#include "mpk/dict.h"
#include "mpk/pool.h"
#if defined(MPK_WITH_MPI)
#include "mpk/mpi.h"
#endif

#endif
