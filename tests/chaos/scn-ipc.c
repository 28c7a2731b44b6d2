/* scn-ipc.c - Queue and Pipe ends killed mid-operation, with
 * sequence-numbered messages.
 *
 * A victim (a producer / sender or a consumer / receiver) is killed
 *   blocked  asleep inside a put on a full ring / a get on an empty one (a
 *            send into a full socket / a receive on an empty one): the
 *            other side is held at a gate until the victim is seen asleep;
 *   stepped  it stops itself before a random operation and the leader
 *            single-steps it 0-8000 instructions into the call;
 *   told     it tells the leader before a random operation and goes on;
 *            the leader kills it 0-2 ms later (anywhere).
 * Every message carries (producer, seq, length, check) and a payload
 * pattern; receivers check them and the order, and log what they got.
 *
 * Queue ledger (after the survivors finished, the queue was closed and
 * drained): nothing torn or invented; each message delivered at most once;
 * every message whose put returned MPK_OK delivered, except one a killed
 * consumer had taken (found whole in its receive buffer); a message whose
 * producer died in put delivered whole or not at all. Every put / get
 * returns within CH_HANG (a wedge otherwise) and within 1 s (else a
 * stall).
 *
 * Pipe: the receiver gets messages 0..r-1 whole and in order, then
 * MPK_EEOF (the stream ended between frames) or MPK_EIO (in a frame), both
 * sticky; r covers every send that returned MPK_OK. A sender whose
 * receiver died gets MPK_ECLOSED (never SIGPIPE), within 1 s if it was
 * blocked.
 */
#include <sys/syscall.h>

#include "chaos.h"
#include "mpk/pipe.h"
#include "mpk/queue.h"
#include "process-util.h"
#include "test-sync-util.h"

typedef enum { X_BLOCKED, X_STEPPED, X_TOLD } xkill;
static const char *const xkill_name[] = {"blocked", "stepped", "told"};

enum { MAXM = 400, MAXPEERS = 2, MAXSLOTS = 4, MSG_MAX = 640 };

/* Sleeping inside one of the blocking calls of a pipe end. */
static int blocked_in_io(pid_t pid) {
  static const long nrs[] = {SYS_poll,   SYS_ppoll,   SYS_read, SYS_recvfrom,
                             SYS_writev, SYS_sendmsg, SYS_futex};
  char st = 0;
  if (pu_proc_stat(pid, &st, NULL, NULL) != 0 || st != 'S')
    return 0;
  for (size_t i = 0; i < sizeof nrs / sizeof nrs[0]; i++)
    if (in_syscall(pid, pid, nrs[i]))
      return 1;
  return 0;
}

/* Kill the victim p as `how` says (at its operation `at`). */
static void kill_it(pid_t p, xkill how, int tell_fd) {
  if (how == X_BLOCKED) {
    double end = check_now() + CH_HANG;
    while (!blocked_in_io(p)) {
      CHECK_MSG(check_now() < end, "the victim never blocked");
      check_sleep(0.0002);
    }
    kill_child(p);
  } else if (how == X_STEPPED) {
    CHECK_MSG(ch_await_stop(p, CH_HANG), "the victim never stopped");
    unsigned steps = (unsigned)ch_pick(8001);
    ch_note("steps=%u", steps);
    ch_step_kill(p, steps);
  } else {
    long told;
    CHECK_MSG(ch_hear(tell_fd, &told, CH_HANG), "the victim never told");
    ch_jitter(0.002);
    ch_kill_reap(p);
  }
}

/* The victim's marker before its operation `at`. */
static void mark(xkill how, int tell_fd) {
  if (how == X_STEPPED)
    ch_stop_here();
  else if (how == X_TOLD)
    ch_tell(tell_fd, getpid());
}

static pid_t start(int (*fn)(void *), void *arg, const char *role, int traced) {
  if (!traced)
    return ch_fork(fn, arg, role);
  pid_t p = ch_fork_traced(fn, arg, role);
  ch_trace_cont(p);
  return p;
}

/* ---- Queue ----------------------------------------------------------------
 */

