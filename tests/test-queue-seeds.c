/* queue.seeds: the Queue examples of the seed tutorials, in C with mpk
   processes. Each test names the seed and the Python it reproduces. */
#include <stdint.h>

#include "check.h"
#include "mpk/process.h"
#include "mpk/queue.h"
#include "mpk/shm.h"

static mpk_process_t *start(mpk_process_fn fn, const void *arg, size_t size) {
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, fn, arg, size, NULL));
  CHECK_OK(mpk_process_start(p));
  return p;
}

static void join_ok(mpk_process_t *p) {
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  int code = -1;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_MSG(code == 0, "%s exited with %d", mpk_process_name(p), code);
  mpk_process_free(p);
}

/* ---- seed 003: producer / consumer processes --------------------------
   producer: for i in range(10): item = random.randint(0, 256); q.put(item)
   consumer: while True: if q.empty(): break  else: q.get()
   The seed's sleeps give the producer time to finish first; here the
   producer closes the queue after its last put instead, and the consumer
   pops (waiting as long as it takes) until the queue says it is closed and
   drained, so no schedule can end the stream early. It records what it
   got. */
typedef struct {
  mpk_queue_t *q;
  int sent[10];
  int got[10];
  int n_got;
} pc_shared;

static int producer(void *arg) {
  pc_shared *s = *(pc_shared **)arg;
  srand((unsigned)getpid());
  for (int i = 0; i < 10; i++) {
    int item = rand() % 257;
    s->sent[i] = item;
    if (mpk_queue_put(s->q, &item, sizeof item, CHECK_HANG_S) != MPK_OK)
      return 1;
    printf("Process Producer : item %d appended to queue %s\n", item,
           mpk_current_process_name());
    printf("The size of queue is %ld\n", mpk_queue_qsize(s->q));
  }
  return mpk_queue_close(s->q) == MPK_OK ? 0 : 1;
}

static int consumer(void *arg) {
  pc_shared *s = *(pc_shared **)arg;
  for (;;) {
    int item;
    size_t len;
    int r = mpk_queue_get(s->q, &item, sizeof item, &len, MPK_FOREVER);
    if (r == MPK_ECLOSED) {
      printf("the queue is empty\n");
      return mpk_queue_empty(s->q) == 1 ? 0 : 2;
    }
    if (r != MPK_OK || len != sizeof item || s->n_got >= 10)
      return 1;
    printf("Process Consumer : item %d popped from by %s\n", item,
           mpk_current_process_name());
    s->got[s->n_got++] = item;
  }
}

static void test_seed003_producer_consumer(void) {
  pc_shared *s = mpk_shm_calloc(1, sizeof *s);
  CHECK(s != NULL);
  CHECK_OK(mpk_queue_new(&s->q, 0, 0)); /* Python's Queue(): default size */
  mpk_process_t *p = start(producer, &s, sizeof s);
  mpk_process_t *c = start(consumer, &s, sizeof s);
  join_ok(p);
  join_ok(c);
  CHECK_EQ(s->n_got, 10);
  for (int i = 0; i < 10; i++) {
    CHECK(s->sent[i] >= 0 && s->sent[i] <= 256);
    CHECK_EQ(s->got[i], s->sent[i]); /* FIFO */
  }
  mpk_queue_free(s->q);
  mpk_shm_free(s);
}

/* ---- seed 002: task queue with 4 worker processes ---------------------
   tasks: "Task no i" for i in range(10); each worker:
     while True: try: task = tasks.get_nowait() except queue.Empty: break
                 else: done.put(task + ' is done by ' + current_process().name)
   then the parent prints every line of `done`. */
typedef struct {
  mpk_queue_t *tasks, *done;
} task_queues;

static int do_job(void *arg) {
  task_queues *t = arg;
  char task[64], line[128];
  for (;;) {
    size_t len;
    int r = mpk_queue_get_nowait(t->tasks, task, sizeof task - 1, &len);
    if (r == MPK_EEMPTY)
      break;
    if (r != MPK_OK)
      return 1;
    task[len] = '\0';
    printf("%s\n", task);
    int n = snprintf(line, sizeof line, "%s is done by %s", task,
                     mpk_current_process_name());
    if (mpk_queue_put(t->done, line, (size_t)n, CHECK_HANG_S) != MPK_OK)
      return 2;
    check_sleep(0.005); /* the seed's time.sleep(.5), shortened */
  }
  return 0;
}

