// The cpu executor benchmark: for each dtype, one buffer of realistic values (normally distributed,
// like weights and gradients), timed alternately with the baseline read so that both see the same
// machine state; medians of both and their ratio.
#include "benchmarks/cpu_executor_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

#include "benchmarks/bench_clock.h"
#include "benchmarks/read_baseline.h"
#include "kernels/cpu/cpu_executor.h"

namespace ttap::bench {
namespace {

// The CLI's --dtype spelling, as a C string for printf and JSON.
const char *short_name(dtype t) { return dtype_option_name(t); }

// Fills the buffer with N(0, 0.02) values in dtype t (bf16 and f16 by truncating fp32, fp8 from a
// small table; the exact rounding does not matter for throughput).
void fill_realistic(std::vector<unsigned char> &buf, dtype t) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  size_t n = buf.size() / size_t(dtype_size(t));
  // Generating hundreds of MiB of normals is slow; a 64K-value pattern repeated is as realistic
  // for a streaming kernel and keeps set-up short.
  constexpr size_t kPattern = 65536;
  std::vector<float> pattern(kPattern);
  for (auto &v : pattern) v = normal(rng);
  for (size_t i = 0; i < n; ++i) {
    float v = pattern[(i * 7919) % kPattern];
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    unsigned char *p = buf.data() + i * size_t(dtype_size(t));
    switch (t) {
      case dtype::f32:
        std::memcpy(p, &bits, 4);
        break;
      case dtype::bf16: {
        uint16_t h = uint16_t(bits >> 16);
        std::memcpy(p, &h, 2);
        break;
      }
      case dtype::f16: {
        _Float16 h = _Float16(v);
        std::memcpy(p, &h, 2);
        break;
      }
      case dtype::f8e4m3:
      case dtype::f8e5m2:
        *p = uint8_t(i * 37 % 120);
        break;
      case dtype::f64: {
        double d = v;
        std::memcpy(p, &d, 8);
        break;
      }
    }
  }
}

}  // namespace

cpu_bench_report run_cpu_bench(const cpu_bench_options &options, void (*progress)(const char *)) {
  cpu_executor executor({options.threads, false, options.allow_simd});
  cpu_bench_report report{executor.threads(), executor.isa(), {}};
  volatile uint64_t sink = 0;
  for (dtype t : options.dtypes) {
    size_t elem = size_t(dtype_size(t));
    size_t bytes = options.bytes / elem * elem;
    std::vector<unsigned char> buf(bytes);
    fill_realistic(buf, t);
    tensor_view view{buf.data(), t, bytes / elem};

    // One untimed round of each side: page faults, thread start-up, caches.
    sink = sink ^ streaming_read(buf.data(), bytes, executor.threads());
    sink = sink ^ executor.summarize(view).count;

    std::vector<double> read_s, exec_s;
    for (int r = 0; r < std::max(1, options.repetitions); ++r) {
      double t0 = process_seconds(options.cpu_time);
      sink = sink ^ streaming_read(buf.data(), bytes, executor.threads());
      read_s.push_back(process_seconds(options.cpu_time) - t0);
      t0 = process_seconds(options.cpu_time);
      sink = sink ^ executor.summarize(view).count;
      exec_s.push_back(process_seconds(options.cpu_time) - t0);
    }
    cpu_bench_result res;
    res.type = t;
    res.bytes = bytes;
    res.read_gbps = double(bytes) / median(read_s) / 1e9;
    res.executor_gbps = double(bytes) / median(exec_s) / 1e9;
    res.ratio = res.executor_gbps / res.read_gbps;
    report.results.push_back(res);
    if (progress) {
      char line[160];
      std::snprintf(line, sizeof line, "  %-6s read %6.2f GB/s  executor %6.2f GB/s  ratio %.2f",
                    short_name(t), res.read_gbps, res.executor_gbps, res.ratio);
      progress(line);
    }
  }
  return report;
}

const char *bench_dtype_name(dtype t) { return short_name(t); }

}  // namespace ttap::bench
