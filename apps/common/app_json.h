/* app_json.h - the little JSON the apps need: writing numbers and strings,
 * and reading back a file mpk-scale wrote (for --baseline).
 *
 * The parser accepts RFC 8259 JSON (objects, arrays, strings with escapes
 * including \u escapes with four hex digits and surrogate pairs, numbers, true,
 * false, null), nesting at most APP_JSON_MAX_DEPTH deep, and rejects anything
 * else with a message that gives the byte offset. It is MT-safe (no shared
 * state).
 */
#ifndef APP_JSON_H
#define APP_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Write s as a JSON string (NULL: null). */
void app_json_str(FILE *f, const char *s);

/* Write a number with 17 significant digits (round-trips a double bit for
   bit); NaN and infinities are written as null. */
void app_json_num(FILE *f, double v);

/* `, "key": <number>` (app_json_num rules for the value): one field of an
   object that already has a first field. */
void app_json_field(FILE *f, const char *key, double v);

typedef enum {
  APP_JSON_NULL,
  APP_JSON_BOOL,
  APP_JSON_NUMBER,
  APP_JSON_STRING,
  APP_JSON_ARRAY,
  APP_JSON_OBJECT
} app_json_type;

typedef struct app_json app_json;
struct app_json {
  app_json_type type;
  double number;   /* NUMBER; BOOL: 0 or 1 */
  char *string;    /* STRING (NUL-terminated; embedded NULs are rejected) */
  size_t len;      /* ARRAY / OBJECT: number of items */
  app_json *items; /* ARRAY / OBJECT: the values */
  char **keys;     /* OBJECT: the keys, in file order */
};

#define APP_JSON_MAX_DEPTH 64

/* Parse text[0..len) into a tree (*out, free with app_json_free). Returns
   0, or -1 with a message like "offset 17: expected ':'" in err (when
   errcap > 0); -1 also on no memory. Trailing whitespace is allowed,
   anything else after the value is an error. */
int app_json_parse(const char *text, size_t len, app_json **out, char *err,
                   size_t errcap);

/* Read a whole file and parse it. -1 with the reason in err (including the
   OS error when the file cannot be read). */
int app_json_parse_file(const char *path, app_json **out, char *err,
                        size_t errcap);

void app_json_free(app_json *v);

/* The member `key` of an object (the last one if repeated), or NULL when v
   is not an object or has no such key. */
const app_json *app_json_get(const app_json *v, const char *key);

/* Typed members: the value, or `def` when missing or of another type. */
double app_json_get_num(const app_json *v, const char *key, double def);
const char *app_json_get_str(const app_json *v, const char *key,
                             const char *def);

#endif