static void test_seed002_task_workers(void) {
  task_queues t;
  CHECK_OK(mpk_queue_new(&t.tasks, 0, 0));
  CHECK_OK(mpk_queue_new(&t.done, 0, 0));
  for (int i = 0; i < 10; i++) {
    char task[32];
    int n = snprintf(task, sizeof task, "Task no %d", i);
    CHECK_OK(mpk_queue_put(t.tasks, task, (size_t)n, 0));
  }
  mpk_process_t *w[4];
  char names[4][32];
  for (int i = 0; i < 4; i++) {
    w[i] = start(do_job, &t, sizeof t);
    snprintf(names[i], sizeof names[i], "%s", mpk_process_name(w[i]));
  }
  for (int i = 0; i < 4; i++)
    join_ok(w[i]);
  int count[10] = {0};
  char line[128];
  size_t len;
  while (!mpk_queue_empty(t.done)) {
    CHECK_OK(mpk_queue_get(t.done, line, sizeof line - 1, &len, 0));
    line[len] = '\0';
    printf("%s\n", line);
    int task = -1, off = 0;
    CHECK(sscanf(line, "Task no %d is done by %n", &task, &off) == 1);
    CHECK(task >= 0 && task < 10 && off > 0);
    int by_worker = 0;
    for (int i = 0; i < 4; i++)
      by_worker |= strcmp(line + off, names[i]) == 0;
    CHECK_MSG(by_worker, "done by an unknown process: %s", line + off);
    count[task]++;
  }
  for (int i = 0; i < 10; i++)
    CHECK_MSG(count[i] == 1, "Task no %d done %d times", i, count[i]);
  CHECK_EQ(mpk_queue_empty(t.tasks), 1);
  mpk_queue_free(t.tasks);
  mpk_queue_free(t.done);
}

/* ---- seed 000: squares through a queue --------------------------------
   def square(x, q): q.put(x * x)
   processes = [mp.Process(target=square, args=(i, qout)) for i in range(2, 10)]
   result = [qout.get() for p in processes]   # some order of 4, 9, ..., 81 */
typedef struct {
  mpk_queue_t *q;
  long index, x;
  int delay_ms;
} square_arg;

static int square(void *arg) {
  square_arg *a = arg;
  long r = a->x * a->x;
  return mpk_queue_put(a->q, &r, sizeof r, CHECK_HANG_S) == MPK_OK ? 0 : 1;
}

static void test_seed000_squares(void) {
  mpk_queue_t *qout;
  CHECK_OK(mpk_queue_new(&qout, 0, 0));
  mpk_process_t *p[8];
  for (long i = 2; i < 10; i++) {
    square_arg a = {qout, 0, i, 0};
    p[i - 2] = start(square, &a, sizeof a);
  }
  for (int i = 0; i < 8; i++)
    join_ok(p[i]);
  int seen[82] = {0};
  printf("result: [");
  for (int i = 0; i < 8; i++) {
    long r;
    size_t len;
    CHECK_OK(mpk_queue_get(qout, &r, sizeof r, &len, CHECK_HANG_S));
    CHECK(r >= 4 && r <= 81);
    seen[r]++;
    printf("%s%ld", i ? ", " : "", r);
  }
  printf("]\n");
  for (long x = 2; x < 10; x++)
    CHECK_EQ(seen[x * x], 1); /* the multiset {4, 9, ..., 81} */
  CHECK_EQ(mpk_queue_empty(qout), 1);
  mpk_queue_free(qout);
}

/* The ordering lesson: random delays scramble the arrival order; tagging
   each result with its input index and sorting restores it.
   def square(i, x, q): sleep(0.01 * randint(0, 100)); q.put((i, x * x)) */
typedef struct {
  long index, value;
} tagged;

static int square_tagged(void *arg) {
  square_arg *a = arg;
  check_sleep(a->delay_ms * 1e-3);
  tagged t = {a->index, a->x * a->x};
  return mpk_queue_put(a->q, &t, sizeof t, CHECK_HANG_S) == MPK_OK ? 0 : 1;
}

static int by_index(const void *a, const void *b) {
  const tagged *x = a, *y = b;
  return (x->index > y->index) - (x->index < y->index);
}

