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

// ---- ping-pong ------------------------------------------------------------

void pingpong_mpk(benchmark::State &state) {
  mpk_conn_t *a = nullptr, *b = nullptr;
  if (mpk_pipe(&a, &b, 1) != MPK_OK) {
    state.SkipWithError("mpk_pipe failed");
    return;
  }
  pid_t pid = fork_partner([&] {
    mpk_conn_close(a);
    unsigned char c;
    size_t len;
    int r;
    while ((r = mpk_conn_recv(b, &c, 1, &len, MPK_FOREVER)) == MPK_OK) {
      c = static_cast<unsigned char>(c + 1);
      if (mpk_conn_send(b, &c, len) != MPK_OK)
        return 1;
    }
    return r == MPK_EEOF ? 0 : 1;
  });
  mpk_conn_close(b);
  unsigned char out = 0, in = 0;
  for (auto _ : state) {
    size_t len = 0;
    if (mpk_conn_send(a, &out, 1) != MPK_OK ||
        mpk_conn_recv(a, &in, 1, &len, MPK_FOREVER) != MPK_OK || len != 1 ||
        in != static_cast<unsigned char>(out + 1)) {
      state.SkipWithError("wrong echo");
      break;
    }
    out = static_cast<unsigned char>(out + 7);
  }
  mpk_conn_free(a);
  mpk_conn_free(b);
  if (!reap_ok(pid))
    state.SkipWithError("echo process failed");
}

void pingpong_socketpair(benchmark::State &state) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  pid_t pid = fork_partner([&] {
    close(sv[0]);
    unsigned char c;
    ssize_t k;
    while ((k = read(sv[1], &c, 1)) == 1) {
      c = static_cast<unsigned char>(c + 1);
      if (write(sv[1], &c, 1) != 1)
        return 1;
    }
    return k == 0 ? 0 : 1;
  });
  close(sv[1]);
  unsigned char out = 0, in = 0;
  for (auto _ : state) {
    if (write(sv[0], &out, 1) != 1 || read(sv[0], &in, 1) != 1 ||
        in != static_cast<unsigned char>(out + 1)) {
      state.SkipWithError("wrong echo");
      break;
    }
    out = static_cast<unsigned char>(out + 7);
  }
  close(sv[0]);
  if (!reap_ok(pid))
    state.SkipWithError("echo process failed");
}

// ---- throughput -------------------------------------------------------------

// The message of iteration i starts and ends with the byte i; the partner
// checks both, counts bytes, and answers the count after the end marker.
void throughput_mpk(benchmark::State &state) {
  mpk_conn_t *a = nullptr, *b = nullptr;
  if (mpk_pipe(&a, &b, 1) != MPK_OK) {
    state.SkipWithError("mpk_pipe failed");
    return;
  }
  pid_t pid = fork_partner([&] {
    mpk_conn_close(a);
    auto *buf = static_cast<unsigned char *>(malloc(kMiB));
    if (buf == nullptr)
      return 1;
    uint64_t total = 0, bad = 0;
    unsigned char seq = 0;
    size_t len;
    while (mpk_conn_recv(b, buf, kMiB, &len, MPK_FOREVER) == MPK_OK &&
           len > 0) {
      total += len;
      bad += len != kMiB || buf[0] != seq || buf[kMiB - 1] != seq;
      seq++;
    }
    uint64_t reply[2] = {total, bad};
    free(buf);
    return mpk_conn_send(b, reply, sizeof reply) == MPK_OK ? 0 : 1;
  });
  auto *msg = static_cast<unsigned char *>(calloc(1, kMiB));
  unsigned char seq = 0;
  uint64_t sent = 0;
  for (auto _ : state) {
    msg[0] = msg[kMiB - 1] = seq++;
    if (mpk_conn_send(a, msg, kMiB) != MPK_OK) {
      state.SkipWithError("send failed");
      break;
    }
    sent += kMiB;
  }
  uint64_t reply[2] = {~uint64_t{0}, 0};
  size_t len = 0;
  if (mpk_conn_send(a, nullptr, 0) != MPK_OK ||
      mpk_conn_recv(a, reply, sizeof reply, &len, 60) != MPK_OK ||
      reply[0] != sent || reply[1] != 0)
    state.SkipWithError("receiver saw different bytes");
  state.SetBytesProcessed(static_cast<int64_t>(sent));
  free(msg);
  mpk_conn_free(a);
  mpk_conn_free(b);
  if (!reap_ok(pid))
    state.SkipWithError("receiver process failed");
}

void throughput_socketpair(benchmark::State &state) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  pid_t pid = fork_partner([&] {
    close(sv[0]);
    auto *buf = static_cast<unsigned char *>(malloc(kMiB));
    if (buf == nullptr)
      return 1;
    uint64_t total = 0, bad = 0;
    unsigned char seq = 0;
    while (read_full(sv[1], buf, kMiB)) {
      total += kMiB;
      bad += buf[0] != seq || buf[kMiB - 1] != seq;
      seq++;
    }
    uint64_t reply[2] = {total, bad};
    free(buf);
    return write_full(sv[1], reply, sizeof reply) ? 0 : 1;
  });
  close(sv[1]);
  auto *msg = static_cast<unsigned char *>(calloc(1, kMiB));
  unsigned char seq = 0;
  uint64_t sent = 0;
  for (auto _ : state) {
    msg[0] = msg[kMiB - 1] = seq++;
    if (!write_full(sv[0], msg, kMiB)) {
      state.SkipWithError("write failed");
      break;
    }
    sent += kMiB;
  }
  uint64_t reply[2] = {~uint64_t{0}, 0};
  if (shutdown(sv[0], SHUT_WR) != 0 || !read_full(sv[0], reply, sizeof reply) ||
      reply[0] != sent || reply[1] != 0)
    state.SkipWithError("receiver saw different bytes");
  state.SetBytesProcessed(static_cast<int64_t>(sent));
  free(msg);
  close(sv[0]);
  if (!reap_ok(pid))
    state.SkipWithError("receiver process failed");
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
