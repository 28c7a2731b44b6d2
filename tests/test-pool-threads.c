/* pool.threads: the pool.basic suite on the thread backend (MPK_THREAD):
   same API, same semantics; also run under ThreadSanitizer. */
#define TEST_THREADS 1
#include "test-pool-basic.c"
