/* pipe.truncated (fault): a sender SIGKILLed in the middle of a message, a
   corrupt header and a cut-off header must give the receiver MPK_EIO -
   never a hang and never a garbage or partial message - and the error
   stays (the stream cannot be re-synchronised). */
#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "mpk/pipe.h"

enum { BIG = 32 << 20 }; /* far more than any kernel pipe/socket buffer */

typedef struct {
  mpk_conn_t *rx, *tx;
} ends;

static int child_send_big(void *arg) {
  ends *e = arg;
  mpk_conn_close(e->rx);
  unsigned char *p = calloc(1, BIG);
  CHECK(p != NULL);
  mpk_conn_send(e->tx, p, BIG); /* killed in here */
  return 0;
}

/* Make a pipe and a child stuck in the middle of sending a BIG message:
   after the first bytes arrive the frame can only be completed by us
   reading, which we do not do yet. The parent's copy of tx is closed. */
static pid_t start_stuck_sender(int duplex, ends *e) {
  mpk_conn_t *a, *b;
  CHECK_OK(mpk_pipe(&a, &b, duplex));
  e->rx = a;
  e->tx = b;
  pid_t pid = check_fork(child_send_big, e);
  CHECK_OK(mpk_conn_close(e->tx));
  CHECK_EQ(mpk_conn_poll(e->rx, CHECK_HANG_S), 1);
  return pid;
}

static void kill_and_reap(pid_t pid) {
  CHECK_EQ(kill(pid, SIGKILL), 0);
  int st = check_wait(pid, 10);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void expect_broken(mpk_conn_t *rx) {
  unsigned char small[64];
  size_t len = 12345;
  void *p = NULL;
  CHECK_RC(mpk_conn_recv(rx, small, sizeof small, &len, CHECK_HANG_S), MPK_EIO);
  CHECK_RC(mpk_conn_recv(rx, small, sizeof small, &len, 0), MPK_EIO);
  CHECK_RC(mpk_conn_recv_alloc(rx, &p, &len, MPK_FOREVER), MPK_EIO);
  CHECK(p == NULL);
  CHECK_EQ(len, 12345);
  CHECK_EQ(mpk_conn_poll(rx, 0), 1); /* a receive would not block */
}

/* Killed before the receiver started: the frame is cut short. */
static void killed_then_received(int duplex, int alloc) {
  ends e;
  pid_t pid = start_stuck_sender(duplex, &e);
  kill_and_reap(pid);
  size_t len = 0;
  if (alloc) {
    void *p = NULL;
    CHECK_RC(mpk_conn_recv_alloc(e.rx, &p, &len, MPK_FOREVER), MPK_EIO);
    CHECK(p == NULL);
  } else {
    unsigned char *buf = malloc(BIG);
    CHECK(buf != NULL);
    CHECK_RC(mpk_conn_recv(e.rx, buf, BIG, &len, CHECK_HANG_S), MPK_EIO);
    free(buf);
  }
  expect_broken(e.rx);
  mpk_conn_free(e.rx);
  mpk_conn_free(e.tx);
}

static void test_sender_killed_before_recv(void) {
  for (int duplex = 0; duplex <= 1; duplex++)
    for (int alloc = 0; alloc <= 1; alloc++)
      killed_then_received(duplex, alloc);
}

/* The EMSGSIZE path keeps the header; the rest never comes. */
static void test_sender_killed_after_emsgsize(void) {
  for (int duplex = 0; duplex <= 1; duplex++) {
    ends e;
    pid_t pid = start_stuck_sender(duplex, &e);
    unsigned char small[16];
    size_t len = 0;
    CHECK_RC(mpk_conn_recv(e.rx, small, sizeof small, &len, CHECK_HANG_S),
             MPK_EMSGSIZE);
    CHECK_EQ(len, BIG);
    kill_and_reap(pid);
    /* A too-small buffer does not read the payload, so it cannot see the
       cut: still EMSGSIZE. A receive with room for the message finds it. */
    CHECK_RC(mpk_conn_recv(e.rx, small, sizeof small, &len, CHECK_HANG_S),
             MPK_EMSGSIZE);
    void *p = NULL;
    CHECK_RC(mpk_conn_recv_alloc(e.rx, &p, &len, CHECK_HANG_S), MPK_EIO);
    CHECK(p == NULL);
    expect_broken(e.rx);
    mpk_conn_free(e.rx);
    mpk_conn_free(e.tx);
  }
}

typedef struct {
  pid_t pid;
  double delay;
} killer_arg;

static void *killer(void *arg) {
  killer_arg *k = arg;
  check_sleep(k->delay);
  kill(k->pid, SIGKILL);
  return NULL;
}

/* Killed while the receiver is blocked inside the message (with and without
   a timeout): the receive must end with MPK_EIO. */
static void test_sender_killed_during_blocking_recv(void) {
  for (int duplex = 0; duplex <= 1; duplex++) {
    for (int timed = 0; timed <= 1; timed++) {
      ends e;
      pid_t pid = start_stuck_sender(duplex, &e);
      /* Stopped, the sender cannot complete the frame; it is killed while
         we wait in the receive (or just before it: the same outcome). */
      CHECK_EQ(kill(pid, SIGSTOP), 0);
      killer_arg k = {pid, 0.05};
      pthread_t t;
      CHECK_EQ(pthread_create(&t, NULL, killer, &k), 0);
      unsigned char *buf = malloc(BIG);
      CHECK(buf != NULL);
      size_t len = 0;
      double t0 = check_now();
      CHECK_RC(mpk_conn_recv(e.rx, buf, BIG, &len,
                             timed ? CHECK_HANG_S : MPK_FOREVER),
               MPK_EIO);
      CHECK(check_now() - t0 < CHECK_HANG_S);
      pthread_join(t, NULL);
      int st = check_wait(pid, 10);
      CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
      expect_broken(e.rx);
      free(buf);
      mpk_conn_free(e.rx);
      mpk_conn_free(e.tx);
    }
  }
}

/* Raw bytes through the descriptor: the frame format is 16 bytes {uint32
   magic "MPKF", uint32 check, uint64 length}. */
static void write_raw(mpk_conn_t *tx, const void *p, size_t n) {
  int fd = mpk_conn_fileno(tx);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, p, n), (ssize_t)n);
}