typedef struct {
  mpk_queue_t *q;
  int flags, producers, consumers, msgs;
  size_t max_len;
  xkill how;
  int victim_is_producer, victim, at; /* victim: producer or consumer no. */
  int tell_fd;
  _Atomic int gate_producers, gate_consumers;
  _Atomic uint8_t state[MAXPEERS][MAXM]; /* 1 put started, 2 put returned */
  _Atomic uint8_t recv[MAXPEERS][MAXM];
  unsigned char slot[MAXSLOTS][MSG_MAX]; /* consumers get straight here */
} q_world;

typedef struct {
  q_world *w;
  int me, slot;
} q_job;

static void timed_op(int rc, double t0, const char *call, int gated) {
  CHECK_MSG(rc == MPK_OK, "%s returned %s", call, mpk_err_name(rc));
  double took = check_now() - t0;
  if (took > 1.0 && !gated && !ch_paused_since(t0))
    ch_stall("%s took %.2f s (bound 1 s)", call, took);
}

static int q_producer(void *arg) {
  q_job *j = arg;
  q_world *w = j->w;
  int victim = w->victim_is_producer && j->me == w->victim;
  flag_wait(&w->gate_producers, 1);
  unsigned char buf[MSG_MAX];
  for (int seq = 0; seq < w->msgs; seq++) {
    if (victim && seq == w->at)
      mark(w->how, w->tell_fd);
    size_t len = sizeof(ch_msg) + (size_t)(seq * 37 + j->me * 11) %
                                      (w->max_len - sizeof(ch_msg) + 1);
    ch_msg_make(buf, (uint32_t)j->me, (uint32_t)seq, len);
    atomic_store(&w->state[j->me][seq], 1);
    double t0 = check_now();
    int rc;
    CH_DO(rc, CH_LIMIT(CH_HANG), mpk_queue_put(w->q, buf, len, CH_HANG));
    timed_op(rc, t0, "mpk_queue_put", !atomic_load(&w->gate_consumers));
    atomic_store(&w->state[j->me][seq], 2);
  }
  return 0;
}

static int q_consumer(void *arg) {
  q_job *j = arg;
  q_world *w = j->w;
  int victim = !w->victim_is_producer && j->me == w->victim && j->slot == j->me;
  /* a stepped / told victim consumes alone until it is killed, so that it
     surely reaches its marker */
  if (!victim || w->how == X_BLOCKED)
    flag_wait(&w->gate_consumers, 1);
  int last[MAXPEERS] = {-1, -1};
  for (int k = 0;; k++) {
    if (victim && k == w->at)
      mark(w->how, w->tell_fd);
    size_t len = 0;
    double t0 = check_now();
    int rc;
    CH_DO(rc, CH_LIMIT(CH_HANG),
          mpk_queue_get(w->q, w->slot[j->slot], MSG_MAX, &len, CH_HANG));
    if (rc == MPK_ECLOSED)
      return 0;
    timed_op(rc, t0, "mpk_queue_get", !atomic_load(&w->gate_producers));
    ch_msg h = ch_msg_check(w->slot[j->slot], len);
    CHECK_MSG(h.who < (uint32_t)w->producers && h.seq < (uint32_t)w->msgs &&
                  atomic_load(&w->state[h.who][h.seq]) >= 1,
              "message %u/%u was never put", h.who, h.seq);
    CHECK_MSG((int)h.seq > last[h.who], "message %u/%u after %u/%d", h.who,
              h.seq, h.who, last[h.who]);
    last[h.who] = (int)h.seq;
    atomic_fetch_add(&w->recv[h.who][h.seq], 1);
    if (w->flags & MPK_QUEUE_JOINABLE)
      CHECK_OK(mpk_queue_task_done(w->q));
  }
}

