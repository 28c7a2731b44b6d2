/* pipe.seeds: the Pipe programs of the seed tutorials, as C with mpk.
 *
 *  - seed 003 "Using pipes to exchange objects": one process sends 0..9 into
 *    pipe 1, a second squares them into pipe 2, the parent prints
 *    0 1 4 ... 81 and then "End" when pipe 2 reports EOF. EOF only comes
 *    because every copy of each write end is closed in the right process,
 *    exactly as the Python program does it.
 *  - seed 002: a sender process and a receiver process on the two ends of
 *    a Pipe(); the receiver stops at the "END" sentinel.
 *  - seed 004: a child sends [42, None, 'hello'] over a Pipe(); the parent
 *    receives and prints it.
 */
#include <stdint.h>

#include "check.h"
#include "mpk/pipe.h"
#include "mpk/process.h"

static void run_process(mpk_process_t **p, mpk_process_fn fn, const void *arg,
                        size_t size) {
  CHECK_OK(mpk_process_new(p, fn, arg, size, NULL));
  CHECK_OK(mpk_process_start(*p));
}

static void join_ok(mpk_process_t *p) {
  CHECK_OK(mpk_process_join(p, 30));
  int code = -1;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, 0);
  mpk_process_free(p);
}

/* ---- seed 003: the pipe chain ---------------------------------------- */

typedef struct {
  mpk_conn_t *p1[2]; /* pipe_1 = Pipe(True) */
  mpk_conn_t *p2[2]; /* pipe_2 = Pipe(True) */
} chain;

/* def create_items(pipe): output_pipe, _ = pipe; send 0..9; close */
static int create_items(void *arg) {
  chain *c = arg;
  mpk_conn_t *output_pipe = c->p1[0];
  for (long item = 0; item < 10; item++)
    CHECK_OK(mpk_conn_send(output_pipe, &item, sizeof item));
  CHECK_OK(mpk_conn_close(output_pipe));
  return 0;
}

/* def multiply_items(pipe_1, pipe_2): close, input_pipe = pipe_1;
   close.close(); output_pipe, _ = pipe_2; square until EOFError */
static int multiply_items(void *arg) {
  chain *c = arg;
  mpk_conn_t *to_close = c->p1[0], *input_pipe = c->p1[1];
  CHECK_OK(mpk_conn_close(to_close));
  mpk_conn_t *output_pipe = c->p2[0];
  for (;;) {
    long item;
    size_t len;
    int r = mpk_conn_recv(input_pipe, &item, sizeof item, &len, MPK_FOREVER);
    if (r == MPK_EEOF)
      break; /* except EOFError: output_pipe.close() */
    CHECK_OK(r);
    CHECK_EQ(len, sizeof item);
    long sq = item * item;
    CHECK_OK(mpk_conn_send(output_pipe, &sq, sizeof sq));
  }
  CHECK_OK(mpk_conn_close(output_pipe));
  return 0;
}

static void test_seed003_pipe_chain(void) {
  chain c;
  CHECK_OK(mpk_pipe(&c.p1[0], &c.p1[1], 1));
  mpk_process_t *process_pipe_1, *process_pipe_2;
  run_process(&process_pipe_1, create_items, &c, sizeof c);
  CHECK_OK(mpk_pipe(&c.p2[0], &c.p2[1], 1));
  run_process(&process_pipe_2, multiply_items, &c, sizeof c);
  CHECK_OK(mpk_conn_close(c.p1[0])); /* pipe_1[0].close() */
  CHECK_OK(mpk_conn_close(c.p2[0])); /* pipe_2[0].close() */
  char out[256] = "";
  size_t used = 0;
  long expect = 0;
  for (;;) {
    long v;
    size_t len;
    int r = mpk_conn_recv(c.p2[1], &v, sizeof v, &len, CHECK_HANG_S);
    if (r == MPK_EEOF) {
      used += (size_t)snprintf(out + used, sizeof out - used, "End\n");
      break;
    }
    CHECK_OK(r);
    CHECK_EQ(v, expect * expect);
    expect++;
    used += (size_t)snprintf(out + used, sizeof out - used, "%ld\n", v);
  }
  CHECK_EQ(expect, 10);
  fputs(out, stdout);
  CHECK_STR(out, "0\n1\n4\n9\n16\n25\n36\n49\n64\n81\nEnd\n");
  join_ok(process_pipe_1);
  join_ok(process_pipe_2);
  for (int i = 0; i < 2; i++) {
    mpk_conn_free(c.p1[i]);
    mpk_conn_free(c.p2[i]);
  }
}

