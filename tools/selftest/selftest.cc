// The checks behind `ttap selftest`. The kernel checks run the fused kernel on a device backend and
// compare with the cpu executor; the cuda part adds what only a GPU can show (bandwidth, the C API
// on a real stream), and runs unchanged on the emulated device under a test-only switch.
#include "tools/selftest/selftest.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <ttap/ttap.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "benchmarks/static_report.h"
#include "kernels/cpu/cpu_executor.h"
#include "runtime/sample_ring.h"
#include "runtime/store/run_reader.h"
#include "tools/ttap/backend.h"

namespace ttap::selftest {
namespace {

using clock_type = std::chrono::steady_clock;

// Each backend's sums are within 2e-6 of the exact value relative to the sum of magnitudes (README,
// "The summary record"), so two backends are within twice that of each other.
constexpr double kSumTolerance = 4e-6;

// A host buffer with views at chosen byte offsets, so misaligned views are really misaligned.
struct tensor_set {
  std::vector<std::vector<unsigned char>> storage;
  std::vector<tensor_view> views;

  unsigned char *add(dtype t, uint64_t numel, size_t misalign = 0) {
    storage.emplace_back(numel * dtype_size(t) + 32);
    unsigned char *base = storage.back().data();
    size_t to_aligned = (16 - reinterpret_cast<uintptr_t>(base) % 16) % 16;
    unsigned char *data = base + to_aligned + misalign;
    views.push_back({data, t, numel});
    return data;
  }
};

void set_bits(unsigned char *data, dtype t, uint64_t i, uint64_t bits) {
  std::memcpy(data + i * dtype_size(t), &bits, size_t(dtype_size(t)));
}

// Raw bits of a value of dtype t drawn around N(0, 1): narrow dtypes by rejection over their bit
// patterns (every pattern decodes exactly), wide ones from the value itself.
uint64_t random_bits(dtype t, std::mt19937_64 &rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  if (t == dtype::f64) {
    double v = normal(rng);
    uint64_t b;
    std::memcpy(&b, &v, 8);
    return b;
  }
  if (t == dtype::f32) return bits_from_float(float(normal(rng)));
  const uint64_t patterns = uint64_t(1) << (8 * dtype_size(t));
  for (;;) {
    uint64_t b = rng() % patterns;
    float x = float_from_bits(f32_bits_from_narrow(t, b));
    if (std::isfinite(x) && std::fabs(x) < 8.0f) return b;
  }
}

// The fields a device result must share with the cpu executor's: integers, min/max and the
// histogram exactly, sums within kSumTolerance. "" when they agree.
std::string compare(const summary &got, const summary &want) {
  std::string err;
  auto exact = [&](const char *name, double a, double b) {
    if (!(a == b) && !(std::isnan(a) && std::isnan(b)))
      err += std::string(name) + " " + std::to_string(a) + " vs " + std::to_string(b) + "; ";
  };
  exact("count", double(got.count), double(want.count));
  exact("nan", double(got.nan), double(want.nan));
  exact("pos_inf", double(got.pos_inf), double(want.pos_inf));
  exact("neg_inf", double(got.neg_inf), double(want.neg_inf));
  exact("zero", double(got.zero), double(want.zero));
  exact("subnormal", double(got.subnormal), double(want.subnormal));
  exact("min", got.min, want.min);
  exact("max", got.max, want.max);
  for (int b = 0; b < kExpHistBins; ++b) {
    if (got.exp_hist[b] != want.exp_hist[b]) {
      err += "histogram bin " + std::to_string(b + kExpHistMin) + " " +
             std::to_string(got.exp_hist[b]) + " vs " + std::to_string(want.exp_hist[b]) + "; ";
    }
  }
  summary_derived g = summary_finalize(got), w = summary_finalize(want);
  double scale = std::max(w.l1, 1e-300);
  auto near = [&](const char *name, double a, double b, double of) {
    if (std::isinf(b) && a == b) return;
    if (!(std::fabs(a - b) <= kSumTolerance * of))
      err += std::string(name) + " " + std::to_string(a) + " vs " + std::to_string(b) + "; ";
  };
  // The signed sum is held relative to the sum of magnitudes; when that overflows (fp64 values
  // near the largest double), the bound says nothing and the sum's rounding may overflow too.
  if (std::isfinite(w.l1)) near("sum", got.sum, want.sum, scale);
  near("sum_abs", got.sum_abs, want.sum_abs, scale);
  near("l2", g.l2, w.l2, std::max(w.l2, 1e-300));
  return err;
}

struct kernel_case {
  std::string name;
  tensor_set tensors;
  bool one_launch = false;  // the case also asserts that every tensor took one launch
};

std::vector<kernel_case> kernel_cases() {
  const dtype all[] = {dtype::f32,    dtype::f16,    dtype::bf16,
                       dtype::f8e4m3, dtype::f8e5m2, dtype::f64};
  std::mt19937_64 rng(2026);
  std::vector<kernel_case> cases;

  cases.push_back({"every dtype (random data)", {}});
  for (dtype t : all) {
    for (uint64_t n : {uint64_t(1000), uint64_t(70001)}) {
      unsigned char *d = cases.back().tensors.add(t, n);
      for (uint64_t i = 0; i < n; ++i) set_bits(d, t, i, random_bits(t, rng));
    }
  }

  // Every bit pattern of the narrow dtypes holds NaN, +-Inf, -0, every subnormal and max finite;
  // fp32 and fp64 get those values listed, among ordinary ones.
  cases.push_back({"trap values (NaN, +-Inf, -0, subnormals, max finite)", {}});
  for (dtype t : {dtype::f16, dtype::bf16, dtype::f8e4m3, dtype::f8e5m2}) {
    uint64_t n = uint64_t(1) << (8 * dtype_size(t));
    unsigned char *d = cases.back().tensors.add(t, n);
    for (uint64_t i = 0; i < n; ++i) set_bits(d, t, i, i);
  }
  const uint64_t f32_traps[] = {0x7fc00000u, 0xffc00001u, 0x7f800000u, 0xff800000u, 0x80000000u,
                                0x00000001u, 0x807fffffu, 0x7f7fffffu, 0xff7fffffu, 0x00800000u};
  const uint64_t f64_traps[] = {0x7ff8000000000000ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
                                0x8000000000000000ull, 0x0000000000000001ull, 0x7fefffffffffffffull,
                                0xffefffffffffffffull, 0x0010000000000000ull};
  for (dtype t : {dtype::f32, dtype::f64}) {
    const uint64_t *traps = t == dtype::f32 ? f32_traps : f64_traps;
    size_t num_traps = t == dtype::f32 ? std::size(f32_traps) : std::size(f64_traps);
    unsigned char *d = cases.back().tensors.add(t, 5000);
    for (uint64_t i = 0; i < 5000; ++i)
      set_bits(d, t, i, i % 7 == 0 ? traps[(i / 7) % num_traps] : random_bits(t, rng));
  }

  cases.push_back({"misaligned views", {}});
  for (dtype t : all) {
    for (size_t misalign : {1, 2, 3, 7, 8, 15}) {
      unsigned char *d = cases.back().tensors.add(t, 3001, misalign);
      for (uint64_t i = 0; i < 3001; ++i) set_bits(d, t, i, random_bits(t, rng));
    }
  }

  cases.push_back({"empty tensors among others", {}});
  for (int k = 0; k < 12; ++k) {
    dtype t = all[k % 6];
    uint64_t n = k % 2 ? 0 : 257;
    unsigned char *d = cases.back().tensors.add(t, n);
    for (uint64_t i = 0; i < n; ++i) set_bits(d, t, i, random_bits(t, rng));
  }

  cases.push_back({"1,000 tensors in one launch", {}, true});
  for (int k = 0; k < 1000; ++k) {
    dtype t = all[k % 6];
    uint64_t n = k % 7 == 0 ? 0 : uint64_t(1 + rng() % 2000);
    unsigned char *d = cases.back().tensors.add(t, n, size_t(k % 5));
    for (uint64_t i = 0; i < n; ++i) set_bits(d, t, i, random_bits(t, rng));
  }
  return cases;
}

// Runs `tensors` on `dev` and compares with the cpu executor. The fault, when asked for, flips one
// histogram count of the device's first result before the comparison.
check_result kernel_check(const std::string &part, const std::string &name, device &dev,
                          bool copy_to_device, const tensor_set &tensors, bool one_launch,
                          bool flip_histogram_count) {
  check_result r{part, "kernel: " + name, outcome::pass, ""};
  try {
    cli::backend_result got = cli::run_on_device(dev, tensors.views, copy_to_device);
    if (flip_histogram_count) {
      for (auto &count : got.summaries.at(0).exp_hist) {
        if (count) {
          count ^= 1;
          break;
        }
      }
    }
    std::vector<summary> want(tensors.views.size());
    cpu_executor().summarize(tensors.views, want);
    int mismatched = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      std::string err = compare(got.summaries[i], want[i]);
      if (!err.empty() && mismatched++ < 3) {
        r.detail += "tensor " + std::to_string(i) + " (dtype " +
                    std::to_string(int(tensors.views[i].type)) + ", " +
                    std::to_string(tensors.views[i].numel) + " elements): " + err;
      }
    }
    if (one_launch && got.launches != 1) {
      r.detail += std::to_string(got.launches) + " launches for one sample; ";
      ++mismatched;
    }
    if (mismatched) {
      r.result = outcome::fail;
      r.detail = std::to_string(mismatched) + " of " + std::to_string(want.size()) +
                 " tensors differ from the cpu executor: " + r.detail;
    } else {
      r.detail = std::to_string(want.size()) + " tensors agree with the cpu executor";
    }
  } catch (const std::exception &e) {
    r.result = outcome::fail;
    r.detail = e.what();
  }
  return r;
}

// Owns device memory for the duration of a check.
struct device_memory {
  device &dev;
  void *ptr = nullptr;
  ~device_memory() {
    if (ptr) dev.free(ptr);
  }
};

// One sample of a single tensor on `dev` through a sample ring, waited for; its device seconds.
double timed_sample(device &dev, sample_ring &ring, const device_tensor &t, summary *result) {
  int slot = ring.submit({&t, 1}, nullptr);
  if (slot < 0) throw std::runtime_error("launch failed: " + ring.last_error());
  device_status st;
  while ((st = ring.poll(slot)) == device_status::not_ready)
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  if (st != device_status::ok) throw std::runtime_error("sample failed: " + ring.last_error());
  double seconds = ring.device_seconds(slot);
  *result = ring.results(slot)[0];
  ring.release(slot);
  (void)dev;
  return seconds;
}

// The static projection for the device's architecture (the nearest built one at or below it).
std::string static_projection(const std::string &dtype_name, int major, int minor) {
  bench::static_report report = bench::make_static_report(bench::default_static_dir());
  if (!report.available) return "static projection unavailable (" + report.error + ")";
  int arch = major * 10 + minor, best = -1;
  const bench::static_row *row = nullptr;
  for (const auto &r : report.rows) {
    int a = std::atoi(r.arch.c_str() + 3);
    if (r.dtype == dtype_name && a <= arch && a > best) best = a, row = &r;
  }
  if (!row) return "no static projection for sm_" + std::to_string(arch);
  char line[160];
  std::snprintf(line, sizeof line, "static projection (%s) %.2f of the memory floor",
                row->arch.c_str(), row->bandwidth_ms_per_gb / row->projected_ms_per_gb);
  return line;
}

check_result bandwidth_check(const std::string &part, device &dev, dtype t, size_t bytes,
                             double peak_bytes_per_second, int major, int minor) {
  const char *name = t == dtype::bf16 ? "bf16" : "f32";
  check_result r{part, std::string("bandwidth: ") + name, outcome::pass, ""};
  try {
    uint64_t numel = bytes / dtype_size(t);
    std::vector<unsigned char> host(numel * dtype_size(t));
    std::mt19937_64 rng(11);
    std::vector<uint64_t> table(4096);
    for (auto &b : table) b = random_bits(t, rng);
    for (uint64_t i = 0; i < numel; ++i) set_bits(host.data(), t, i, table[i % table.size()]);
    device_memory mem{dev};
    if (dev.alloc(&mem.ptr, host.size()) != device_status::ok)
      throw std::runtime_error("cannot allocate " + std::to_string(host.size()) +
                               " bytes: " + dev.last_error());
    if (dev.copy_to_device(mem.ptr, host.data(), host.size(), nullptr) != device_status::ok ||
        dev.synchronize(nullptr) != device_status::ok) {
      throw std::runtime_error("copy to device: " + dev.last_error());
    }
    sample_ring ring(dev, 1);
    device_tensor tensor{mem.ptr, t, numel, false};
    std::vector<double> seconds;
    summary got{};
    for (int run = 0; run < 5; ++run) seconds.push_back(timed_sample(dev, ring, tensor, &got));
    std::sort(seconds.begin(), seconds.end());
    double median = seconds[seconds.size() / 2];
    summary want = cpu_executor().summarize({host.data(), t, numel});
    std::string err = compare(got, want);
    if (!err.empty()) {
      r.result = outcome::fail;
      r.detail = "the summary differs from the cpu executor: " + err;
      return r;
    }
    if (!(median > 0)) throw std::runtime_error("the device did not time the sample");
    double achieved = double(host.size()) / median;
    char line[256];
    std::snprintf(line, sizeof line,
                  "%.1f MiB in %.3f ms (median of 5): %.1f GB/s, %.2f of peak %.1f GB/s; ",
                  host.size() / 1048576.0, median * 1e3, achieved / 1e9,
                  achieved / peak_bytes_per_second, peak_bytes_per_second / 1e9);
    r.detail = line + static_projection(name, major, minor);
  } catch (const std::exception &e) {
    r.result = outcome::fail;
    r.detail = e.what();
  }
  return r;
}

// A tensor over 2^31 elements (fp8 e4m3, 2 GiB), when the device has the memory.
check_result large_tensor_check(const std::string &part, device &dev, bool is_emulated,
                                size_t device_memory_bytes) {
  check_result r{part, "kernel: a tensor over 2^31 elements", outcome::pass, ""};
  const uint64_t n = (uint64_t(1) << 31) + 77;
  if (is_emulated) {
    r.result = outcome::skipped;
    r.detail =
        "the emulator takes minutes for 2^31 elements (ctest runs it: "
        "FusedStats.MoreThan2To31Elements)";
    return r;
  }
  if (device_memory_bytes < n + (size_t(1) << 30)) {
    r.result = outcome::skipped;
    r.detail = "the device has less than 3 GiB of memory";
    return r;
  }
  try {
    std::vector<uint8_t> host(n, 0x38);  // e4m3 1.0
    host[n - 1] = 0x7f;                  // NaN, past 2^31
    host[uint64_t(1) << 31] = 0x40;      // 2.0 at index 2^31
    tensor_set set;
    set.views.push_back({host.data(), dtype::f8e4m3, n});
    check_result k = kernel_check(part, "", dev, true, set, false, false);
    r.result = k.result;
    r.detail = k.detail;
  } catch (const std::exception &e) {
    r.result = outcome::fail;
    r.detail = e.what();
  }
  return r;
}

// The C API end to end with device pointers on a stream: ttap_step must not wait for the stream
// (timed while a long run of kernels is queued ahead of it), and every sample must reach the store.
check_result c_api_check(const std::string &part, device &dev, const char *backend,
                         size_t long_work_bytes, int queued_samples) {
  check_result r{part, "C API: device tensors on a stream, no host sync", outcome::pass, ""};
  char dir_template[] = "/tmp/ttap-selftest-XXXXXX";
  if (!mkdtemp(dir_template)) {
    r.result = outcome::fail;
    r.detail = std::string("cannot create a temporary directory: ") + std::strerror(errno);
    return r;
  }
  const std::string dir = dir_template;
  try {
    const uint64_t numel = 1 << 20;
    device_memory tensors{dev}, long_buffer{dev};
    std::vector<float> host(numel, 0.5f);
    stream_handle stream = nullptr;
    if (dev.alloc(&tensors.ptr, 2 * numel * 4) != device_status::ok ||
        dev.alloc(&long_buffer.ptr, long_work_bytes) != device_status::ok ||
        dev.create_stream(&stream) != device_status::ok) {
      throw std::runtime_error("device setup: " + dev.last_error());
    }
    for (int k = 0; k < 2; ++k)
      dev.copy_to_device(static_cast<float *>(tensors.ptr) + k * numel, host.data(), numel * 4,
                         stream);
    dev.memset(long_buffer.ptr, 0, long_work_bytes, stream);
    dev.synchronize(stream);

    ttap_session *s = nullptr;
    std::string opts = std::string("backend=") + backend + ",budget=0";
    if (ttap_open(dir.c_str(), opts.c_str(), &s) != TTAP_OK)
      throw std::runtime_error(std::string("ttap_open: ") + ttap_last_error());
    int32_t handle;
    ttap_watch(s, "w0", tensors.ptr, TTAP_F32, numel, TTAP_PARAM, &handle);
    ttap_watch(s, "w1", static_cast<float *>(tensors.ptr) + numel, TTAP_F32, numel, TTAP_PARAM,
               &handle);
    const int steps = 5;
    // Long device work queued ahead of each step: several samples of the long buffer. Step 0 is
    // not timed: the session allocates its workspace there (allowed to block, once).
    sample_ring long_work(dev, queued_samples);
    device_tensor big{long_buffer.ptr, dtype::f32, long_work_bytes / 4, false};
    // An event after the long work tells whether it was still running when ttap_step returned.
    event_handle queued_end = nullptr;
    if (dev.create_event(&queued_end) != device_status::ok)
      throw std::runtime_error("device event: " + dev.last_error());
    double worst_step = 0, shortest_queue = 1e30;
    int waited_steps = 0;  // steps that returned after the work ahead drained, and took long
    for (int step = 0; step < steps; ++step) {
      auto queued_at = clock_type::now();
      for (int k = 0; k < queued_samples; ++k) long_work.submit({&big, 1}, stream);
      dev.record_event(queued_end, stream);
      auto before = clock_type::now();
      ttap_step(s, step, stream);
      auto after = clock_type::now();
      const bool still_running = dev.query_event(queued_end) == device_status::not_ready;
      dev.synchronize(stream);
      auto drained = clock_type::now();
      for (int slot = 0; slot < queued_samples; ++slot) {
        if (long_work.poll(slot) == device_status::ok) long_work.release(slot);
      }
      if (step == 0) continue;
      const double step_s = std::chrono::duration<double>(after - before).count();
      const double queue_s = std::chrono::duration<double>(drained - queued_at).count();
      worst_step = std::max(worst_step, step_s);
      shortest_queue = std::min(shortest_queue, queue_s);
      // A step that waited for the stream returns after the work ahead of it and takes at least
      // its time. One that returned while the work still ran did not wait, however long the
      // machine kept it (the emulator's threads share the host's cores with it).
      if (!still_running && step_s > queue_s / 4) ++waited_steps;
    }
    dev.destroy_event(queued_end);
    if (ttap_close(s) != TTAP_OK)
      throw std::runtime_error(std::string("ttap_close: ") + ttap_last_error());
    std::string error;
    auto reader = run_reader::open(dir, &error);
    if (!reader) throw std::runtime_error(error);
    std::vector<sample_row> w0, w1;
    reader->samples_of("w0", false, &w0);
    reader->samples_of("w1", false, &w1);
    dev.destroy_stream(stream);
    char line[256];
    std::snprintf(line, sizeof line,
                  "%zu and %zu of %d samples stored; slowest ttap_step %.3f ms with %.3f ms of "
                  "device work queued ahead of it",
                  w0.size(), w1.size(), steps, worst_step * 1e3, shortest_queue * 1e3);
    r.detail = line;
    bool values_right = !w0.empty() && w0.back().count == numel && w0.back().sum &&
                        std::fabs(*w0.back().sum - 0.5 * numel) < 1e-6 * numel;
    if (int(w0.size()) != steps || int(w1.size()) != steps || !values_right) {
      r.result = outcome::fail;
      r.detail = "samples missing or wrong: " + r.detail;
    } else if (waited_steps > 0) {
      r.result = outcome::fail;
      r.detail = "ttap_step appears to wait for the stream: " + r.detail;
    }
  } catch (const std::exception &e) {
    r.result = outcome::fail;
    r.detail = e.what();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

library_info find_library(const char *const *names, const char *version_symbol) {
  library_info info;
  for (const char *const *name = names; *name; ++name) {
    void *lib = dlopen(*name, RTLD_LAZY | RTLD_LOCAL);
    if (!lib) continue;
    info.found = true;
    using get_version = int (*)(int *);
    if (auto fn = reinterpret_cast<get_version>(dlsym(lib, version_symbol))) {
      int v = 0;
      if (fn(&v) == 0 && v > 0) info.version = std::to_string(v);
    }
    dlclose(lib);
    break;
  }
  return info;
}

}  // namespace

const char *outcome_name(outcome o) {
  switch (o) {
    case outcome::pass:
      return "PASS";
    case outcome::fail:
      return "FAIL";
    case outcome::skipped:
      return "SKIPPED";
  }
  return "?";
}

bool report::passed() const {
  return std::none_of(checks.begin(), checks.end(),
                      [](const check_result &c) { return c.result == outcome::fail; });
}

inventory take_inventory() {
  inventory found;
  found.cuda = query_cuda_inventory();
  static const char *const nccl[] = {"libnccl.so.2", "libnccl.so", nullptr};
  static const char *const cupti[] = {"libcupti.so", "libcupti.so.13", "libcupti.so.12", nullptr};
  found.nccl = find_library(nccl, "ncclGetVersion");
  found.cupti = find_library(cupti, "cuptiGetVersion");
  return found;
}

report run(const options &opts, const std::function<void(const check_result &)> &progress) {
  report out;
  out.found = take_inventory();
  auto add = [&](check_result c) {
    if (progress) progress(c);
    out.checks.push_back(std::move(c));
  };
  std::vector<kernel_case> cases = kernel_cases();

  // Without a GPU this is the part that runs: the kernel's own source on the emulator.
  {
    auto emulated = make_emulated_device();
    for (const auto &c : cases)
      add(kernel_check("emulated", c.name, *emulated, false, c.tensors, c.one_launch, false));
  }

  // The cuda part: on a GPU, or on the emulated device through the same interface (tests).
  std::unique_ptr<device> dev;
  std::string why_not;
  cuda_inventory::gpu gpu;
  if (opts.cuda_on_emulated) {
    dev = make_emulated_device();
    gpu.name = "emulated device (test switch)";
    gpu.peak_bytes_per_second = emulated_device_model().gbps * 1e9;
    gpu.major = 9;  // project against the sm_90 build
    gpu.memory_bytes = 0;
  } else {
    dev = make_cuda_device(&why_not);
    for (const auto &g : out.found.cuda.gpus) {
      if (dev && g.ordinal == 0) gpu = g;
    }
  }
  if (!dev) {
    out.cuda_not_exercised = why_not;
    add({"cuda", "cuda backend", outcome::skipped, "not exercised: " + why_not});
    return out;
  }
  out.cuda_exercised = true;
  out.cuda_device = dev->description();
  const bool emulated = opts.cuda_on_emulated;
  const bool copy = !emulated;  // device memory on a GPU; the emulator reads host memory
  for (size_t i = 0; i < cases.size(); ++i) {
    add(kernel_check("cuda", cases[i].name, *dev, copy, cases[i].tensors, cases[i].one_launch,
                     opts.flip_histogram_count && i == 0));
  }
  add(large_tensor_check("cuda", *dev, emulated, gpu.memory_bytes));
  for (dtype t : {dtype::bf16, dtype::f32}) {
    add(bandwidth_check("cuda", *dev, t, opts.bandwidth_bytes, gpu.peak_bytes_per_second, gpu.major,
                        gpu.minor));
  }
  // On a GPU 32 samples of up to 1 GiB queue milliseconds of work; the emulator needs far fewer.
  add(c_api_check("cuda", *dev, emulated ? "emulated" : "cuda",
                  std::min(opts.bandwidth_bytes, size_t(1) << 30), emulated ? 2 : 32));
  check_result group{"cuda", "NCCL group over every local GPU", outcome::skipped, ""};
  group.detail = out.found.cuda.gpus.size() >= 2
                     ? "not part of this selftest yet: run `ctest -L gpu` (test_group_nccl)"
                     : "needs two or more GPUs";
  add(group);
  add({"cuda", "CUPTI/NVTX injection in a child process", outcome::skipped,
       "not part of this selftest yet: run `ctest -L hooks` on the GPU machine"});
  return out;
}

}  // namespace ttap::selftest
