/* sync.seed: the C twin of the seed's Barrier demo (seeds/003, "How to
 * synchronize processes"):
 *
 *   synchronizer = Barrier(2); serializer = Lock()
 *   p1, p2: synchronizer.wait(); now = time(); with serializer: print(...)
 *   p3, p4: now = time(); print(...)            # no barrier
 *
 * We assert the behaviour, not a timing: neither barrier process leaves the
 * barrier before both arrived (each one's post-barrier timestamp is >= the
 * other's arrival timestamp), p3 and p4 finish while p2 is deliberately
 * held back before the barrier (p1 still blocked in it), and the prints
 * made under the Lock are serialised. */
#include <sys/time.h>

#include "test-sync-util.h"

struct demo {
  mpk_barrier_t *synchronizer;
  mpk_lock_t *serializer;
  mpk_event_t *release_p2; /* holds p2 back before the barrier */
  int out;                 /* write end of the pipe every child prints to */
  double arrive[2], post[2];
  _Atomic int in_print, max_in_print;
};

struct who {
  struct demo *d;
  const char *name;
  int slot;
};

/* datetime.fromtimestamp(now) style, from the wall clock. */
static void print_line(int fd, const char *name) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char when[32], line[160];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  int n = snprintf(line, sizeof line, "process %s ----> %s.%06ld\n", name, when,
                   (long)tv.tv_usec);
  CHECK(write(fd, line, (size_t)n) == n);
}

static int test_with_barrier(void *arg) {
  struct who *w = arg;
  struct demo *d = w->d;
  if (w->slot == 1)
    CHECK_OK(mpk_event_wait(d->release_p2, CHECK_HANG_S));
  d->arrive[w->slot] = check_now();
  int idx = mpk_barrier_wait(d->synchronizer, CHECK_HANG_S);
  double now = check_now();
  CHECK(idx == 0 || idx == 1);
  d->post[w->slot] = now;
  CHECK_OK(
      mpk_lock_acquire(d->serializer, CHECK_HANG_S)); /* with serializer: */
  int inside = atomic_fetch_add(&d->in_print, 1) + 1;
  if (inside > atomic_load(&d->max_in_print))
    atomic_store(&d->max_in_print, inside);
  print_line(d->out, w->name);
  atomic_fetch_sub(&d->in_print, 1);
  CHECK_OK(mpk_lock_release(d->serializer));
  return 0;
}

static int test_without_barrier(void *arg) {
  struct who *w = arg;
  print_line(w->d->out, w->name);
  return 0;
}

static pid_t start(int (*fn)(void *), struct demo *d, const char *name,
                   int slot) {
  struct who w = {d, name, slot};
  return check_fork(fn, &w);
}

