// bench_queue.cc - mpk Queue against a plain pipe(2), in the same run.
//
//   queue_spsc_8B/mpk       one producer process -> one consumer process,
//                           8-byte messages (items/s)
//   queue_spsc_8B/pipe      the same messages, one 8-byte write / read each
//   queue_spsc_8B/mpk_spsc  the same through a queue made with MPK_QUEUE_SPSC
//                           (lock-free mode); also for 4 KiB and 1 MiB
//   queue_spsc_4KiB/mpk     4 KiB messages (bytes/s), and /pipe
//   queue_spsc_1MiB/mpk     1 MiB messages (bytes/s), and /pipe
//   queue_mpmc_2x2_8B/mpk   two producer processes -> two consumer
//                           processes, 8-byte messages (items/s), and /pipe
//
// The benchmark's own process is the (first) producer and runs the timed
// loop; partner processes are forked before it and reaped after it. Every
// message carries (producer, sequence number); consumers check that each
// producer's numbers arrive in order with none missing or repeated and
// report counts through the shared heap, and the run fails (SkipWithError)
// on any mismatch. The messages still in flight when the timed loop ends
// are drained untimed, for the queue and the pipe alike.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "bench_peer.h"
#include "mpk/error.h"
#include "mpk/queue.h"
#include "mpk/shm.h"