static void q_draw(q_world *w) {
  w->flags = CH_ONE_OF(0, MPK_QUEUE_JOINABLE, MPK_QUEUE_SPSC,
                       MPK_QUEUE_SPSC | MPK_QUEUE_JOINABLE);
  int spsc = (w->flags & MPK_QUEUE_SPSC) != 0;
  w->producers = spsc ? 1 : (int)ch_range(1, MAXPEERS);
  w->consumers = spsc ? 1 : (int)ch_range(1, MAXPEERS);
  w->msgs = (int)ch_range(100, MAXM);
  w->max_len = (size_t)ch_range(24, MSG_MAX);
  size_t cap = (size_t)ch_range(256, 2048);
  CHECK_OK(mpk_queue_new(&w->q, cap, w->flags));
  if (w->max_len > mpk_queue_max_msg(w->q))
    w->max_len = mpk_queue_max_msg(w->q);
  w->how = (xkill)ch_pick(3);
  w->victim_is_producer = ch_chance(0.5);
  w->victim = (int)ch_pick(
      (unsigned long)(w->victim_is_producer ? w->producers : w->consumers));
  w->at = w->how == X_BLOCKED ? 0 : (int)ch_pick((unsigned long)w->msgs / 2);
  ch_note("flags=%d %dP/%dC %d msgs <= %zu B in %zu B; %s %d killed %s at %d",
          w->flags, w->producers, w->consumers, w->msgs, w->max_len, cap,
          w->victim_is_producer ? "producer" : "consumer", w->victim,
          xkill_name[w->how], w->at);
}

/* A message whose put returned MPK_OK and that nobody logged must be the
   one a killed consumer had taken into its buffer. */
static int in_dead_slot(q_world *w, int dead_slot, uint32_t who, uint32_t seq) {
  if (dead_slot < 0)
    return 0;
  ch_msg h;
  memcpy(&h, w->slot[dead_slot], sizeof h);
  return h.who == who && h.seq == seq;
}

static void q_ledger(q_world *w, int dead_slot) {
  int lost = 0;
  for (int p = 0; p < w->producers; p++)
    for (int seq = 0; seq < w->msgs; seq++) {
      int seen = atomic_load(&w->recv[p][seq]);
      int st = atomic_load(&w->state[p][seq]);
      CHECK_MSG(seen <= 1, "message %d/%d delivered %d times", p, seq, seen);
      if (st == 0)
        CHECK_MSG(seen == 0, "message %d/%d delivered, never put", p, seq);
      if (st == 2 && seen == 0) {
        CHECK_MSG(in_dead_slot(w, dead_slot, (uint32_t)p, (uint32_t)seq),
                  "message %d/%d (put returned MPK_OK) was lost", p, seq);
        lost++;
      }
    }
  CHECK_MSG(lost <= 1, "%d messages taken by one killed consumer", lost);
}

void ch_queue_kill(void) {
  q_world *w = shared(sizeof *w);
  q_draw(w);
  int fds[2];
  ch_pipe(fds);
  w->tell_fd = fds[1];
  int blocked = w->how == X_BLOCKED;
  atomic_store(&w->gate_producers, !blocked || w->victim_is_producer);
  atomic_store(&w->gate_consumers,
               blocked ? !w->victim_is_producer : w->victim_is_producer);
  q_job pj[MAXPEERS], cj[MAXSLOTS];
  pid_t prod[MAXPEERS], cons[MAXSLOTS];
  int traced = w->how == X_STEPPED;
  for (int i = 0; i < w->producers; i++) {
    pj[i] = (q_job){w, i, 0};
    prod[i] = start(q_producer, &pj[i], "producer",
                    traced && w->victim_is_producer && i == w->victim);
  }
  for (int i = 0; i < w->consumers; i++) {
    cj[i] = (q_job){w, i, i};
    cons[i] = start(q_consumer, &cj[i], "consumer",
                    traced && !w->victim_is_producer && i == w->victim);
  }
  pid_t v = w->victim_is_producer ? prod[w->victim] : cons[w->victim];
  kill_it(v, w->how, fds[0]);
  int dead_slot = -1;
  if (!w->victim_is_producer) { /* a replacement takes over its place */
    dead_slot = w->victim;
    cj[w->victim] = (q_job){w, w->victim, MAXSLOTS - 1};
    cons[w->victim] = ch_fork(q_consumer, &cj[w->victim], "consumer (new)");
  }
  atomic_store(&w->gate_producers, 1);
  atomic_store(&w->gate_consumers, 1);
  for (int i = 0; i < w->producers; i++)
    if (!w->victim_is_producer || i != w->victim)
      check_wait_ok(prod[i], 60);
  CHECK_OK(mpk_queue_close(w->q));
  for (int i = 0; i < w->consumers; i++)
    check_wait_ok(cons[i], 60);
  q_ledger(w, dead_slot);
  long unfinished = mpk_queue_unfinished(w->q);
  CHECK_MSG(unfinished >= 0 && unfinished <= (dead_slot >= 0),
            "%ld unfinished tasks after the drain", unfinished);
  unsigned char b[MSG_MAX];
  size_t len;
  CHECK_RC(mpk_queue_get(w->q, b, sizeof b, &len, 0.1), MPK_ECLOSED);
  CHECK_RC(mpk_queue_put(w->q, b, 8, 0.1), MPK_ECLOSED);
  CHECK_EQ(mpk_queue_qsize(w->q), 0);
  mpk_queue_free(w->q);
  close(fds[0]);
  close(fds[1]);
  mpk_shm_free(w);
}

