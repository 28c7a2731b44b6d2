/* docs.guide: every complete C program in docs/guide.md (each ```c block
 * with a main function) compiles as shown with -std=c11 -Wall -Wextra
 * -Werror against mpk's headers. The MPI program is compiled only in a
 * build with the MPI mode. Fragments (no main) are excerpts of these and
 * are not compiled alone. */
#include "test-scale-util.h"

static char dir[256];

/* The line number of pos in text (1-based). */
static int count_lines_upto(const char *text, const char *pos) {
  int n = 1;
  for (const char *q = text; q < pos; q++)
    n += *q == '\n';
  return n;
}

/* Compile src (a whole translation unit) as example n; exit status of cc,
   its messages in *msg. */
static int compile(int n, const char *src, size_t len, char **msg) {
  char c[512], o[512], e[512];
  snprintf(c, sizeof c, "%s/example-%d.c", dir, n);
  snprintf(o, sizeof o, "%s/example-%d.o", dir, n);
  snprintf(e, sizeof e, "%s/example-%d.err", dir, n);
  FILE *f = fopen(c, "w");
  CHECK(f != NULL);
  CHECK_EQ(fwrite(src, 1, len, f), len);
  CHECK_EQ(fclose(f), 0);
  const char *cc = need_env("MPK_CC");
  char inc[600];
  snprintf(inc, sizeof inc, "-I%s/lib/include", need_env("MPK_SOURCE_DIR"));
  const char *argv[40] = {cc,  "-std=c11", "-Wall", "-Wextra", "-Werror",
                          inc, "-c",       c,       "-o",      o};
  int k = 10;
  /* the MPI flags of this build, space-separated (may be empty) */
  static char extra[4096];
  snprintf(extra, sizeof extra, "%s",
           getenv("MPK_MPI_CFLAGS") ? getenv("MPK_MPI_CFLAGS") : "");
  for (char *t = strtok(extra, " "); t && k < 38; t = strtok(NULL, " "))
    argv[k++] = t;
  argv[k] = NULL;
  int rc = run_prog(argv, NULL, e, 60);
  *msg = slurp(e);
  return rc;
}

static void test_guide_programs(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/docs/guide.md", need_env("MPK_SOURCE_DIR"));
  char *text = slurp(path);
  CHECK(text != NULL);
  int with_mpi = getenv("MPK_MPI_CFLAGS") && *getenv("MPK_MPI_CFLAGS");
  int programs = 0, compiled = 0;
  for (char *p = text; (p = strstr(p, "```c\n")) != NULL;) {
    char *start = p + 5, *end = strstr(start, "```");
    CHECK(end != NULL);
    size_t len = (size_t)(end - start);
    char save = *end;
    *end = '\0';
    int is_program = strstr(start, "int main(") != NULL;
    int is_mpi = strstr(start, "mpk_pool_create_mpi") != NULL ||
                 strstr(start, "MPI_Init") != NULL;
    *end = save;
    p = end + 3;
    if (!is_program)
      continue;
    programs++;
    if (is_mpi && !with_mpi)
      continue;
    char *msg;
    int rc = compile(programs, start, len, &msg);
    CHECK_MSG(rc == 0, "guide example %d (line %d) does not compile:\n%s",
              programs, count_lines_upto(text, start), msg ? msg : "");
    free(msg);
    compiled++;
  }
  printf("# %d of %d guide programs compiled%s\n", compiled, programs,
         with_mpi ? "" : " (no MPI in this build)");
  CHECK(programs >= 8);
  CHECK(compiled == programs || (!with_mpi && compiled >= programs - 1));
  free(text);
}

int main(void) {
  check_watchdog(240);
  make_tmpdir(dir, sizeof dir, "docs-guide");
  CHECK_RUN(test_guide_programs);
  rm_tree(dir);
  return check_done();
}
