/* app_json.c - JSON output helpers and a small recursive-descent parser.
 * See app_json.h. */
#include "app_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void app_json_str(FILE *f, const char *s) {
  if (s == NULL) {
    fputs("null", f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", f);
    else if (c == '\t')
      fputs("\\t", f);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

void app_json_num(FILE *f, double v) {
  if (!isfinite(v))
    fputs("null", f);
  else
    fprintf(f, "%.17g", v);
}

/* ------------------------------------------------------------------------ */
/* parser                                                                    */

typedef struct {
  const char *s;
  size_t len, pos;
  char *err;
  size_t errcap;
  int failed;
} parser;

__attribute__((format(printf, 2, 3))) static int fail(parser *p,
                                                      const char *fmt, ...) {
  if (!p->failed && p->err != NULL && p->errcap > 0) {
    int n = snprintf(p->err, p->errcap, "offset %zu: ", p->pos);
    if (n >= 0 && (size_t)n < p->errcap) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  p->failed = 1;
  return -1;
}

static void skip_ws(parser *p) {
  while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
    p->pos++;
}

static int peek(parser *p) {
  return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int literal(parser *p, const char *word) {
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
    return fail(p, "invalid literal");
  p->pos += n;
  return 0;
}

/* A growable byte buffer for strings. */
typedef struct {
  char *b;
  size_t n, cap;
} sbuf;

static int sbuf_put(sbuf *b, char c) {
  if (b->n + 1 >= b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 32;
    char *nb = realloc(b->b, cap);
    if (nb == NULL)
      return -1;
    b->b = nb;
    b->cap = cap;
  }
  b->b[b->n++] = c;
  b->b[b->n] = '\0';
  return 0;
}

static int put_utf8(sbuf *b, uint32_t cp) {
  int rc = 0;
  if (cp < 0x80) {
    rc |= sbuf_put(b, (char)cp);
  } else if (cp < 0x800) {
    rc |= sbuf_put(b, (char)(0xc0 | (cp >> 6)));
    rc |= sbuf_put(b, (char)(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    rc |= sbuf_put(b, (char)(0xe0 | (cp >> 12)));
    rc |= sbuf_put(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
    rc |= sbuf_put(b, (char)(0x80 | (cp & 0x3f)));
  } else {
    rc |= sbuf_put(b, (char)(0xf0 | (cp >> 18)));
    rc |= sbuf_put(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
    rc |= sbuf_put(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
    rc |= sbuf_put(b, (char)(0x80 | (cp & 0x3f)));
  }
  return rc;
}

static int hex4(parser *p, uint32_t *out) {
  if (p->len - p->pos < 4)
    return fail(p, "short \\u escape");
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p->s[p->pos + (size_t)i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (uint32_t)(c - 'A' + 10);
    else
      return fail(p, "bad \\u escape");
  }
  p->pos += 4;
  *out = v;
  return 0;
}

/* At the opening quote; on success *out is a malloc'd string. */
static int parse_string(parser *p, char **out) {
  sbuf b = {NULL, 0, 0};
  if (sbuf_put(&b, 'x') != 0) /* allocate, then reset: "" is valid */
    return fail(p, "out of memory");
  b.n = 0;
  b.b[0] = '\0';
  p->pos++;
  for (;;) {
    int c = peek(p);
    if (c < 0) {
      free(b.b);
      return fail(p, "unterminated string");
    }
    p->pos++;
    if (c == '"')
      break;
    if (c < 0x20) {
      free(b.b);
      return fail(p, "control character in string");
    }
    if (c != '\\') {
      if (sbuf_put(&b, (char)c) != 0)
        goto nomem;
      continue;
    }
    int e = peek(p);
    p->pos++;
    char lit = 0;
    switch (e) {
    case '"': lit = '"'; break;
    case '\\': lit = '\\'; break;
    case '/': lit = '/'; break;
    case 'b': lit = '\b'; break;
    case 'f': lit = '\f'; break;
    case 'n': lit = '\n'; break;
    case 'r': lit = '\r'; break;
    case 't': lit = '\t'; break;
    case 'u': {
      uint32_t cp, lo;
      if (hex4(p, &cp) != 0) {
        free(b.b);
        return -1;
      }
      if (cp >= 0xd800 && cp <= 0xdbff) { /* high surrogate: want a low one */
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
            p->s[p->pos + 1] != 'u') {
          free(b.b);
          return fail(p, "lone surrogate");
        }
        p->pos += 2;
        if (hex4(p, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
          free(b.b);
          return fail(p, "bad surrogate pair");
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        free(b.b);
        return fail(p, "lone surrogate");
      }
      if (cp == 0) {
        free(b.b);
        return fail(p, "NUL in string");
      }
      if (put_utf8(&b, cp) != 0)
        goto nomem;
      continue;
    }
    default: free(b.b); return fail(p, "bad escape");
    }
    if (sbuf_put(&b, lit) != 0)
      goto nomem;
  }
  *out = b.b;
  return 0;
nomem:
  free(b.b);
  return fail(p, "out of memory");
}

static int parse_number(parser *p, double *out) {
  size_t start = p->pos;
  if (peek(p) == '-')
    p->pos++;
  if (peek(p) == '0') {
    p->pos++;
  } else if (peek(p) >= '1' && peek(p) <= '9') {
    while (peek(p) >= '0' && peek(p) <= '9')
      p->pos++;
  } else {
    return fail(p, "bad number");
  }
  if (peek(p) == '.') {
    p->pos++;
    if (!(peek(p) >= '0' && peek(p) <= '9'))
      return fail(p, "bad fraction");
    while (peek(p) >= '0' && peek(p) <= '9')
      p->pos++;
  }
  if (peek(p) == 'e' || peek(p) == 'E') {
    p->pos++;
    if (peek(p) == '+' || peek(p) == '-')
      p->pos++;
    if (!(peek(p) >= '0' && peek(p) <= '9'))
      return fail(p, "bad exponent");
    while (peek(p) >= '0' && peek(p) <= '9')
      p->pos++;
  }
  char buf[512];
  size_t n = p->pos - start;
  if (n >= sizeof buf)
    return fail(p, "number too long");
  memcpy(buf, p->s + start, n);
  buf[n] = '\0';
  errno = 0;
  *out = strtod(buf, NULL); /* overflow gives +-HUGE_VAL: kept as is */
  return 0;
}

static void free_value(app_json *v);

static int parse_value(parser *p, app_json *v, int depth);

/* Append one item to an array/object under construction. */
static int grow(parser *p, app_json *v, size_t *cap, int with_keys) {
  if (v->len < *cap)
    return 0;
  size_t ncap = *cap ? *cap * 2 : 8;
  app_json *ni = realloc(v->items, ncap * sizeof *ni);
  if (ni == NULL)
    return fail(p, "out of memory");
  v->items = ni;
  if (with_keys) {
    char **nk = realloc(v->keys, ncap * sizeof *nk);
    if (nk == NULL)
      return fail(p, "out of memory");
    v->keys = nk;
  }
  *cap = ncap;
  return 0;
}

static int parse_array(parser *p, app_json *v, int depth) {
  size_t cap = 0;
  v->type = APP_JSON_ARRAY;
  p->pos++;
  skip_ws(p);
  if (peek(p) == ']') {
    p->pos++;
    return 0;
  }
  for (;;) {
    if (grow(p, v, &cap, 0) != 0)
      return -1;
    memset(&v->items[v->len], 0, sizeof v->items[0]);
    v->len++;
    if (parse_value(p, &v->items[v->len - 1], depth + 1) != 0)
      return -1;
    skip_ws(p);
    int c = peek(p);
    p->pos++;
    if (c == ']')
      return 0;
    if (c != ',') {
      p->pos--;
      return fail(p, "expected ',' or ']'");
    }
  }
}

static int parse_object(parser *p, app_json *v, int depth) {
  size_t cap = 0;
  v->type = APP_JSON_OBJECT;
  p->pos++;
  skip_ws(p);
  if (peek(p) == '}') {
    p->pos++;
    return 0;
  }
  for (;;) {
    skip_ws(p);
    if (peek(p) != '"')
      return fail(p, "expected a string key");
    if (grow(p, v, &cap, 1) != 0)
      return -1;
    char *key;
    if (parse_string(p, &key) != 0)
      return -1;
    memset(&v->items[v->len], 0, sizeof v->items[0]);
    v->keys[v->len] = key;
    v->len++;
    skip_ws(p);
    if (peek(p) != ':')
      return fail(p, "expected ':'");
    p->pos++;
    if (parse_value(p, &v->items[v->len - 1], depth + 1) != 0)
      return -1;
    skip_ws(p);
    int c = peek(p);
    p->pos++;
    if (c == '}')
      return 0;
    if (c != ',') {
      p->pos--;
      return fail(p, "expected ',' or '}'");
    }
  }
}

static int parse_value(parser *p, app_json *v, int depth) {
  if (depth > APP_JSON_MAX_DEPTH)
    return fail(p, "nested too deeply");
  skip_ws(p);
  switch (peek(p)) {
  case '{': return parse_object(p, v, depth);
  case '[': return parse_array(p, v, depth);
  case '"': v->type = APP_JSON_STRING; return parse_string(p, &v->string);
  case 't':
    v->type = APP_JSON_BOOL;
    v->number = 1;
    return literal(p, "true");
  case 'f':
    v->type = APP_JSON_BOOL;
    v->number = 0;
    return literal(p, "false");
  case 'n': v->type = APP_JSON_NULL; return literal(p, "null");
  case -1: return fail(p, "unexpected end of input");
  default: v->type = APP_JSON_NUMBER; return parse_number(p, &v->number);
  }
}

static void free_value(app_json *v) {
  if (v == NULL)
    return;
  free(v->string);
  for (size_t i = 0; i < v->len; i++) {
    free_value(&v->items[i]);
    if (v->keys)
      free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
}

void app_json_free(app_json *v) {
  free_value(v);
  free(v);
}

int app_json_parse(const char *text, size_t len, app_json **out, char *err,
                   size_t errcap) {
  parser p = {text, len, 0, err, errcap, 0};
  if (err && errcap)
    err[0] = '\0';
  if (text == NULL || out == NULL)
    return fail(&p, "no input");
  if (memchr(text, '\0', len) != NULL)
    return fail(&p, "NUL byte in input");
  app_json *v = calloc(1, sizeof *v);
  if (v == NULL)
    return fail(&p, "out of memory");
  if (parse_value(&p, v, 0) != 0) {
    app_json_free(v);
    return -1;
  }
  skip_ws(&p);
  if (p.pos != p.len) {
    app_json_free(v);
    return fail(&p, "trailing characters after the value");
  }
  *out = v;
  return 0;
}

int app_json_parse_file(const char *path, app_json **out, char *err,
                        size_t errcap) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    if (err && errcap)
      snprintf(err, errcap, "%s", strerror(errno));
    return -1;
  }
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (cap - n < 65536) {
      size_t ncap = cap ? cap * 2 : 65536;
      char *nb = realloc(buf, ncap);
      if (nb == NULL) {
        free(buf);
        fclose(f);
        if (err && errcap)
          snprintf(err, errcap, "out of memory");
        return -1;
      }
      buf = nb;
      cap = ncap;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0)
      break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    if (err && errcap)
      snprintf(err, errcap, "read error");
    return -1;
  }
  int rc = app_json_parse(buf, n, out, err, errcap);
  free(buf);
  return rc;
}

const app_json *app_json_get(const app_json *v, const char *key) {
  if (v == NULL || v->type != APP_JSON_OBJECT || key == NULL)
    return NULL;
  for (size_t i = v->len; i-- > 0;)
    if (strcmp(v->keys[i], key) == 0)
      return &v->items[i];
  return NULL;
}

double app_json_get_num(const app_json *v, const char *key, double def) {
  const app_json *m = app_json_get(v, key);
  return m != NULL && m->type == APP_JSON_NUMBER ? m->number : def;
}

const char *app_json_get_str(const app_json *v, const char *key,
                             const char *def) {
  const app_json *m = app_json_get(v, key);
  return m != NULL && m->type == APP_JSON_STRING ? m->string : def;
}

void app_json_field(FILE *f, const char *key, double v) {
  fprintf(f, ", \"%s\": ", key);
  app_json_num(f, v);
}
