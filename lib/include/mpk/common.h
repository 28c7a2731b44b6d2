/* mpk/common.h - macros shared by every public mpk header. */
#ifndef MPK_COMMON_H
#define MPK_COMMON_H

#include <stddef.h>

#if defined(MPK_BUILDING)
#define MPK_API __attribute__((visibility("default")))
#else
#define MPK_API
#endif

#ifdef __cplusplus
#define MPK_BEGIN_DECLS extern "C" {
#define MPK_END_DECLS }
#else
#define MPK_BEGIN_DECLS
#define MPK_END_DECLS
#endif

/* Block without limit in any call that takes a `double timeout` (seconds).
   A timeout of 0 polls once. */
#define MPK_FOREVER (-1.0)

#endif