/* ---- Pipe -----------------------------------------------------------------
 */

enum { PIPE_MAX = 200000 };

typedef struct {
  mpk_conn_t *rx, *tx;
  int msgs;
  size_t max_len;
  xkill how;
  int victim_is_sender, at, tell_fd;
  _Atomic int gate_sender, gate_receiver;
  _Atomic uint8_t state[MAXM]; /* 1 send started, 2 send returned OK */
  _Atomic int received, final_rc, sender_rc, sent;
  double sender_closed_at;
} p_world;

static size_t p_len(const p_world *w, int seq) {
  if (seq == 0 && w->how == X_BLOCKED && w->victim_is_sender)
    return w->max_len; /* fills any socket or pipe buffer: the send blocks */
  size_t span = w->max_len - sizeof(ch_msg) + 1;
  size_t len = sizeof(ch_msg) + (size_t)(seq * 7919) % span;
  return seq % 5 == 0 ? len : len % 512 + sizeof(ch_msg);
}

static int p_sender(void *arg) {
  p_world *w = arg;
  mpk_conn_close(w->rx);
  flag_wait(&w->gate_sender, 1);
  unsigned char *buf = malloc(w->max_len);
  CHECK(buf != NULL);
  int rc = MPK_OK;
  for (int seq = 0; seq < w->msgs && rc == MPK_OK; seq++) {
    if (w->victim_is_sender && seq == w->at)
      mark(w->how, w->tell_fd);
    size_t len = p_len(w, seq);
    ch_msg_make(buf, 0, (uint32_t)seq, len);
    atomic_store(&w->state[seq], 1);
    CH_DO(rc, CH_HANG, mpk_conn_send(w->tx, buf, len));
    if (rc == MPK_OK) {
      atomic_store(&w->state[seq], 2);
      atomic_fetch_add(&w->sent, 1);
    }
  }
  w->sender_closed_at = check_now();
  atomic_store(&w->sender_rc, rc);
  free(buf);
  return rc == MPK_OK || (rc == MPK_ECLOSED && !w->victim_is_sender) ? 0 : 1;
}

static int p_receiver(void *arg) {
  p_world *w = arg;
  mpk_conn_close(w->tx);
  flag_wait(&w->gate_receiver, 1);
  unsigned char *buf = malloc(w->max_len);
  CHECK(buf != NULL);
  int rc;
  for (int k = 0;; k++) {
    if (!w->victim_is_sender && k == w->at)
      mark(w->how, w->tell_fd);
    size_t len = 0;
    CH_DO(rc, CH_LIMIT(CH_HANG),
          mpk_conn_recv(w->rx, buf, w->max_len, &len, CH_HANG));
    if (rc != MPK_OK)
      break;
    ch_msg h = ch_msg_check(buf, len);
    CHECK_MSG(h.seq == (uint32_t)k,
              "message %u where %d was due (lost, "
              "duplicated or reordered)",
              h.seq, k);
    atomic_fetch_add(&w->received, 1);
  }
  size_t len;
  int again = mpk_conn_recv(w->rx, buf, w->max_len, &len, 0.1);
  CHECK_MSG(again == rc, "%s, then %s: not sticky", mpk_err_name(rc),
            mpk_err_name(again));
  atomic_store(&w->final_rc, rc);
  free(buf);
  return 0;
}