/* ---- seed 002: sender / receiver with the "END" sentinel --------------- */

typedef struct {
  mpk_conn_t *conn;
  char msgs[4][8];
} sender_arg;

static int sender(void *arg) {
  sender_arg *s = arg;
  for (int i = 0; i < 4; i++) {
    CHECK_OK(mpk_conn_send(s->conn, s->msgs[i], strlen(s->msgs[i])));
    printf("Sent the message: %s\n", s->msgs[i]);
  }
  CHECK_OK(mpk_conn_close(s->conn));
  return 0;
}

static int receiver(void *arg) {
  mpk_conn_t *conn = *(mpk_conn_t **)arg;
  static const char *const want[] = {"hello", "hey", "hru?"};
  int n = 0;
  for (;;) {
    char msg[64];
    size_t len;
    CHECK_OK(mpk_conn_recv(conn, msg, sizeof msg - 1, &len, CHECK_HANG_S));
    msg[len] = '\0';
    if (strcmp(msg, "END") == 0)
      break;
    printf("Received the message: %s\n", msg);
    CHECK(n < 3);
    CHECK_STR(msg, want[n]);
    n++;
  }
  CHECK_EQ(n, 3);
  return 0;
}

static void test_seed002_sender_receiver(void) {
  sender_arg s = {.msgs = {"hello", "hey", "hru?", "END"}};
  mpk_conn_t *parent_conn, *child_conn;
  CHECK_OK(mpk_pipe(&parent_conn, &child_conn, 1));
  s.conn = parent_conn;
  mpk_process_t *p1, *p2;
  run_process(&p1, sender, &s, sizeof s);
  run_process(&p2, receiver, &child_conn, sizeof child_conn);
  join_ok(p1);
  join_ok(p2); /* exit code 0: it saw hello, hey, hru? and then END */
  mpk_conn_free(parent_conn);
  mpk_conn_free(child_conn);
}

/* ---- seed 004: the child sends [42, None, 'hello'] ------------------- */

typedef struct { /* the list, as a fixed C record */
  int32_t number;
  int32_t has_second; /* 0: None */
  char text[8];
} record;

static int f(void *arg) {
  mpk_conn_t *connection = *(mpk_conn_t **)arg;
  record r = {42, 0, "hello"};
  CHECK_OK(mpk_conn_send(connection, &r, sizeof r));
  CHECK_OK(mpk_conn_close(connection));
  return 0;
}

static void test_seed004_child_sends_list(void) {
  mpk_conn_t *parent_conn, *child_conn;
  CHECK_OK(mpk_pipe(&parent_conn, &child_conn, 1));
  mpk_process_t *p;
  run_process(&p, f, &child_conn, sizeof child_conn);
  record r;
  size_t len;
  CHECK_OK(mpk_conn_recv(parent_conn, &r, sizeof r, &len, CHECK_HANG_S));
  CHECK_EQ(len, sizeof r);
  char text[64];
  snprintf(text, sizeof text, "[%d, %s, '%s']", (int)r.number,
           r.has_second ? "?" : "None", r.text);
  printf("%s\n", text);
  CHECK_STR(text, "[42, None, 'hello']");
  join_ok(p);
  mpk_conn_free(parent_conn);
  mpk_conn_free(child_conn);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_seed003_pipe_chain);
  CHECK_RUN(test_seed002_sender_receiver);
  CHECK_RUN(test_seed004_child_sends_list);
  return check_done();
}