static void test_corrupt_header(void) {
  for (int duplex = 0; duplex <= 1; duplex++) {
    mpk_conn_t *rx, *tx;
    CHECK_OK(mpk_pipe(&rx, &tx, duplex));
    CHECK_OK(mpk_conn_send(tx, "good", 4));
    write_raw(tx, "this is no frame header at all", 30);
    CHECK_OK(mpk_conn_send(tx, "after", 5));
    char buf[64];
    size_t len = 0;
    CHECK_OK(mpk_conn_recv(rx, buf, sizeof buf, &len, 1));
    CHECK_EQ(len, 4);
    CHECK_RC(mpk_conn_recv(rx, buf, sizeof buf, &len, 1), MPK_EIO);
    expect_broken(rx); /* "after" is never delivered out of a broken stream */
    /* the send side is unaffected */
    CHECK_OK(mpk_conn_send(tx, "x", 1));
    mpk_conn_free(rx);
    mpk_conn_free(tx);
  }
}

static void test_right_magic_wrong_check(void) {
  mpk_conn_t *rx, *tx;
  CHECK_OK(mpk_pipe(&rx, &tx, 0));
  unsigned char h[16];
  uint32_t magic = 0x464b504du, check = 0;
  uint64_t len = 5;
  memcpy(h, &magic, 4);
  memcpy(h + 4, &check, 4);
  memcpy(h + 8, &len, 8);
  write_raw(tx, h, sizeof h);
  write_raw(tx, "hello", 5);
  char buf[16];
  size_t got = 0;
  CHECK_RC(mpk_conn_recv(rx, buf, sizeof buf, &got, 1), MPK_EIO);
  expect_broken(rx);
  mpk_conn_free(rx);
  mpk_conn_free(tx);
}

/* Half a header, then the writer goes away. */
static void test_truncated_header(void) {
  for (int duplex = 0; duplex <= 1; duplex++) {
    mpk_conn_t *rx, *tx;
    CHECK_OK(mpk_pipe(&rx, &tx, duplex));
    write_raw(tx, "MPKF1234", 8);
    char buf[16];
    size_t len = 0;
    /* the header is incomplete: a timeout keeps the 8 bytes */
    CHECK_RC(mpk_conn_recv(rx, buf, sizeof buf, &len, 0.05), MPK_ETIMEDOUT);
    CHECK_EQ(mpk_conn_poll(rx, 0), 1);
    CHECK_OK(mpk_conn_close(tx));
    CHECK_RC(mpk_conn_recv(rx, buf, sizeof buf, &len, CHECK_HANG_S), MPK_EIO);
    expect_broken(rx);
    mpk_conn_free(rx);
    mpk_conn_free(tx);
  }
}

int main(void) {
  check_watchdog(90);
  CHECK_RUN(test_sender_killed_before_recv);
  CHECK_RUN(test_sender_killed_after_emsgsize);
  CHECK_RUN(test_sender_killed_during_blocking_recv);
  CHECK_RUN(test_corrupt_header);
  CHECK_RUN(test_right_magic_wrong_check);
  CHECK_RUN(test_truncated_header);
  return check_done();
}
