// bench_pipe.cc - mpk Pipe against a raw socketpair, in the same run.
//
//   pipe_pingpong_1B/mpk         1-byte message round trip between two
//                                processes over a duplex mpk pipe
//   pipe_pingpong_1B/socketpair  the same with write/read on a socketpair
//   pipe_throughput_1MiB/mpk     1 MiB messages to another process
//   pipe_throughput_1MiB/socketpair  the same bytes with raw write/read
//
// Each benchmark run forks one partner process (outside the timed loop),
// which echoes or drains, then reports what it saw so the result is
// verified; the partner is reaped before the run returns.
#include <benchmark/benchmark.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_peer.h"
#include "mpk/error.h"
#include "mpk/pipe.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;

using mpk_bench::fork_partner;
using mpk_bench::read_full;
using mpk_bench::reap_ok;
using mpk_bench::write_full;

// ---- the two links ----------------------------------------------------------
//
// Each runs one benchmark over a link to a forked partner: the partner runs
// child(its end) and _exits with the result; the parent runs body(its
// end(s)), then closes its end(s) and reaps the partner, and the run fails
// with partner_failed unless the partner exited 0.

// A duplex mpk pipe: the partner gets end b (and closes a), the parent's
// body gets both ends (it uses a, and closes b when it needs the EOF).
template <class Child, class Body>
void over_mpk_pipe(benchmark::State &state, const char *partner_failed,
                   Child child, Body body) {
  mpk_conn_t *a = nullptr, *b = nullptr;
  if (mpk_pipe(&a, &b, 1) != MPK_OK) {
    state.SkipWithError("mpk_pipe failed");
    return;
  }
  pid_t pid = fork_partner([&] {
    mpk_conn_close(a);
    return child(b);
  });
  body(a, b);
  mpk_conn_free(a);
  mpk_conn_free(b);
  if (!reap_ok(pid))
    state.SkipWithError(partner_failed);
}

// A stream socketpair: the partner gets sv[1], the parent's body sv[0].
template <class Child, class Body>
void over_socketpair(benchmark::State &state, const char *partner_failed,
                     Child child, Body body) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  pid_t pid = fork_partner([&] {
    close(sv[0]);
    return child(sv[1]);
  });
  close(sv[1]);
  body(sv[0]);
  close(sv[0]);
  if (!reap_ok(pid))
    state.SkipWithError(partner_failed);
}

// ---- ping-pong ------------------------------------------------------------

// The timed loop of a ping-pong: round(out, &in) sends the byte out and
// receives the echo into in (false on a failed call); the echo is out + 1.
template <class Round> void pingpong(benchmark::State &state, Round round) {
  unsigned char out = 0, in = 0;
  for (auto _ : state) {
    if (!round(out, &in) || in != static_cast<unsigned char>(out + 1)) {
      state.SkipWithError("wrong echo");
      break;
    }
    out = static_cast<unsigned char>(out + 7);
  }
}

void pingpong_mpk(benchmark::State &state) {
  over_mpk_pipe(
      state, "echo process failed",
      [](mpk_conn_t *b) {
        unsigned char c;
        size_t len;
        int r;
        while ((r = mpk_conn_recv(b, &c, 1, &len, MPK_FOREVER)) == MPK_OK) {
          c = static_cast<unsigned char>(c + 1);
          if (mpk_conn_send(b, &c, len) != MPK_OK)
            return 1;
        }
        return r == MPK_EEOF ? 0 : 1;
      },
      [&](mpk_conn_t *a, mpk_conn_t *b) {
        mpk_conn_close(b);
        pingpong(state, [a](unsigned char out, unsigned char *in) {
          size_t len = 0;
          return mpk_conn_send(a, &out, 1) == MPK_OK &&
                 mpk_conn_recv(a, in, 1, &len, MPK_FOREVER) == MPK_OK &&
                 len == 1;
        });
      });
}

void pingpong_socketpair(benchmark::State &state) {
  over_socketpair(
      state, "echo process failed",
      [](int fd) {
        unsigned char c;
        ssize_t k;
        while ((k = read(fd, &c, 1)) == 1) {
          c = static_cast<unsigned char>(c + 1);
          if (write(fd, &c, 1) != 1)
            return 1;
        }
        return k == 0 ? 0 : 1;
      },
      [&](int fd) {
        pingpong(state, [fd](unsigned char out, unsigned char *in) {
          return write(fd, &out, 1) == 1 && read(fd, in, 1) == 1;
        });
      });
}

