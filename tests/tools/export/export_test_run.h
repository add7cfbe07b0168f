// A small run with known contents, written through the public C API, for the export tests (the
// gtest suite in-process, and make_export_run for the TensorBoard read-back script): three tensors
// over ten steps, a planted NaN and +Inf, a NaN loss and a tensor name that needs CSV quoting.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ttap/ttap.h"

namespace ttap::test {

inline constexpr int kTestSteps = 10;
inline constexpr int kNanStep = 5;      // rank 0's gradient holds a NaN and a +Inf at this step
inline constexpr int kNanLossStep = 7;  // rank 0 logs a NaN loss at this step
inline const char *const kOddName = "odd,\"name\"";  // a name CSV has to quote

// layers.0.weight (param, F32, 64 values): one exact zero, magnitudes k/8 scaled per step and rank.
inline std::vector<float> test_weight(int step, int rank) {
  std::vector<float> w(64);
  for (int i = 0; i < 64; ++i) w[i] = float(i - 32) * 0.125f * float(1 + step) * float(1 + rank);
  return w;
}

// layers.0.weight.grad (grad, F32, 256 values), shrinking with the step.
inline std::vector<float> test_grad(int step, int rank) {
  std::vector<float> g(256);
  for (int i = 0; i < 256; ++i)
    g[i] = float((i * 37) % 101 - 50) * 1e-3f * float(1 + rank) / float(1 + step);
  if (rank == 0 && step == kNanStep) {
    g[3] = NAN;
    g[4] = INFINITY;
  }
  return g;
}

inline double test_loss(int step, int rank) {
  return rank == 0 && step == kNanLossStep ? NAN : 10.0 - step + rank;
}

// Writes the run into `dir`: one session per rank, ranks 0..world-1 (rank=R,world=W options).
// Returns "" on success, else what failed.
inline std::string write_test_run(const std::string &dir, int world) {
  for (int rank = 0; rank < world; ++rank) {
    ttap_session *s = nullptr;
    // The ranks run one after the other here: the later ones join the earlier ones' run.
    const std::string options = "backend=cpu,budget=0,rank=" + std::to_string(rank) +
                                ",world=" + std::to_string(world) + (rank ? ",mode=append" : "");
    if (ttap_open(dir.c_str(), options.c_str(), &s) != TTAP_OK)
      return std::string("ttap_open: ") + ttap_last_error();
    std::vector<float> w(64), g(256);
    std::vector<double> odd(10, 2.0);
    int32_t h;
    if (ttap_watch(s, "layers.0.weight", w.data(), TTAP_F32, w.size(), TTAP_PARAM, &h) != TTAP_OK ||
        ttap_watch(s, "layers.0.weight.grad", g.data(), TTAP_F32, g.size(), TTAP_GRAD, &h) !=
            TTAP_OK ||
        ttap_watch(s, kOddName, odd.data(), TTAP_F64, odd.size(), TTAP_OTHER, &h) != TTAP_OK)
      return std::string("ttap_watch: ") + ttap_last_error();
    for (int step = 0; step < kTestSteps; ++step) {
      // Copy into the watched buffers: assigning a new vector would move its storage in and free
      // the memory tensortap was told to read.
      const auto next_w = test_weight(step, rank), next_g = test_grad(step, rank);
      std::copy(next_w.begin(), next_w.end(), w.begin());
      std::copy(next_g.begin(), next_g.end(), g.begin());
      if (ttap_step(s, step, nullptr) != TTAP_OK ||
          ttap_log_scalar(s, "loss", test_loss(step, rank), step) != TTAP_OK ||
          ttap_log_scalar(s, "lr", 0.5, step) != TTAP_OK)
        return std::string("ttap_step/ttap_log_scalar: ") + ttap_last_error();
    }
    if (ttap_close(s) != TTAP_OK) return std::string("ttap_close: ") + ttap_last_error();
  }
  return "";
}

}  // namespace ttap::test