namespace {

constexpr size_t kKiB = size_t{1} << 10;
constexpr size_t kMiB = size_t{1} << 20;

using mpk_bench::fork_partner;
using mpk_bench::read_full;
using mpk_bench::reap_ok;
using mpk_bench::write_full;

// A message's first 8 bytes: producer id in the top 8 bits, sequence below.
inline uint64_t tag(unsigned producer, uint64_t seq) {
  return (uint64_t{producer} << 56) | seq;
}

constexpr unsigned kMaxProducers = 4;

// Messages longer than the tag also repeat its low byte in their last byte,
// so a torn copy of a large message is caught.
inline bool tail_ok(const unsigned char *b, size_t msg, uint64_t v) {
  return msg <= 8 || b[msg - 1] == static_cast<unsigned char>(v);
}

// What the consumers saw, in the shared heap.
struct Tally {
  std::atomic<uint64_t> received[kMaxProducers];
  std::atomic<uint32_t> bad; // out-of-order, corrupt or failed calls
  std::atomic<uint32_t> go;  // the timed loop has started (helper producer)
  std::atomic<uint32_t> stop;
};

Tally *new_tally() {
  void *p = mpk_shm_calloc(1, sizeof(Tally));
  return p ? new (p) Tally() : nullptr;
}

// Per-producer order check for one consumer.
struct OrderCheck {
  uint64_t next[kMaxProducers] = {};
  bool see(uint64_t t) {
    unsigned p = static_cast<unsigned>(t >> 56);
    uint64_t s = t & ((uint64_t{1} << 56) - 1);
    if (p >= kMaxProducers || s < next[p])
      return false;  // repeated or reordered
    next[p] = s + 1; // several consumers: gaps are the others' messages
    return true;
  }
};

// ---- one harness, two links ----------------------------------------------
//
// A link is what the messages travel through, with
//   bool open()                 make it (before any fork)
//   void as_consumer(), as_producer(), as_parent()
//                               in each process right after the forks: drop
//                               the ends that process does not use
//   bool put(p, n)              send one message
//   long get(p, n)              receive one: its length, 0 at the end of the
//                               stream, -1 on a failed call
//   void end_puts()             the producers have stopped (before the helper
//                               producer is reaped)
//   bool stop_consumers(k)      after it: make k consumers see the end
//   void close()                free it (after every partner is reaped)
// and setup_error, lost: the SkipWithError messages.

template <class Link> int consumer(Link &l, size_t msg, Tally *t) {
  l.as_consumer();
  std::vector<unsigned char> buf(msg);
  OrderCheck oc;
  uint64_t got[kMaxProducers] = {};
  for (;;) {
    long len = l.get(buf.data(), msg);
    if (len < 0) {
      t->bad++;
      return 1;
    }
    if (len == 0)
      break;
    uint64_t v;
    std::memcpy(&v, buf.data(), sizeof v);
    if (static_cast<size_t>(len) != msg || !oc.see(v) ||
        !tail_ok(buf.data(), msg, v))
      t->bad++;
    else
      got[v >> 56]++;
  }
  for (unsigned p = 0; p < kMaxProducers; p++)
    t->received[p] += got[p];
  return 0;
}

// The helper producer of the MPMC run: puts from `go` until `stop`.
template <class Link>
int producer(Link &l, unsigned id, Tally *t, uint64_t *sent) {
  l.as_producer();
  uint64_t v = 0;
  while (!t->go.load(std::memory_order_acquire))
    __builtin_ia32_pause();
  while (!t->stop.load(std::memory_order_relaxed)) {
    uint64_t m = tag(id, v);
    if (!l.put(&m, sizeof m)) {
      t->bad++;
      return 1;
    }
    v++;
  }
  *sent = v;
  return 0;
}

template <class Link>
void run(benchmark::State &state, Link &l, size_t msg, unsigned producers,
         unsigned consumers) {
  Tally *t = new_tally();
  auto *helper_sent = static_cast<uint64_t *>(mpk_shm_calloc(1, 8));
  if (t == nullptr || helper_sent == nullptr || !l.open()) {
    state.SkipWithError(l.setup_error);
    return;
  }
  std::vector<pid_t> kids;
  for (unsigned c = 0; c < consumers; c++)
    kids.push_back(fork_partner([&] { return consumer(l, msg, t); }));
  if (producers == 2)
    kids.push_back(
        fork_partner([&] { return producer(l, 1, t, helper_sent); }));
  l.as_parent();
  std::vector<unsigned char> buf(msg, 0);
  uint64_t seq = 0;
  bool ok = true;
  t->go.store(1, std::memory_order_release);
  for (auto _ : state) {
    uint64_t m = tag(0, seq);
    std::memcpy(buf.data(), &m, sizeof m);
    if (msg > 8)
      buf[msg - 1] = static_cast<unsigned char>(m);
    if (!l.put(buf.data(), msg)) {
      ok = false;
      break;
    }
    seq++;
  }
  t->stop.store(1, std::memory_order_relaxed);
  l.end_puts();
  if (producers == 2)
    ok &= reap_ok(kids.back());
  ok &= l.stop_consumers(consumers);
  for (unsigned c = 0; c < consumers; c++)
    ok &= reap_ok(kids[c]);
  uint64_t total = seq + *helper_sent;
  if (!ok || t->bad != 0 || t->received[0] != seq ||
      t->received[1] != *helper_sent)
    state.SkipWithError(l.lost);
  if (producers == 2) // how evenly the two producers shared the run
    state.counters["producer2_share"] =
        total ? static_cast<double>(*helper_sent) / static_cast<double>(total)
              : 0.0;
  if (msg == 8)
    state.SetItemsProcessed(static_cast<int64_t>(total));
  else
    state.SetBytesProcessed(static_cast<int64_t>(total * msg));
  l.close();
  mpk_shm_free(helper_sent);
  mpk_shm_free(t);
}

// ---- mpk Queue --------------------------------------------------------

struct QueueLink {
  size_t capacity;
  int flags;
  mpk_queue_t *q = nullptr;
  const char *setup_error = "out of shared memory";
  const char *lost = "queue lost, repeated or reordered messages";