static void test_seed000_ordering(void) {
  static const long input[8] = {2, 4, 6, 8, 3, 5, 7, 9};
  static const long want[8] = {4, 16, 36, 64, 9, 25, 49, 81};
  mpk_queue_t *qout;
  CHECK_OK(mpk_queue_new(&qout, 0, 0));
  srand(7);
  mpk_process_t *p[8];
  for (int i = 0; i < 8; i++) {
    square_arg a = {qout, i, input[i], rand() % 60};
    p[i] = start(square_tagged, &a, sizeof a);
  }
  for (int i = 0; i < 8; i++)
    join_ok(p[i]);
  tagged r[8];
  printf("unsorted:");
  for (int i = 0; i < 8; i++) {
    size_t len;
    CHECK_OK(mpk_queue_get(qout, &r[i], sizeof r[i], &len, CHECK_HANG_S));
    CHECK_EQ(len, sizeof r[i]);
    printf(" (%ld, %ld)", r[i].index, r[i].value);
  }
  printf("\n");
  qsort(r, 8, sizeof r[0], by_index);
  for (int i = 0; i < 8; i++) {
    CHECK_EQ(r[i].index, i);
    CHECK_EQ(r[i].value, want[i]); /* [4, 16, 36, 64, 9, 25, 49, 81] */
  }
  mpk_queue_free(qout);
}

/* ---- seed 000: pi by calc_partial_pi through a queue ------------------
   def calc_partial_pi(rank, nprocs, nsteps, dx, qout):
       partial_pi = 0.0
       for i in range(rank, nsteps, nprocs):
           x = (i + 0.5) * dx; partial_pi += 4.0 / (1.0 + x * x)
       partial_pi *= dx; qout.put(partial_pi) */
typedef struct {
  long rank, nprocs, nsteps;
  double dx;
  mpk_queue_t *qout;
} pi_arg;

static int calc_partial_pi(void *arg) {
  pi_arg *a = arg;
  double partial_pi = 0.0;
  for (long i = a->rank; i < a->nsteps; i += a->nprocs) {
    double x = ((double)i + 0.5) * a->dx;
    partial_pi += 4.0 / (1.0 + x * x);
  }
  partial_pi *= a->dx;
  return mpk_queue_put(a->qout, &partial_pi, sizeof partial_pi, CHECK_HANG_S) ==
                 MPK_OK
             ? 0
             : 1;
}

static void test_seed000_pi(void) {
  static const long steps[] = {1000000, 4000000, 10000000};
  int nprocs = mpk_cpu_count() < 4 ? 4 : mpk_cpu_count();
  CHECK(nprocs <= 64);
  for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
    mpk_queue_t *qout;
    CHECK_OK(mpk_queue_new(&qout, 0, 0));
    mpk_process_t *p[64];
    for (int rank = 0; rank < nprocs; rank++) {
      pi_arg a = {rank, nprocs, steps[s], 1.0 / (double)steps[s], qout};
      p[rank] = start(calc_partial_pi, &a, sizeof a);
    }
    for (int rank = 0; rank < nprocs; rank++)
      join_ok(p[rank]);
    double pi = 0;
    for (int rank = 0; rank < nprocs; rank++) {
      double part;
      size_t len;
      CHECK_OK(mpk_queue_get(qout, &part, sizeof part, &len, CHECK_HANG_S));
      pi += part;
    }
    printf("nsteps %ld, %d processes: pi = %.15f (error %.2e)\n", steps[s],
           nprocs, pi, pi - M_PI);
    CHECK_NEAR(pi, M_PI, 1e-12);
    mpk_queue_free(qout);
  }
}

/* ---- seed 002: colors, FIFO --------------------------------------------
   for color in colors: queue.put(color)
   while not queue.empty(): print(queue.get())   # red green blue black */
static const char *const colors[] = {"red", "green", "blue", "black"};

static int pop_colors(void *arg) {
  mpk_queue_t *q = *(mpk_queue_t **)arg;
  int cnt = 0;
  char b[16];
  while (!mpk_queue_empty(q)) {
    size_t len;
    if (mpk_queue_get(q, b, sizeof b - 1, &len, 0) != MPK_OK || cnt >= 4)
      return 1;
    b[len] = '\0';
    printf("item no: %d %s\n", cnt, b);
    if (strcmp(b, colors[cnt]) != 0)
      return 2;
    cnt++;
  }
  return cnt == 4 ? 0 : 3;
}

