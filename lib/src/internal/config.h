/* internal/config.h - every MPK_* environment variable, read in one place.
 *
 * Read once per process (the first call wins; a forked child inherits the
 * parent's values). A malformed value prints one warning on stderr and the
 * default is kept. Explicit options passed to a call always beat these.
 */
#ifndef MPK_INTERNAL_CONFIG_H
#define MPK_INTERNAL_CONFIG_H

#include <stddef.h>

typedef enum {
  MPK__WAIT_DEFAULT,
  MPK__WAIT_ACTIVE,
  MPK__WAIT_PASSIVE
} mpk__wait_policy;

typedef struct {
  size_t shm_size;       /* MPK_SHM_SIZE: bytes reserved for the shared heap
                            ("64G", "512M", "1073741824"); 0 = default */
  mpk__wait_policy wait; /* MPK_WAIT_POLICY=active|passive (else
                            OMP_WAIT_POLICY) */
  double spin_us;        /* MPK_SPIN_US: spin before sleeping; < 0 unset */
} mpk__config;

/* The process's configuration. MT-safe (pthread_once). */
const mpk__config *mpk__config_get(void);

/* Parse "123", "64K", "512M", "2G", "1T" (binary units). 0 on success,
   -1 on a malformed or overflowing value. Exposed for the tests. */
int mpk__parse_size(const char *s, size_t *out);

#endif