  bool open() {
    return mpk_queue_new(&q, capacity, flags) == MPK_OK;
  }
  void as_consumer() {}
  void as_producer() {}
  void as_parent() {}
  bool put(const void *p, size_t n) {
    return mpk_queue_put(q, p, n, MPK_FOREVER) == MPK_OK;
  }
  long get(void *p, size_t n) {
    size_t len = 0;
    if (mpk_queue_get(q, p, n, &len, MPK_FOREVER) != MPK_OK)
      return -1;
    return static_cast<long>(len); // 0: the stop message
  }
  void end_puts() {}
  bool stop_consumers(unsigned consumers) {
    bool ok = true;
    for (unsigned c = 0; c < consumers; c++)
      ok &= put(nullptr, 0);
    return ok;
  }
  void close() {
    mpk_queue_free(q);
  }
};

void BM_queue(benchmark::State &state, size_t msg, unsigned producers,
              unsigned consumers, size_t capacity, int flags = 0) {
  QueueLink l{capacity, flags};
  run(state, l, msg, producers, consumers);
}

// ---- pipe(2) baseline ----------------------------------------------------

// 8-byte writes are atomic (< PIPE_BUF), so with two readers each 8-byte
// read returns one whole message; larger messages use one reader. The
// consumers see the end as EOF once every writer has closed.
struct PipeLink {
  int fds[2] = {-1, -1};
  const char *setup_error = "setup failed";
  const char *lost = "pipe lost, repeated or reordered messages";

  bool open() {
    return pipe(fds) == 0;
  }
  void as_consumer() {
    ::close(fds[1]);
  }
  void as_producer() {
    ::close(fds[0]);
  }
  void as_parent() {
    ::close(fds[0]);
  }
  bool put(const void *p, size_t n) {
    return write_full(fds[1], p, n);
  }
  long get(void *p, size_t n) {
    return read_full(fds[0], p, n) ? static_cast<long>(n) : 0;
  }
  void end_puts() {
    ::close(fds[1]);
  }
  bool stop_consumers(unsigned) {
    return true;
  }
  void close() {}
};

void BM_pipe(benchmark::State &state, size_t msg, unsigned producers,
             unsigned consumers) {
  PipeLink l;
  run(state, l, msg, producers, consumers);
}

// Ring sizes: room for many small messages; 1 MiB messages get 3 slots.
BENCHMARK_CAPTURE(BM_queue, queue_spsc_8B / mpk, 8, 1, 1, 256 * kKiB)
    ->Name("queue_spsc_8B/mpk")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_queue, queue_spsc_8B / mpk_spsc, 8, 1, 1, 256 * kKiB,
                  MPK_QUEUE_SPSC)
    ->Name("queue_spsc_8B/mpk_spsc")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_pipe, queue_spsc_8B / pipe, 8, 1, 1)
    ->Name("queue_spsc_8B/pipe")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_queue, queue_spsc_4KiB / mpk, 4 * kKiB, 1, 1, kMiB)
    ->Name("queue_spsc_4KiB/mpk")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_queue, queue_spsc_4KiB / mpk_spsc, 4 * kKiB, 1, 1, kMiB,
                  MPK_QUEUE_SPSC)
    ->Name("queue_spsc_4KiB/mpk_spsc")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_pipe, queue_spsc_4KiB / pipe, 4 * kKiB, 1, 1)
    ->Name("queue_spsc_4KiB/pipe")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_queue, queue_spsc_1MiB / mpk, kMiB, 1, 1, 4 * kMiB)
    ->Name("queue_spsc_1MiB/mpk")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_queue, queue_spsc_1MiB / mpk_spsc, kMiB, 1, 1, 4 * kMiB,
                  MPK_QUEUE_SPSC)
    ->Name("queue_spsc_1MiB/mpk_spsc")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_pipe, queue_spsc_1MiB / pipe, kMiB, 1, 1)
    ->Name("queue_spsc_1MiB/pipe")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_queue, queue_mpmc_2x2_8B / mpk, 8, 2, 2, 256 * kKiB)
    ->Name("queue_mpmc_2x2_8B/mpk")
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_pipe, queue_mpmc_2x2_8B / pipe, 8, 2, 2)
    ->Name("queue_mpmc_2x2_8B/pipe")
    ->UseRealTime();

} // namespace
