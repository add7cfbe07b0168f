// Throughput of the cpu executor against the streaming-read baseline, measured in the same run.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kernels/dtype.h"

namespace ttap::bench {

struct cpu_bench_options {
  size_t bytes = size_t(256) << 20;  // buffer size per dtype
  int threads = 0;                   // 0 = every hardware thread
  int repetitions = 7;               // timed runs of each side; the median is reported
  bool allow_simd = true;
  // Time both sides by the process's CPU time instead of the wall clock: work per byte rather
  // than bandwidth, and unaffected by other processes taking the cores (a loaded machine).
  bool cpu_time = false;
  std::vector<dtype> dtypes = {dtype::bf16, dtype::f32};
};

struct cpu_bench_result {
  dtype type;
  size_t bytes;
  double read_gbps;      // streaming-read baseline, median
  double executor_gbps;  // summary with every field (histogram included), median
  double ratio;          // executor / baseline
};

struct cpu_bench_report {
  int threads;
  std::string isa;
  std::vector<cpu_bench_result> results;
};

const char *bench_dtype_name(dtype t);

// Runs the benchmark; `progress` (may be null) receives one line per finished dtype.
cpu_bench_report run_cpu_bench(const cpu_bench_options &options, void (*progress)(const char *));

}  // namespace ttap::bench
