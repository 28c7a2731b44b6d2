// bench_dict.cc - the shared dict against a process-private map, same run.
//
//   dict_set_get_16B/mpk      mpk_dict_set then mpk_dict_get of a 16-byte
//                             value, cycling over 1024 keys (shared heap,
//                             robust process-shared mutex)
//   dict_set_get_16B/pthread  the same on std::unordered_map<std::string,
//                             std::string> behind a pthread mutex: what a
//                             threads-only program would use
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "mpk/dict.h"
#include "mpk/error.h"

namespace {

constexpr int kKeys = 1024;

std::vector<std::string> make_keys() {
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; i++) {
    char k[32];
    std::snprintf(k, sizeof k, "key-%d", i);
    keys.emplace_back(k);
  }
  return keys;
}

void set_get_mpk(benchmark::State &state) {
  std::vector<std::string> keys = make_keys();
  mpk_dict_t *d = nullptr;
  if (mpk_dict_new(&d) != MPK_OK) {
    state.SkipWithError("mpk_dict_new failed");
    return;
  }
  char val[16] = {0}, out[16];
  for (int i = 0; i < kKeys; i++)
    mpk_dict_set(d, keys[i].c_str(), val, sizeof val);
  long i = 0;
  for (auto _ : state) {
    const char *k = keys[i % kKeys].c_str();
    std::memcpy(val, &i, sizeof i);
    size_t len = 0;
    if (mpk_dict_set(d, k, val, sizeof val) != MPK_OK ||
        mpk_dict_get(d, k, out, sizeof out, &len) != MPK_OK ||
        len != sizeof val || std::memcmp(out, val, sizeof val) != 0) {
      state.SkipWithError("wrong value");
      break;
    }
    i++;
  }
  if (mpk_dict_len(d) != kKeys)
    state.SkipWithError("wrong size");
  mpk_dict_free(d);
  state.SetItemsProcessed(state.iterations());
}

void set_get_pthread(benchmark::State &state) {
  std::vector<std::string> keys = make_keys();
  std::unordered_map<std::string, std::string> m;
  std::mutex mu;
  char val[16] = {0};
  for (int i = 0; i < kKeys; i++)
    m[keys[i]] = std::string(val, sizeof val);
  long i = 0;
  for (auto _ : state) {
    const std::string &k = keys[i % kKeys];
    std::memcpy(val, &i, sizeof i);
    std::string out;
    {
      std::lock_guard<std::mutex> g(mu);
      m[k].assign(val, sizeof val);
    }
    {
      std::lock_guard<std::mutex> g(mu);
      auto it = m.find(k);
      if (it != m.end())
        out = it->second;
    }
    if (out.size() != sizeof val ||
        std::memcmp(out.data(), val, sizeof val) != 0) {
      state.SkipWithError("wrong value");
      break;
    }
    i++;
  }
  if (m.size() != kKeys)
    state.SkipWithError("wrong size");
  state.SetItemsProcessed(state.iterations());
}

} // namespace

BENCHMARK(set_get_mpk)->Name("dict_set_get_16B/mpk");
BENCHMARK(set_get_pthread)->Name("dict_set_get_16B/pthread");