static void test_barrier_demo(void) {
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  struct demo *d = shared(sizeof *d);
  CHECK_OK(mpk_barrier_new(&d->synchronizer, 2));
  CHECK_OK(mpk_lock_new(&d->serializer));
  CHECK_OK(mpk_event_new(&d->release_p2));
  d->out = fds[1];
  pid_t p1 = start(test_with_barrier, d, "p1 - test_with_barrier", 0);
  pid_t p2 = start(test_with_barrier, d, "p2 - test_with_barrier", 1);
  pid_t p3 = start(test_without_barrier, d, "p3 - test_without_barrier", 0);
  pid_t p4 = start(test_without_barrier, d, "p4 - test_without_barrier", 0);
  /* p3 and p4 need nobody: they finish while p2 is held back ... */
  check_wait_ok(p3, 10);
  check_wait_ok(p4, 10);
  /* ... and p1 is still blocked in the barrier. */
  await_futex_sleep(p1, p1);
  int st;
  CHECK_EQ(waitpid(p1, &st, WNOHANG), 0);
  CHECK_EQ(mpk_barrier_n_waiting(d->synchronizer), 1);
  CHECK(d->post[0] == 0);
  CHECK_OK(mpk_event_set(d->release_p2));
  check_wait_ok(p1, 10);
  check_wait_ok(p2, 10);
  close(fds[1]);

  /* Neither left before both arrived. */
  CHECK(d->arrive[0] > 0 && d->arrive[1] > 0);
  CHECK_MSG(d->post[0] >= d->arrive[1], "p1 left at %.9f before p2 came %.9f",
            d->post[0], d->arrive[1]);
  CHECK_MSG(d->post[1] >= d->arrive[0], "p2 left at %.9f before p1 came %.9f",
            d->post[1], d->arrive[0]);
  CHECK(d->arrive[1] > d->arrive[0]); /* p2 really was held back */
  CHECK_EQ(atomic_load(&d->max_in_print), 1);

  /* Four lines; p3 and p4 printed first, then p1 and p2 in any order. */
  char buf[1024] = {0};
  size_t len = 0;
  ssize_t n;
  while ((n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)n;
  close(fds[0]);
  fputs(buf, stdout);
  int lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += buf[i] == '\n';
  CHECK_EQ(lines, 4);
  char *l1 = strstr(buf, "process p1 - test_with_barrier ----> ");
  char *l2 = strstr(buf, "process p2 - test_with_barrier ----> ");
  char *l3 = strstr(buf, "process p3 - test_without_barrier ----> ");
  char *l4 = strstr(buf, "process p4 - test_without_barrier ----> ");
  CHECK(l1 && l2 && l3 && l4);
  CHECK(l3 < l1 && l3 < l2 && l4 < l1 && l4 < l2);

  mpk_event_free(d->release_p2);
  mpk_lock_free(d->serializer);
  mpk_barrier_free(d->synchronizer);
  mpk_shm_free(d);
}

/* The seed's `with serializer:` - four processes write lines one byte per
   write(2) while holding the Lock; every line arrives whole. */
enum { PRINTERS = 4, LINES = 40 };

struct printers {
  mpk_lock_t *serializer;
  int out;
};

struct printer {
  struct printers *p;
  int id;
};

static int printer(void *arg) {
  struct printer *me = arg;
  for (int k = 0; k < LINES; k++) {
    char line[64];
    int n =
        snprintf(line, sizeof line, "printer %d says line %02d\n", me->id, k);
    CHECK_OK(mpk_lock_acquire(me->p->serializer, CHECK_HANG_S));
    for (int i = 0; i < n; i++) {
      CHECK(write(me->p->out, &line[i], 1) == 1);
      if (i % 8 == 0)
        sched_yield(); /* let the others try to cut in */
    }
    CHECK_OK(mpk_lock_release(me->p->serializer));
  }
  return 0;
}

static void test_serialised_printing(void) {
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  struct printers *p = shared(sizeof *p);
  CHECK_OK(mpk_lock_new(&p->serializer));
  p->out = fds[1];
  pid_t pids[PRINTERS];
  for (int i = 0; i < PRINTERS; i++) {
    struct printer me = {p, i};
    pids[i] = check_fork(printer, &me);
  }
  close(fds[1]);
  static char buf[PRINTERS * LINES * 64];
  size_t len = 0;
  ssize_t n;
  while ((n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)n;
  close(fds[0]);
  for (int i = 0; i < PRINTERS; i++)
    check_wait_ok(pids[i], 30);
  buf[len] = '\0';
  int count[PRINTERS] = {0};
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    int id, k;
    char tail;
    CHECK_MSG(sscanf(line, "printer %d says line %d%c", &id, &k, &tail) == 2,
              "torn line: \"%s\"", line);
    CHECK(id >= 0 && id < PRINTERS);
    CHECK_EQ(k, count[id]); /* each printer's lines in its order */
    count[id]++;
  }
  for (int i = 0; i < PRINTERS; i++)
    CHECK_EQ(count[i], LINES);
  mpk_lock_free(p->serializer);
  mpk_shm_free(p);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_barrier_demo);
  CHECK_RUN(test_serialised_printing);
  return check_done();
}
