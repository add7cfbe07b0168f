// ttap_step cost measurement: many calls timed one by one with the steady clock, median reported.
// A due step's device work is kept out of the timed region the way a GPU keeps it off the host: the
// emulated stream is held by a gate (a host function that waits, entered before the clock starts)
// while ttap_step enqueues, and runs only after the clock has stopped; ttap_flush then drains it.
// Without the gate, on a small machine the emulator's kernel would compete with the timed call for
// the same cores.
#include "benchmarks/runtime_bench.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "kernels/simt/stream.h"
#include "ttap/ttap.h"

namespace ttap::bench {
namespace {

// Targets from the issue: not due <= 100 ns; due <= 5 us + 20 ns per tensor, device work excluded.
constexpr double kNotDueTargetNs = 100;
constexpr double kDueBaseTargetNs = 5000;
constexpr double kDuePerTensorTargetNs = 20;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string make_temp_dir() {
  char tmpl[] = "/tmp/ttap-bench-XXXXXX";
  const char *dir = mkdtemp(tmpl);
  return dir ? dir : "/tmp";
}

}  // namespace

std::vector<step_cost> run_step_cost_bench(void (*progress)(const char *)) {
  std::vector<step_cost> out;
  const std::string dir = make_temp_dir();
  using clock = std::chrono::steady_clock;
  auto report = [&](const step_cost &c) {
    out.push_back(c);
    if (!progress) return;
    char line[200];
    std::snprintf(line, sizeof line, "  ttap_step %-28s %9.0f ns   target <= %6.0f ns   %s",
                  c.what.c_str(), c.ns_per_call, c.target_ns,
                  c.ns_per_call <= c.target_ns ? "met" : "MISSED");
    progress(line);
  };

  // Not due: a watched tensor, every = 2^40 (only step 0 samples), no budget (no clock reads).
  {
    ttap_session *s = nullptr;
    if (ttap_open((dir + "/not-due").c_str(), "backend=cpu,every=1099511627776,budget=0", &s) ==
        TTAP_OK) {
      std::vector<float> x(1024, 1.0f);
      int32_t h;
      ttap_watch(s, "x", x.data(), TTAP_F32, x.size(), TTAP_GRAD, &h);
      ttap_step(s, 0, nullptr);
      std::vector<double> per_call;
      int64_t step = 1;
      for (int round = 0; round < 50; ++round) {
        constexpr int kCalls = 20000;
        auto t0 = clock::now();
        for (int i = 0; i < kCalls; ++i) ttap_step(s, step++, nullptr);
        per_call.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count() /
                           kCalls);
      }
      ttap_close(s);
      report({"not due", 1, median(per_call), kNotDueTargetNs});
    }
  }

  // Due, N device tensors of 4096 fp32 each on the emulated device.
  for (int n : {1, 100, 1000}) {
    ttap_session *s = nullptr;
    std::string run = dir + "/due-" + std::to_string(n);
    if (ttap_open(run.c_str(), "backend=emulated,every=1,budget=0,flush_ms=100000", &s) != TTAP_OK)
      continue;
    std::vector<std::vector<float>> tensors(size_t(n), std::vector<float>(4096, 0.5f));
    for (int k = 0; k < n; ++k) {
      int32_t h;
      ttap_watch(s, ("t" + std::to_string(k)).c_str(), tensors[size_t(k)].data(), TTAP_F32, 4096,
                 TTAP_GRAD, &h);
    }
    std::vector<double> per_call;
    for (int step = 0; step < 204; ++step) {
      std::promise<void> open;
      std::shared_future<void> opened = open.get_future().share();
      auto gate_entered = std::make_shared<std::atomic<bool>>(false);
      simt::default_stream().host_func_async([opened, gate_entered] {
        gate_entered->store(true, std::memory_order_release);
        opened.wait();
      });
      // The stream's worker is parked in the gate before the clock starts: otherwise it may still
      // be waking up to take the gate during the timed call and compete with it for the queue's
      // lock and the two cores (a GPU's queue has no such worker on the host).
      while (!gate_entered->load(std::memory_order_acquire)) std::this_thread::yield();
      auto t0 = clock::now();
      ttap_step(s, step, nullptr);
      double ns = std::chrono::duration<double, std::nano>(clock::now() - t0).count();
      open.set_value();
      if (step >= 4) per_call.push_back(ns);  // the first samples upload tables and grow buffers
      ttap_flush(s);  // device work and the store: not the training thread's cost
    }
    ttap_close(s);
    report({"due, " + std::to_string(n) + " device tensors", n, median(per_call),
            kDueBaseTargetNs + kDuePerTensorTargetNs * n});
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return out;
}

}  // namespace ttap::bench
