// Writes the stores the `ttap diff` and `ttap ls` benchmarks read (benchmarks/compare_bench.sh),
// through the runtime's own store writer, so they are real runs in every byte:
//   make_compare_runs diff OUTDIR [TENSORS STEPS]  OUTDIR/a and OUTDIR/b, every tensor sampled at
//       every step; b equals a except one tensor, scaled by 1.001 from the middle step on
//   make_compare_runs ls OUTDIR [RUNS]             RUNS small runs, OUTDIR/<group>/run-<k>, some
//       with a NaN alert
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/clock.h"
#include "runtime/store/store.h"

namespace {

using namespace ttap;

// A summary whose values depend only on (tensor, step, factor): the two diff runs are equal to
// the bit wherever the factor is 1.
summary synthetic_summary(int tensor, int64_t step, double factor, bool nan) {
  summary s;
  summary_clear(s);
  s.count = 4096;
  const double scale =
      factor * 1e-3 * (1 + tensor % 17) * (1.0 + 0.5 * std::sin(0.01 * double(step)));
  s.min = -scale;
  s.max = scale * 0.9;
  s.abs_max = scale;
  s.sum = scale * 0.01 * double(tensor % 7);
  s.sum_abs = scale * 2000;
  s.sum_sq = scale * scale * 1300;
  // A bell of about 20 binades around the scale's exponent, as real tensors have.
  const int top = std::ilogb(scale) - kExpHistMin;
  for (int i = 0; i < 20; ++i) s.exp_hist[top - i] = uint64_t(200 - std::abs(i - 6) * 15);
  if (nan) s.nan = 1;
  return s;
}

bool write_run(const std::string &dir, int tensors, int64_t steps, int scaled_tensor,
               int64_t scaled_from, int64_t nan_step, double start_time, std::string *error) {
  std::filesystem::create_directories(dir);
  run_info info;
  info.run_dir = dir;
  info.options = "make_compare_runs";
  info.version = "bench";
  info.host = "make-compare-runs";  // no live writer on this host
  info.start_time = start_time;
  std::unique_ptr<store> st = store::open(info, error);
  if (!st) return false;
  for (int t = 0; t < tensors; ++t) {
    tensor_info ti;
    ti.id = t;
    ti.name = "layers." + std::to_string(t / 4) +
              (t % 4 == 0   ? ".attn.weight.grad"
               : t % 4 == 1 ? ".attn.weight"
               : t % 4 == 2 ? ".mlp.weight.grad"
                            : ".mlp.weight");
    ti.kind = t % 2 == 0 ? tensor_kind::grad : tensor_kind::param;
    ti.numel = 4096;
    if (!st->add_tensor(ti)) {
      *error = st->last_error();
      return false;
    }
  }
  std::vector<sample_record> batch(static_cast<size_t>(tensors));
  for (int64_t step = 0; step < steps; ++step) {
    for (int t = 0; t < tensors; ++t) {
      sample_record &r = batch[size_t(t)];
      r.step = step;
      r.time = start_time + 0.1 * double(step);
      r.tensor_id = t;
      r.index_in_sample = uint32_t(t);
      r.sample_size = uint32_t(tensors);
      const double factor = t == scaled_tensor && step >= scaled_from ? 1.001 : 1.0;
      r.stats = synthetic_summary(t, step, factor, step == nan_step && t == 0);
    }
    if (!st->add_samples(batch)) {
      *error = st->last_error();
      return false;
    }
    if (step == nan_step) {
      alert a;
      a.step = step;
      a.time = start_time;
      a.tensor_id = 0;
      a.tensor = "layers.0.attn.weight.grad";
      a.message = "NaN in layers.0.attn.weight.grad (1 of 4096 values)";
      if (!st->add_alert(a)) {
        *error = st->last_error();
        return false;
      }
    }
    scalar_record loss;
    loss.step = step;
    loss.time = start_time + 0.1 * double(step);
    loss.name = "loss";
    loss.value = 4.0 / double(step + 1);
    if (!st->add_scalar(loss) || ((step + 1) % 50 == 0 && !st->commit())) {
      *error = st->last_error();
      return false;
    }
  }
  run_counters c;
  c.samples_taken = uint64_t(steps);
  c.overhead_seconds = 0.01 * double(steps);
  c.step_seconds = 0.1 * double(steps);
  if (!st->set_counters(c) || !st->commit()) {
    *error = st->last_error();
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  const std::string mode = argc > 2 ? argv[1] : "";
  if ((mode != "diff" && mode != "ls") || argc > 5) {
    std::fprintf(stderr,
                 "usage: make_compare_runs diff OUTDIR [TENSORS STEPS]\n"
                 "       make_compare_runs ls OUTDIR [RUNS]\n");
    return 2;
  }
  const std::string out = argv[2];
  const double now = ttap::wall_seconds();
  std::string error;
  if (mode == "diff") {
    const int tensors = argc > 3 ? std::atoi(argv[3]) : 1000;
    const int64_t steps = argc > 4 ? std::atoll(argv[4]) : 1000;
    if (tensors < 1 || steps < 2) {
      std::fprintf(stderr, "make_compare_runs: TENSORS >= 1 and STEPS >= 2\n");
      return 2;
    }
    // b parts from a at the middle step, in a tensor in the middle of the watch list.
    if (!write_run(out + "/a", tensors, steps, -1, 0, -1, now, &error) ||
        !write_run(out + "/b", tensors, steps, tensors / 2, steps / 2, -1, now + 1, &error)) {
      std::fprintf(stderr, "make_compare_runs: %s\n", error.c_str());
      return 1;
    }
    std::printf("wrote %s/a and %s/b: %d tensors x %lld steps each\n", out.c_str(), out.c_str(),
                tensors, (long long)steps);
    return 0;
  }
  const int runs = argc > 3 ? std::atoi(argv[3]) : 500;
  if (runs < 1) {
    std::fprintf(stderr, "make_compare_runs: RUNS >= 1\n");
    return 2;
  }
  for (int k = 0; k < runs; ++k) {
    // Ten runs per directory, as a sweep's output tends to be; every seventh run holds a NaN.
    const std::string dir = out + "/sweep-" + std::to_string(k / 10) + "/run-" + std::to_string(k);
    if (!write_run(dir, 16, 50, -1, 0, k % 7 == 0 ? 30 : -1, now + 1e-3 * k, &error)) {
      std::fprintf(stderr, "make_compare_runs: %s\n", error.c_str());
      return 1;
    }
  }
  std::printf("wrote %d runs under %s\n", runs, out.c_str());
  return 0;
}