// ---- throughput -------------------------------------------------------------

// The message of iteration i starts and ends with the byte i; the partner
// checks both, counts bytes, and answers the count after the end marker.

// The partner: recv(buf) receives one message into the kMiB buffer and
// gives its length (0 at the end marker or on a failed call); then
// reply(p, n) sends {bytes received, bad messages}.
template <class Recv, class Reply> int count_mib(Recv recv, Reply reply) {
  auto *buf = static_cast<unsigned char *>(malloc(kMiB));
  if (buf == nullptr)
    return 1;
  uint64_t total = 0, bad = 0;
  unsigned char seq = 0;
  size_t len;
  while ((len = recv(buf)) > 0) {
    total += len;
    bad += len != kMiB || buf[0] != seq || buf[kMiB - 1] != seq;
    seq++;
  }
  uint64_t counts[2] = {total, bad};
  free(buf);
  return reply(counts, sizeof counts) ? 0 : 1;
}

// The timed loop: send(msg) sends one kMiB message (false on failure, which
// fails the run with send_failed); then end() marks the end and
// answer(reply) receives the partner's counts, which must match. Sets the
// bytes processed.
template <class Send, class End, class Answer>
void send_mib(benchmark::State &state, const char *send_failed, Send send,
              End end, Answer answer) {
  auto *msg = static_cast<unsigned char *>(calloc(1, kMiB));
  unsigned char seq = 0;
  uint64_t sent = 0;
  for (auto _ : state) {
    msg[0] = msg[kMiB - 1] = seq++;
    if (!send(msg)) {
      state.SkipWithError(send_failed);
      break;
    }
    sent += kMiB;
  }
  uint64_t reply[2] = {~uint64_t{0}, 0};
  if (!end() || !answer(reply) || reply[0] != sent || reply[1] != 0)
    state.SkipWithError("receiver saw different bytes");
  state.SetBytesProcessed(static_cast<int64_t>(sent));
  free(msg);
}

void throughput_mpk(benchmark::State &state) {
  over_mpk_pipe(
      state, "receiver process failed",
      [](mpk_conn_t *b) {
        return count_mib(
            [b](unsigned char *buf) {
              size_t len = 0;
              return mpk_conn_recv(b, buf, kMiB, &len, MPK_FOREVER) == MPK_OK
                         ? len
                         : 0;
            },
            [b](const void *p, size_t n) {
              return mpk_conn_send(b, p, n) == MPK_OK;
            });
      },
      [&](mpk_conn_t *a, mpk_conn_t *) {
        send_mib(
            state, "send failed",
            [a](const unsigned char *msg) {
              return mpk_conn_send(a, msg, kMiB) == MPK_OK;
            },
            [a] { return mpk_conn_send(a, nullptr, 0) == MPK_OK; },
            [a](uint64_t *reply) {
              size_t len = 0;
              return mpk_conn_recv(a, reply, 2 * sizeof *reply, &len, 60) ==
                     MPK_OK;
            });
      });
}

void throughput_socketpair(benchmark::State &state) {
  over_socketpair(
      state, "receiver process failed",
      [](int fd) {
        return count_mib(
            [fd](unsigned char *buf) {
              return read_full(fd, buf, kMiB) ? kMiB : 0;
            },
            [fd](const void *p, size_t n) { return write_full(fd, p, n); });
      },
      [&](int fd) {
        send_mib(
            state, "write failed",
            [fd](const unsigned char *msg) {
              return write_full(fd, msg, kMiB);
            },
            [fd] { return shutdown(fd, SHUT_WR) == 0; },
            [fd](uint64_t *reply) {
              return read_full(fd, reply, 2 * sizeof *reply);
            });
      });
}

} // namespace

BENCHMARK(pingpong_mpk)->Name("pipe_pingpong_1B/mpk")->UseRealTime();
BENCHMARK(pingpong_socketpair)
    ->Name("pipe_pingpong_1B/socketpair")
    ->UseRealTime();
BENCHMARK(throughput_mpk)->Name("pipe_throughput_1MiB/mpk")->UseRealTime();
BENCHMARK(throughput_socketpair)
    ->Name("pipe_throughput_1MiB/socketpair")
    ->UseRealTime();
