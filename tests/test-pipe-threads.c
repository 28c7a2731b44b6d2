/* pipe.threads: several threads of one process send on one handle while
   several others receive from the other end; every message arrives whole and
   exactly once, and the receivers all see MPK_EEOF at the end. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "mpk/pipe.h"

enum { SENDERS = 4, RECEIVERS = 3, PER_SENDER = 400, MAX_LEN = 20000 };

typedef struct {
  uint32_t sender, seq, len, pad;
} msg_head;

static mpk_conn_t *tx, *rx;
static _Atomic int seen[SENDERS][PER_SENDER];
static _Atomic long received;

static size_t msg_len(unsigned s, unsigned q) {
  return sizeof(msg_head) + (s * 7919u + q * 104729u) % MAX_LEN;
}

static void *sender(void *arg) {
  unsigned s = (unsigned)(uintptr_t)arg;
  unsigned char *buf = malloc(sizeof(msg_head) + MAX_LEN);
  CHECK(buf != NULL);
  for (unsigned q = 0; q < PER_SENDER; q++) {
    size_t n = msg_len(s, q);
    msg_head h = {s, q, (uint32_t)n, 0};
    memcpy(buf, &h, sizeof h);
    for (size_t i = sizeof h; i < n; i++)
      buf[i] = (unsigned char)(s + q + i);
    CHECK_OK(mpk_conn_send(tx, buf, n));
  }
  free(buf);
  return NULL;
}

static void *receiver(void *arg) {
  (void)arg;
  for (;;) {
    void *p = NULL;
    size_t n = 0;
    /* alternate the two receive calls and a timed / untimed wait */
    int r = (atomic_load(&received) & 1)
                ? mpk_conn_recv_alloc(rx, &p, &n, CHECK_HANG_S)
                : mpk_conn_recv_alloc(rx, &p, &n, MPK_FOREVER);
    if (r == MPK_EEOF)
      return NULL;
    CHECK_OK(r);
    msg_head h;
    CHECK(n >= sizeof h);
    memcpy(&h, p, sizeof h);
    CHECK(h.sender < SENDERS && h.seq < PER_SENDER);
    CHECK_EQ(n, msg_len(h.sender, h.seq));
    CHECK_EQ(h.len, n);
    const unsigned char *b = p;
    for (size_t i = sizeof h; i < n; i++)
      CHECK_EQ(b[i], (unsigned char)(h.sender + h.seq + i));
    CHECK_EQ(atomic_fetch_add(&seen[h.sender][h.seq], 1), 0);
    atomic_fetch_add(&received, 1);
    free(p);
  }
}

static void run(int duplex) {
  memset(seen, 0, sizeof seen);
  received = 0;
  mpk_conn_t *a, *b;
  CHECK_OK(mpk_pipe(&a, &b, duplex));
  rx = a;
  tx = b;
  pthread_t s[SENDERS], r[RECEIVERS];
  for (int i = 0; i < RECEIVERS; i++)
    CHECK_EQ(pthread_create(&r[i], NULL, receiver, NULL), 0);
  for (int i = 0; i < SENDERS; i++)
    CHECK_EQ(pthread_create(&s[i], NULL, sender, (void *)(uintptr_t)i), 0);
  for (int i = 0; i < SENDERS; i++)
    pthread_join(s[i], NULL);
  CHECK_OK(mpk_conn_close(tx)); /* all senders done: receivers get EOF */
  for (int i = 0; i < RECEIVERS; i++)
    pthread_join(r[i], NULL);
  CHECK_EQ(received, SENDERS * PER_SENDER);
  for (int i = 0; i < SENDERS; i++)
    for (int q = 0; q < PER_SENDER; q++)
      CHECK_EQ(seen[i][q], 1);
  mpk_conn_free(a);
  mpk_conn_free(b);
}

static void test_threads_duplex(void) {
  run(1);
}
static void test_threads_oneway(void) {
  run(0);
}

/* poll from one thread while another receives: never an error */
static void *poller(void *arg) {
  (void)arg;
  for (int i = 0; i < 500; i++) {
    int r = mpk_conn_poll(rx, 0.001);
    CHECK(r == 0 || r == 1);
  }
  return NULL;
}

static void test_poll_while_receiving(void) {
  mpk_conn_t *a, *b;
  CHECK_OK(mpk_pipe(&a, &b, 1));
  rx = a;
  tx = b;
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, poller, NULL), 0);
  for (int i = 0; i < 2000; i++) {
    CHECK_OK(mpk_conn_send(tx, &i, sizeof i));
    int v = -1;
    size_t n;
    CHECK_OK(mpk_conn_recv(rx, &v, sizeof v, &n, CHECK_HANG_S));
    CHECK_EQ(v, i);
  }
  pthread_join(t, NULL);
  mpk_conn_free(a);
  mpk_conn_free(b);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_threads_duplex);
  CHECK_RUN(test_threads_oneway);
  CHECK_RUN(test_poll_while_receiving);
  return check_done();
}
