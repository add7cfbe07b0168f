// The run store's ingest benchmark: the collector's write pattern (one add_samples per sample, a
// commit per flush interval) over synthetic summaries shaped like real ones, timed end to end, and
// the bytes the store keeps per tensor-sample after its closing checkpoint.
#include "benchmarks/store_bench.h"

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <system_error>
#include <vector>

#include "runtime/store/store.h"
#include "runtime/store/store_files.h"

namespace ttap::bench {

namespace {

namespace fs = std::filesystem;

// Fraction of |x| in [2^e, 2^(e+1)) for x ~ N(0, sigma^2).
double normal_bin_mass(int e, double sigma) {
  double k = 1.0 / (sigma * std::sqrt(2.0));
  double lo = e == kExpHistMin ? 0.0 : std::ldexp(1.0, e);
  return std::erfc(lo * k) - std::erfc(std::ldexp(1.0, e + 1) * k);
}

// A summary of numel values drawn from a mixture: most ~N(0, sigma^2), a small fraction from a
// much wider normal (outliers, as gradients and activations have them). Its histogram is the
// expected one, jittered by up to `jitter` per bin so consecutive samples differ as real ones do.
summary synthetic_summary(std::mt19937_64 &rng, uint64_t numel, double sigma, double tail,
                          double tail_scale, double jitter) {
  summary s;
  summary_clear(s);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  uint64_t nonzero = 0;
  for (int i = 0; i < kExpHistBins; ++i) {
    int e = i + kExpHistMin;
    double mass =
        (1.0 - tail) * normal_bin_mass(e, sigma) + tail * normal_bin_mass(e, sigma * tail_scale);
    double expected = double(numel) * mass * (1.0 + jitter * unit(rng));
    s.exp_hist[i] = expected < 0.5 ? 0 : uint64_t(std::llround(expected));
    nonzero += s.exp_hist[i];
  }
  s.count = std::max(numel, nonzero);
  s.zero = s.count - nonzero;
  double spread = sigma * std::sqrt(1.0 + tail * tail_scale * tail_scale);
  s.abs_max = spread * std::sqrt(2.0 * std::log(double(numel) + 2.0)) * (1.0 + 0.1 * unit(rng));
  s.max = s.abs_max * (0.8 + 0.2 * std::fabs(unit(rng)));
  s.min = -s.abs_max;
  s.sum = spread * std::sqrt(double(numel)) * unit(rng);
  s.sum_abs = double(numel) * spread * 0.7978845608 * (1.0 + 0.01 * unit(rng));
  s.sum_sq = double(numel) * spread * spread * (1.0 + 0.01 * unit(rng));
  return s;
}

}  // namespace

store_bench_report run_store_bench(const store_bench_options &options) {
  store_bench_report report;
  if (options.tensors <= 0 || options.samples <= 0 || options.commit_every <= 0) {
    report.error = "store bench: tensors, samples and commit_every must be positive";
    return report;
  }
  std::error_code ec;
  fs::path parent =
      options.parent_dir.empty() ? fs::temp_directory_path(ec) : fs::path(options.parent_dir);
  std::string pattern = (parent / "ttap-store-bench-XXXXXX").string();
  if (ec || !mkdtemp(pattern.data())) {
    report.error = "store bench: cannot create a temporary directory under " + parent.string();
    return report;
  }
  fs::path dir = pattern;

  // Tensors of a mid-size model: 2^12 to 2^24 elements, scales from 1e-5 (late gradients) to 1,
  // up to 10% outliers 4-4096x wider: 20-40 nonzero histogram bins, 28 on average. Four variants
  // per tensor, cycled, so consecutive samples differ as real ones do.
  constexpr int kVariants = 4;
  std::mt19937_64 rng(20261122);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<tensor_info> tensors(size_t(options.tensors));
  std::vector<std::vector<sample_record>> variants(kVariants,
                                                   std::vector<sample_record>(tensors.size()));
  uint64_t bins = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    tensors[t].id = int32_t(t);
    tensors[t].name = "layers." + std::to_string(t / 8) + ".mlp.proj_" + std::to_string(t % 8) +
                      (t % 2 ? ".weight" : ".weight.grad");
    tensors[t].kind = t % 2 ? tensor_kind::param : tensor_kind::grad;
    tensors[t].type = dtype::bf16;
    tensors[t].numel = uint64_t(std::ldexp(1.0, 12 + int(uniform(rng) * 13.0)));
    double sigma = std::pow(10.0, -5.0 + 5.0 * uniform(rng));
    double tail = 0.1 * uniform(rng);
    double tail_scale = std::ldexp(1.0, 2 + int(uniform(rng) * 11.0));
    for (int v = 0; v < kVariants; ++v) {
      sample_record &r = variants[v][t];
      r.tensor_id = int32_t(t);
      r.index_in_sample = uint32_t(t);
      r.sample_size = uint32_t(tensors.size());
      r.stats = synthetic_summary(rng, tensors[t].numel, sigma, tail, tail_scale, 0.02);
      for (uint64_t c : r.stats.exp_hist) bins += c != 0;
    }
  }
  report.hist_bins_per_sample = double(bins) / double(tensors.size() * kVariants);

  {
    run_info info;
    info.run_dir = dir.string();
    info.options = "store_bench";
    info.version = "bench";
    info.host = "localhost";
    std::string error;
    std::unique_ptr<store> st = store::open(info, &error);
    if (!st) report.error = error;
    for (size_t t = 0; st && t < tensors.size() && report.error.empty(); ++t)
      if (!st->add_tensor(tensors[t])) report.error = st->last_error();
    if (st && report.error.empty() && !st->commit()) report.error = st->last_error();

    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    for (int i = 0; st && report.error.empty() && i < options.samples; ++i) {
      std::vector<sample_record> &batch = variants[i % kVariants];
      double time = 1.7e9 + 0.25 * i;
      for (sample_record &r : batch) {
        r.step = i;
        r.time = time;
      }
      if (!st->add_samples(batch)) report.error = st->last_error();
      bool last = i + 1 == options.samples;
      if (report.error.empty() && ((i + 1) % options.commit_every == 0 || last) && !st->commit())
        report.error = st->last_error();
      if (report.error.empty()) report.rows += batch.size();
    }
    report.seconds = std::chrono::duration<double>(clock::now() - start).count();
    if (st) report.live_bytes = st->size_bytes();
  }  // the store closes here: a full checkpoint, and the WAL is removed

  std::string db = (dir / kStoreFileName).string();
  for (const std::string &file : {db, db + "-wal"}) {
    uintmax_t size = fs::file_size(file, ec);
    if (!ec) report.store_bytes += size;
  }
  fs::remove_all(dir, ec);
  if (report.rows) {
    report.rows_per_second = double(report.rows) / report.seconds;
    report.bytes_per_sample = double(report.store_bytes) / double(report.rows);
  }
  report.met = report.error.empty() && report.rows_per_second >= report.target_rows_per_second &&
               report.bytes_per_sample <= report.target_bytes_per_sample;
  return report;
}

}  // namespace ttap::bench
