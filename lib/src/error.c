/* error.c - the code table of mpk/error.h rendered as strings. */
#include "mpk/error.h"

const char *mpk_strerror(int code) {
  switch (code) {
#define X(name, value, msg)                                                    \
  case (value): return msg;
    MPK_ERRNO_MAP(X)
#undef X
  default: return "unknown error";
  }
}

const char *mpk_err_name(int code) {
  switch (code) {
#define X(name, value, msg)                                                    \
  case (value): return "MPK_" #name;
    MPK_ERRNO_MAP(X)
#undef X
  default: return "MPK_UNKNOWN";
  }
}