static void p_check_sender_died(p_world *w) {
  int r = atomic_load(&w->received), started = 0, ok = 0;
  for (int i = 0; i < w->msgs; i++) {
    started += atomic_load(&w->state[i]) >= 1;
    ok += atomic_load(&w->state[i]) == 2;
  }
  int rc = atomic_load(&w->final_rc);
  ch_note("received %d of %d started, %d sent OK, then %s", r, started, ok,
          mpk_err_name(rc));
  CHECK_MSG(r >= ok, "%d sends returned MPK_OK, %d received", ok, r);
  CHECK_MSG(r <= started, "%d received, %d started", r, started);
  CHECK_MSG(rc == MPK_EEOF || (rc == MPK_EIO && r == started - 1),
            "the stream of a sender killed after %d / %d messages ended "
            "with %s",
            r, started, mpk_err_name(rc));
}

void ch_pipe_kill(void) {
  p_world *w = shared(sizeof *w);
  int duplex = ch_chance(0.5);
  CHECK_OK(mpk_pipe(&w->rx, &w->tx, duplex));
  w->msgs = (int)ch_range(20, 120);
  w->max_len = (size_t)ch_range(64, PIPE_MAX);
  w->how = (xkill)ch_pick(3);
  w->victim_is_sender = ch_chance(0.5);
  w->at = w->how == X_BLOCKED ? 0 : (int)ch_pick((unsigned long)w->msgs / 2);
  if (w->how == X_BLOCKED && w->victim_is_sender)
    w->max_len = PIPE_MAX;
  ch_note("%s, %d msgs <= %zu B; %s killed %s at %d",
          duplex ? "duplex" : "one-way", w->msgs, w->max_len,
          w->victim_is_sender ? "sender" : "receiver", xkill_name[w->how],
          w->at);
  int fds[2];
  ch_pipe(fds);
  w->tell_fd = fds[1];
  int blocked = w->how == X_BLOCKED;
  atomic_store(&w->gate_sender, !blocked || w->victim_is_sender);
  atomic_store(&w->gate_receiver, !blocked || !w->victim_is_sender);
  int traced = w->how == X_STEPPED;
  pid_t s = start(p_sender, w, "sender", traced && w->victim_is_sender);
  pid_t r = start(p_receiver, w, "receiver", traced && !w->victim_is_sender);
  mpk_conn_close(w->rx); /* only the children hold the ends */
  mpk_conn_close(w->tx);
  kill_it(w->victim_is_sender ? s : r, w->how, fds[0]);
  double died = check_now();
  atomic_store(&w->gate_sender, 1);
  atomic_store(&w->gate_receiver, 1);
  if (w->victim_is_sender) {
    check_wait_ok(r, 60);
    p_check_sender_died(w);
  } else {
    check_wait_ok(s, 60);
    int rc = atomic_load(&w->sender_rc);
    ch_note("sender: %d sent, then %s", atomic_load(&w->sent),
            mpk_err_name(rc));
    CHECK_MSG(rc == MPK_OK || rc == MPK_ECLOSED, "the sender got %s",
              mpk_err_name(rc));
    CHECK(atomic_load(&w->received) <= atomic_load(&w->sent));
    if (rc == MPK_ECLOSED && blocked && w->sender_closed_at - died > 1.0)
      ch_stall("a blocked send saw its receiver's death after %.2f s",
               w->sender_closed_at - died);
  }
  mpk_conn_free(w->rx);
  mpk_conn_free(w->tx);
  close(fds[0]);
  close(fds[1]);
  mpk_shm_free(w);
}
