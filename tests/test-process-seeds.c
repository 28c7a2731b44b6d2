/* process.seeds: the Process examples of the seed tutorials, in C, with their
 * printed output captured (stdout goes to a temporary file that the
 * children share) and checked. */
#include <fcntl.h>
#include <signal.h>

#include "check.h"
#include "mpk/process.h"

/* ---- capturing stdout ---------------------------------------------------- */
static int g_saved = -1, g_cap = -1;

static void capture_begin(void) {
  fflush(stdout);
  char path[] = "/tmp/mpk-seed-XXXXXX";
  g_cap = mkstemp(path);
  CHECK(g_cap >= 0);
  unlink(path);
  CHECK(fcntl(g_cap, F_SETFL, O_APPEND) == 0); /* children append too */
  g_saved = dup(1);
  CHECK(g_saved >= 0 && dup2(g_cap, 1) == 1);
}

/* Everything printed since capture_begin; the caller frees it. */
static char *capture_end(void) {
  fflush(stdout);
  CHECK(dup2(g_saved, 1) == 1);
  close(g_saved);
  off_t n = lseek(g_cap, 0, SEEK_END);
  CHECK(n >= 0);
  char *buf = calloc(1, (size_t)n + 1);
  CHECK(buf != NULL);
  CHECK_EQ(pread(g_cap, buf, (size_t)n, 0), n);
  close(g_cap);
  return buf;
}

/* Line `i` (0-based) of text, copied into line; 0 when there is none. */
static int nth_line(const char *text, int i, char *line, size_t cap) {
  for (; i > 0; i--) {
    text = strchr(text, '\n');
    if (text == NULL)
      return 0;
    text++;
  }
  if (*text == '\0')
    return 0;
  size_t len = strcspn(text, "\n");
  CHECK(len < cap);
  memcpy(line, text, len);
  line[len] = '\0';
  return 1;
}

static int count_lines(const char *text) {
  int n = 0;
  for (; *text; text++)
    n += *text == '\n';
  return n;
}

static int has_line(const char *text, const char *want) {
  char line[256];
  for (int i = 0; nth_line(text, i, line, sizeof line); i++)
    if (strcmp(line, want) == 0)
      return 1;
  return 0;
}

static int exitcode_of(mpk_process_t *p) {
  int code = 1234;
  CHECK_OK(mpk_process_exitcode(p, &code));
  return code;
}

/* ---- 003: a Process "subclass" whose run prints its name, five times ----- */
static int my_process_run(void *arg) {
  (void)arg;
  printf("called run method in process: %s\n", mpk_current_process_name());
  return 0;
}

static void test_seed_subclass_run(void) {
  capture_begin();
  for (int i = 0; i < 5; i++) {
    mpk_process_t *p;
    CHECK_OK(mpk_process_new(&p, my_process_run, NULL, 0, NULL));
    CHECK_OK(mpk_process_start(p));
    CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
    CHECK_EQ(exitcode_of(p), 0);
    mpk_process_free(p);
  }
  char *out = capture_end();
  CHECK_STR(out, "called run method in process: Process-1\n"
                 "called run method in process: Process-2\n"
                 "called run method in process: Process-3\n"
                 "called run method in process: Process-4\n"
                 "called run method in process: Process-5\n");
  free(out);
}

/* ---- 000: square(5) in a Process ----------------------------------------- */
static int print_square_of(void *arg) {
  int x = *(int *)arg;
  printf("%d\n", x * x);
  return 0;
}

static void test_seed_square(void) {
  capture_begin();
  int x = 5;
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, print_square_of, &x, sizeof x, NULL));
  CHECK_OK(mpk_process_start(p));
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  mpk_process_free(p);
  char *out = capture_end();
  CHECK_STR(out, "25\n");
  free(out);
}

/* ---- 001: print_square / print_cube, then "Done!" ------------------------ */
static int print_cube(void *arg) {
  int num = *(int *)arg;
  printf("Cube: %d\n", num * num * num);
  return 0;
}

static int print_square(void *arg) {
  int num = *(int *)arg;
  printf("Square: %d\n", num * num);
  return 0;
}

static void test_seed_square_cube(void) {
  capture_begin();
  int ten = 10;
  mpk_process_t *p1, *p2;
  CHECK_OK(mpk_process_new(&p1, print_square, &ten, sizeof ten, NULL));
  CHECK_OK(mpk_process_new(&p2, print_cube, &ten, sizeof ten, NULL));
  CHECK_OK(mpk_process_start(p1));
  CHECK_OK(mpk_process_start(p2));
  CHECK_OK(mpk_process_join(p1, CHECK_HANG_S));
  CHECK_OK(mpk_process_join(p2, CHECK_HANG_S));
  printf("Done!\n");
  mpk_process_free(p1);
  mpk_process_free(p2);
  char *out = capture_end();
  /* the two children in either order, then Done! */
  CHECK_EQ(count_lines(out), 3);
  CHECK(has_line(out, "Square: 100"));
  CHECK(has_line(out, "Cube: 1000"));
  char last[64];
  CHECK(nth_line(out, 2, last, sizeof last));
  CHECK_STR(last, "Done!");
  free(out);
}

/* ---- 001: process ids ---------------------------------------------------- */
static int worker1(void *arg) {
  (void)arg;
  printf("ID of process running worker1: %d\n", (int)getpid());
  return 0;
}

static int worker2(void *arg) {
  (void)arg;
  printf("ID of process running worker2: %d\n", (int)getpid());
  return 0;
}

