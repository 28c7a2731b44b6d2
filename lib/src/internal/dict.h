/* internal/dict.h - test hooks of the shared dict (see mpk/dict.h). */
#ifndef MPK_INTERNAL_DICT_H
#define MPK_INTERNAL_DICT_H

#include "mpk/dict.h"

/* How many times a caller found the dict's mutex owner dead and repaired
   the dict (recounted its size) before going on. Takes the mutex (so a
   pending repair happens first). MPK_EINVAL if d is not a dict.
   MT-safe, MP-safe. */
long mpk__dict_repairs(mpk_dict_t *d);

/* Check every invariant under the mutex: the table's magic and power-of-two
   capacity, each entry's magic, key length and hash, each key found at its
   own slot by a lookup, the live and used counts equal to a recount, a free
   slot left. MPK_OK when all hold, MPK_EIO when one does not, MPK_EINVAL
   if d is not a dict. MT-safe, MP-safe. */
int mpk__dict_check(mpk_dict_t *d);

#endif