static void test_seed002_colors(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 0, 0));
  for (int pass = 0; pass < 2; pass++) {
    printf("pushing items to queue:\n");
    for (int i = 0; i < 4; i++) {
      printf("item no: %d %s\n", i + 1, colors[i]);
      CHECK_OK(mpk_queue_put(q, colors[i], strlen(colors[i]), 0));
    }
    printf("popping items from queue:\n");
    if (pass == 0) {
      CHECK_EQ(pop_colors(&q), 0); /* as in the seed: the same process */
    } else {
      mpk_process_t *p = start(pop_colors, &q, sizeof q); /* another one */
      join_ok(p);
    }
    CHECK_EQ(mpk_queue_empty(q), 1);
  }
  mpk_queue_free(q);
}

/* ---- seed 002: square_list into a queue, print_queue in another process
   p1 = Process(target=square_list, args=(mylist, q)); p1.start(); p1.join()
   p2 = Process(target=print_queue, args=(q,)); p2.start(); p2.join() */
typedef struct {
  mpk_queue_t *q;
  long printed[8];
  int n;
} sq_shared;

static int square_list(void *arg) {
  sq_shared *s = *(sq_shared **)arg;
  static const long mylist[] = {1, 2, 3, 4};
  for (int i = 0; i < 4; i++) {
    long v = mylist[i] * mylist[i];
    if (mpk_queue_put(s->q, &v, sizeof v, CHECK_HANG_S) != MPK_OK)
      return 1;
  }
  return 0;
}

static int print_queue(void *arg) {
  sq_shared *s = *(sq_shared **)arg;
  printf("Queue elements:\n");
  while (!mpk_queue_empty(s->q)) {
    long v;
    size_t len;
    if (mpk_queue_get(s->q, &v, sizeof v, &len, 0) != MPK_OK || s->n >= 8)
      return 1;
    printf("%ld\n", v);
    s->printed[s->n++] = v;
  }
  printf("Queue is now empty!\n");
  return 0;
}

static void test_seed002_square_list(void) {
  sq_shared *s = mpk_shm_calloc(1, sizeof *s);
  CHECK(s != NULL);
  CHECK_OK(mpk_queue_new(&s->q, 0, 0));
  mpk_process_t *p1 = start(square_list, &s, sizeof s);
  join_ok(p1);
  mpk_process_t *p2 = start(print_queue, &s, sizeof s);
  join_ok(p2);
  CHECK_EQ(s->n, 4);
  for (int i = 0; i < 4; i++)
    CHECK_EQ(s->printed[i], (i + 1) * (i + 1)); /* 1 4 9 16 */
  mpk_queue_free(s->q);
  mpk_shm_free(s);
}

/* ---- seed 004: a child puts [42, None, 'hello'], the parent gets it ----
   Python pickles the list; in C the message is either a struct (the
   fields, with None as a flag) or a serialized string. */
typedef struct {
  int answer;
  int has_second; /* 0: None */
  char text[8];
} triple;

static int f_put_list(void *arg) {
  mpk_queue_t *q = *(mpk_queue_t **)arg;
  triple t = {42, 0, "hello"};
  const char *s = "[42, None, 'hello']";
  if (mpk_queue_put(q, &t, sizeof t, CHECK_HANG_S) != MPK_OK)
    return 1;
  return mpk_queue_put(q, s, strlen(s), CHECK_HANG_S) == MPK_OK ? 0 : 2;
}

static void test_seed004_child_puts_list(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 0, 0));
  mpk_process_t *p = start(f_put_list, &q, sizeof q);
  triple t;
  size_t len;
  CHECK_OK(
      mpk_queue_get(q, &t, sizeof t, &len, CHECK_HANG_S)); /* before join */
  CHECK_EQ(len, sizeof t);
  CHECK_EQ(t.answer, 42);
  CHECK_EQ(t.has_second, 0);
  CHECK_STR(t.text, "hello");
  char s[64];
  CHECK_OK(mpk_queue_get(q, s, sizeof s - 1, &len, CHECK_HANG_S));
  s[len] = '\0';
  printf("%s\n", s);
  CHECK_STR(s, "[42, None, 'hello']");
  join_ok(p);
  mpk_queue_free(q);
}

int main(void) {
  check_watchdog(90);
  CHECK_RUN(test_seed003_producer_consumer);
  CHECK_RUN(test_seed002_task_workers);
  CHECK_RUN(test_seed000_squares);
  CHECK_RUN(test_seed000_ordering);
  CHECK_RUN(test_seed000_pi);
  CHECK_RUN(test_seed002_colors);
  CHECK_RUN(test_seed002_square_list);
  CHECK_RUN(test_seed004_child_puts_list);
  return check_done();
}