static void test_seed_process_ids(void) {
  capture_begin();
  printf("ID of main process: %d\n", (int)getpid());
  mpk_process_t *p1, *p2;
  CHECK_OK(mpk_process_new(&p1, worker1, NULL, 0, NULL));
  CHECK_OK(mpk_process_new(&p2, worker2, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(p1));
  CHECK_OK(mpk_process_start(p2));
  printf("ID of process p1: %d\n", (int)mpk_process_pid(p1));
  printf("ID of process p2: %d\n", (int)mpk_process_pid(p2));
  CHECK_OK(mpk_process_join(p1, CHECK_HANG_S));
  CHECK_OK(mpk_process_join(p2, CHECK_HANG_S));
  printf("Both processes finished execution!\n");
  printf("Process p1 is alive: %s\n",
         mpk_process_is_alive(p1) ? "True" : "False");
  printf("Process p2 is alive: %s\n",
         mpk_process_is_alive(p2) ? "True" : "False");
  pid_t pid1 = mpk_process_pid(p1), pid2 = mpk_process_pid(p2);
  mpk_process_free(p1);
  mpk_process_free(p2);
  char *out = capture_end();
  char want[96];
  CHECK_NE(pid1, getpid());
  CHECK_NE(pid2, getpid());
  CHECK_NE(pid1, pid2);
  snprintf(want, sizeof want, "ID of process running worker1: %d", (int)pid1);
  CHECK(has_line(out, want));
  snprintf(want, sizeof want, "ID of process running worker2: %d", (int)pid2);
  CHECK(has_line(out, want));
  CHECK(has_line(out, "Process p1 is alive: False"));
  CHECK(has_line(out, "Process p2 is alive: False"));
  CHECK_EQ(count_lines(out), 8);
  free(out);
}

/* ---- 002: cpu_count and print_func(continent='Asia') --------------------- */
static int print_func(void *arg) {
  const char *continent = arg ? (const char *)arg : "Asia"; /* default */
  printf("The name of continent is :  %s\n", continent);
  return 0;
}

static void test_seed_continents(void) {
  capture_begin();
  printf("Number of cpu :  %d\n", mpk_cpu_count());
  const char *names[] = {"America", "Europe", "Africa"};
  mpk_process_t *procs[4];
  CHECK_OK(mpk_process_new(&procs[0], print_func, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(procs[0]));
  for (int i = 0; i < 3; i++) {
    CHECK_OK(mpk_process_new(&procs[i + 1], print_func, names[i],
                             strlen(names[i]) + 1, NULL));
    CHECK_OK(mpk_process_start(procs[i + 1]));
  }
  for (int i = 0; i < 4; i++) {
    CHECK_OK(mpk_process_join(procs[i], CHECK_HANG_S));
    mpk_process_free(procs[i]);
  }
  char *out = capture_end();
  char want[64];
  snprintf(want, sizeof want, "Number of cpu :  %d", mpk_cpu_count());
  CHECK(mpk_cpu_count() >= 1);
  CHECK(has_line(out, want));
  CHECK(has_line(out, "The name of continent is :  Asia"));
  CHECK(has_line(out, "The name of continent is :  America"));
  CHECK(has_line(out, "The name of continent is :  Europe"));
  CHECK(has_line(out, "The name of continent is :  Africa"));
  CHECK_EQ(count_lines(out), 5);
  free(out);
}

/* ---- 003: is_alive / terminate / exitcode -------------------------------- */
static int foo(void *arg) {
  (void)arg;
  printf("Starting function\n");
  fflush(stdout);
  check_sleep(20); /* terminated long before */
  printf("Finished function\n");
  return 0;
}

static void test_seed_terminate(void) {
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, foo, NULL, 0, NULL));
  CHECK_EQ(mpk_process_is_alive(p), 0); /* Process before execution */
  CHECK_OK(mpk_process_start(p));
  CHECK_EQ(mpk_process_is_alive(p), 1); /* Process running */
  CHECK_OK(mpk_process_terminate(p));
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  CHECK_EQ(mpk_process_is_alive(p), 0); /* Process joined */
  CHECK_EQ(exitcode_of(p), -15);        /* Process exit code: -15 */
  mpk_process_free(p);
}

/* ---- 004: info() and f('bob') -------------------------------------------- */
static void info(const char *title) {
  printf("%s\n", title);
  printf("module name: %s\n", mpk_current_process_name());
  printf("parent process: %d\n", (int)getppid());
  printf("process id: %d\n", (int)getpid());
}

static int f(void *arg) {
  info("function f");
  printf("hello %s\n", (const char *)arg);
  return 0;
}

static void test_seed_hello_bob(void) {
  capture_begin();
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, f, "bob", 4, NULL));
  CHECK_OK(mpk_process_start(p));
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  CHECK_EQ(exitcode_of(p), 0);
  char *out = capture_end();
  char want[64];
  CHECK(has_line(out, "function f"));
  snprintf(want, sizeof want, "module name: %s", mpk_process_name(p));
  CHECK(has_line(out, want));
  snprintf(want, sizeof want, "parent process: %d", (int)getpid());
  CHECK(has_line(out, want)); /* the child's parent is us */
  snprintf(want, sizeof want, "process id: %d", (int)mpk_process_pid(p));
  CHECK(has_line(out, want));
  CHECK(has_line(out, "hello bob"));
  CHECK_EQ(count_lines(out), 5);
  mpk_process_free(p);
  free(out);
}

int main(void) {
  check_watchdog(60);
  /* first: its names must be Process-1 .. Process-5 */
  CHECK_RUN(test_seed_subclass_run);
  CHECK_RUN(test_seed_square);
  CHECK_RUN(test_seed_square_cube);
  CHECK_RUN(test_seed_process_ids);
  CHECK_RUN(test_seed_continents);
  CHECK_RUN(test_seed_terminate);
  CHECK_RUN(test_seed_hello_bob);
  return check_done();
}
