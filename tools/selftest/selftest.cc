// The checks behind `ttap selftest`. The kernel checks run the fused kernel on a device backend and
// compare with the cpu executor; the cuda part adds what only a GPU can show (bandwidth, the C API
// on a real stream, the NCCL group over the local GPUs, the hooks injected into a child process),
// and runs unchanged on the emulated device under a test-only switch.
#include "tools/selftest/selftest.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <ttap/ttap.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "benchmarks/static_report.h"
#include "kernels/cpu/cpu_executor.h"
#include "runtime/sample_ring.h"
#include "runtime/store/run_reader.h"
#include "tools/ttap/backend.h"
#include "tools/ttap/run_command.h"

#if TTAP_HAVE_CUDA
// cudaSetDevice only: the group check opens one session per GPU, each on a thread whose current
// device is that GPU (how a session picks its GPU, as in a trainer).
#include <cuda_runtime_api.h>
#endif
#if TTAP_HAVE_NVTX3
#include <nvtx3/nvToolsExt.h>
#endif

extern char **environ;

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
  const char *name = dtype_option_name(t);
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

// The NCCL functions the checks call themselves (the group's own collectives are the runtime's,
// which finds NCCL in the process). NCCL is loaded for good: the runtime's communicators, split
// from the ones made here, are destroyed at their sessions' close, after the check returns.
struct nccl_functions {
  int (*comm_init_all)(void **comms, int ndev, const int *devlist) = nullptr;
  int (*comm_destroy)(void *comm) = nullptr;
  int (*all_reduce)(const void *send, void *recv, size_t count, int dtype, int op, void *comm,
                    void *stream) = nullptr;
  const char *(*error_string)(int result) = nullptr;

  std::string describe(const char *call, int rc) const {
    return std::string(call) + " failed (" + std::to_string(rc) + ": " +
           (error_string ? error_string(rc) : "?") + ")";
  }
};
constexpr int kNcclFloat32 = 7;  // ncclFloat32 and ncclSum, as nccl.h defines them
constexpr int kNcclSum = 0;

// Loads `path`, or libnccl.so.2 when it is empty, and finds the functions through the global scope:
// in a child under the hooks that is the hooks' interposers, as for a program linked with NCCL.
bool load_nccl(const std::string &path, nccl_functions *out, std::string *error) {
  std::vector<std::string> names;
  if (path.empty())
    names = {"libnccl.so.2", "libnccl.so"};
  else
    names = {path};
  void *handle = nullptr;
  std::string why;
  for (const auto &name : names) {
    if ((handle = dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL))) break;
    const char *e = dlerror();
    if (why.empty()) why = e ? e : name + ": cannot be loaded";
  }
  if (!handle) {
    *error = "NCCL not found (" + why + ")";
    return false;
  }
  auto get = [&](auto &fn, const char *name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(RTLD_DEFAULT, name));
    if (!fn && error->empty()) *error = std::string("NCCL has no ") + name;
  };
  error->clear();
  get(out->comm_init_all, "ncclCommInitAll");
  get(out->comm_destroy, "ncclCommDestroy");
  get(out->all_reduce, "ncclAllReduce");
  get(out->error_string, "ncclGetErrorString");
  return error->empty();
}

// Makes GPU `ordinal` current on the calling thread.
bool select_gpu(int ordinal, std::string *error) {
#if TTAP_HAVE_CUDA
  if (cudaError_t e = cudaSetDevice(ordinal); e != cudaSuccess) {
    *error = "cudaSetDevice(" + std::to_string(ordinal) + "): " + cudaGetErrorString(e);
    cudaGetLastError();
    return false;
  }
  return true;
#else
  (void)ordinal;
  *error = "this ttap was built without CUDA";
  return false;
#endif
}

// A stored sample as a summary, for compare(): sum_sq from the stored l2 (the data of these
// checks are far from overflowing its square).
summary summary_of_row(const sample_row &row) {
  summary s;
  summary_clear(s);
  s.count = row.count;
  s.nan = row.nan;
  s.pos_inf = row.pos_inf;
  s.neg_inf = row.neg_inf;
  s.zero = row.zero;
  s.subnormal = row.subnormal;
  s.min = row.min.value_or(INFINITY);
  s.max = row.max.value_or(-INFINITY);
  s.abs_max = row.abs_max.value_or(-INFINITY);
  s.sum = row.sum.value_or(0);
  s.sum_abs = row.sum_abs.value_or(0);
  s.sum_sq = row.l2 ? *row.l2 * *row.l2 : 0;
  if (row.hist) std::copy(row.hist->begin(), row.hist->end(), s.exp_hist);
  return s;
}

std::string make_temp_dir(const char *what) {
  char dir_template[] = "/tmp/ttap-selftest-XXXXXX";
  if (!mkdtemp(dir_template))
    throw std::runtime_error(std::string("cannot create a temporary directory for ") + what + ": " +
                             std::strerror(errno));
  return dir_template;
}

// The group check's tensors: per rank, an fp32 and a bf16 gradient (the same sizes on every rank:
// a group watches one tensor set), with -0 and a subnormal on rank 1. No NaN or Inf: the sessions'
// alerts would print on the selftest's stderr as if the user's run had them.
struct group_tensor {
  const char *name;
  dtype type;
  ttap_dtype api_type;
};
constexpr group_tensor kGroupTensors[] = {{"selftest.grad.f32", dtype::f32, TTAP_F32},
                                          {"selftest.grad.bf16", dtype::bf16, TTAP_BF16}};

std::vector<unsigned char> group_rank_data(const group_tensor &t, int rank) {
  std::mt19937_64 rng(100 + rank * 7 + int(t.type));
  // The same sizes on every rank: a group watches one tensor set (names, dtypes, sizes).
  const uint64_t n = t.type == dtype::f32 ? 40000 : 30001;
  std::vector<unsigned char> data(n * dtype_size(t.type));
  for (uint64_t i = 0; i < n; ++i) set_bits(data.data(), t.type, i, random_bits(t.type, rng));
  if (rank == 1) {
    set_bits(data.data(), t.type, 8, t.type == dtype::f32 ? 0x80000000u : 0x8000u);  // -0
    set_bits(data.data(), t.type, 13, 1);  // the smallest subnormal
  }
  return data;
}

// The NCCL group over every local GPU (or, under the test switch, two ranks on the emulated device
// over the NCCL library given): one thread per rank opens a session on its GPU, joins the group
// (ttap_set_group "nccl" on a communicator of ncclCommInitAll), watches its part of two gradients
// and takes a few steps; rank 0's store must hold, at every step all ranks sampled, the summary of
// the concatenated parts as the cpu executor computes it.
check_result group_check(const std::string &part, const options &opts, int gpus, bool emulated,
                         bool *exercised) {
  check_result r{part, "NCCL group over every local GPU", outcome::pass, ""};
  const int ranks = emulated ? 2 : gpus;
  if (ranks < 2) {
    r.result = outcome::skipped;
    r.detail = "needs two or more GPUs (" + std::to_string(gpus) + " found)";
    return r;
  }
  if (emulated && opts.nccl_library.empty()) {
    r.result = outcome::skipped;
    r.detail = "the emulated device has no NCCL (the tests give it one: --test-nccl-library)";
    return r;
  }
  nccl_functions nccl;
  std::string error;
  if (!load_nccl(opts.nccl_library, &nccl, &error)) {
    r.result = outcome::skipped;
    r.detail = error;
    return r;
  }
  *exercised = true;
  std::vector<std::string> dirs;
  std::vector<void *> comms(static_cast<size_t>(ranks), nullptr);
  try {
    std::vector<int> devlist(static_cast<size_t>(ranks));
    for (int k = 0; k < ranks; ++k) devlist[size_t(k)] = k;
    if (int rc = nccl.comm_init_all(comms.data(), ranks, devlist.data()); rc != 0)
      throw std::runtime_error(nccl.describe("ncclCommInitAll", rc));
    for (int k = 0; k < ranks; ++k) dirs.push_back(make_temp_dir("the group check"));

    // Every rank's parts, and the reference: the cpu executor over the concatenation.
    std::vector<std::vector<std::vector<unsigned char>>> data(static_cast<size_t>(ranks));
    std::vector<summary> want;
    for (const auto &t : kGroupTensors) {
      std::vector<unsigned char> all;
      for (int k = 0; k < ranks; ++k) {
        data[size_t(k)].push_back(group_rank_data(t, k));
        all.insert(all.end(), data[size_t(k)].back().begin(), data[size_t(k)].back().end());
      }
      want.push_back(
          cpu_executor().summarize({all.data(), t.type, all.size() / dtype_size(t.type)}));
    }
    if (opts.break_group) set_bits(data[1][0].data(), dtype::f32, 0, bits_from_float(1e30f));

    const int steps = 4;
    std::vector<std::string> errors(static_cast<size_t>(ranks));
    std::atomic<bool> setup_failed{false};
    std::barrier ready(ranks);
    auto rank_body = [&](int k) {
      std::string &err = errors[size_t(k)];
      std::unique_ptr<device> dev;
      std::vector<void *> ptrs;
      ttap_session *s = nullptr;
      auto local = [&] {  // everything before the group, which no other rank waits for
        if (!emulated) {
          std::string why;
          if (!select_gpu(k, &err)) return false;
          if (!(dev = make_cuda_device(&why))) return err = why, false;
        }
        for (const auto &bytes : data[size_t(k)]) {
          void *p = const_cast<unsigned char *>(bytes.data());
          if (dev) {
            if (dev->alloc(&p, bytes.size()) != device_status::ok ||
                dev->copy_to_device(p, bytes.data(), bytes.size(), nullptr) != device_status::ok ||
                dev->synchronize(nullptr) != device_status::ok)
              return err = "device memory: " + dev->last_error(), false;
          }
          ptrs.push_back(p);
        }
        const std::string o = std::string("backend=") + (emulated ? "emulated" : "cuda") +
                              ",budget=0,fp8_underflow=1,rank=" + std::to_string(k) +
                              ",world=" + std::to_string(ranks);
        if (ttap_open(dirs[size_t(k)].c_str(), o.c_str(), &s) != TTAP_OK)
          return err = std::string("ttap_open: ") + ttap_last_error(), false;
        return true;
      };
      if (!local()) setup_failed = true;
      // No rank enters the group's collectives unless every rank can: one missing would leave the
      // others waiting in ncclCommSplit for good.
      ready.arrive_and_wait();
      if (!setup_failed) {
        if (ttap_set_group(s, "nccl", comms[size_t(k)]) != TTAP_OK) {
          err = std::string("ttap_set_group: ") + ttap_last_error();
        } else {
          int32_t handle;
          for (size_t t = 0; t < std::size(kGroupTensors); ++t) {
            const auto &g = kGroupTensors[t];
            if (ttap_watch(s, g.name, ptrs[t], g.api_type,
                           data[size_t(k)][t].size() / dtype_size(g.type), TTAP_GRAD,
                           &handle) != TTAP_OK &&
                err.empty())
              err = std::string("ttap_watch: ") + ttap_last_error();
          }
          // Every rank steps even after an error, so that no other rank waits on it.
          for (int step = 0; step < steps; ++step) {
            if (ttap_step(s, step, nullptr) != TTAP_OK && err.empty())
              err = std::string("ttap_step: ") + ttap_last_error();
            // Lets the previous sample complete: a rank whose ring is full skips a step, and a
            // step some rank skipped is not compared.
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }
      }
      if (s && ttap_close(s) != TTAP_OK && err.empty())
        err = std::string("ttap_close: ") + ttap_last_error();
      if (dev)
        for (void *p : ptrs) dev->free(p);
    };
    std::vector<std::thread> threads;
    for (int k = 0; k < ranks; ++k) threads.emplace_back(rank_body, k);
    for (auto &t : threads) t.join();
    for (int k = 0; k < ranks; ++k)
      if (!errors[size_t(k)].empty())
        throw std::runtime_error("rank " + std::to_string(k) + ": " + errors[size_t(k)]);

    auto reader = run_reader::open(dirs[0], &error);
    if (!reader) throw std::runtime_error(error);
    std::vector<run_session_info> sessions;
    std::vector<rank_part_row> parts;
    if (!reader->sessions(&sessions) || !reader->rank_parts(&parts))
      throw std::runtime_error(reader->last_error());
    if (sessions.empty() || sessions[0].group_kind != "nccl" || sessions[0].group_size != ranks)
      throw std::runtime_error("rank 0's session is not in an nccl group of " +
                               std::to_string(ranks) + " ranks");
    // The steps at which every rank contributed its parts.
    std::map<int64_t, std::set<int32_t>> contributors;
    for (const auto &p : parts) contributors[p.step].insert(p.rank);
    int compared = 0, stored = 0;
    for (size_t t = 0; t < std::size(kGroupTensors); ++t) {
      std::vector<sample_row> rows;
      if (!reader->samples_of(kGroupTensors[t].name, true, &rows))
        throw std::runtime_error(reader->last_error());
      stored += int(rows.size());
      for (const auto &row : rows) {
        if (int(contributors[row.step].size()) != ranks) continue;
        ++compared;
        std::string err = compare(summary_of_row(row), want[t]);
        if (!err.empty() && r.result == outcome::pass) {
          r.result = outcome::fail;
          r.detail = std::string(kGroupTensors[t].name) + " at step " + std::to_string(row.step) +
                     " differs from the cpu executor over every rank's part: " + err;
        }
      }
    }
    if (r.result == outcome::pass) {
      if (compared < int(std::size(kGroupTensors))) {
        r.result = outcome::fail;
        r.detail = std::to_string(compared) + " group samples with every rank (" +
                   std::to_string(stored) + " stored): too few to compare";
      } else {
        r.detail = std::to_string(ranks) + " ranks (" + (emulated ? "emulated device, " : "") +
                   std::to_string(steps) + " steps): " + std::to_string(compared) + " of " +
                   std::to_string(stored) +
                   " merged samples had every rank and agree with the cpu executor over the "
                   "concatenated parts";
      }
    }
  } catch (const std::exception &e) {
    r.result = outcome::fail;
    r.detail = e.what();
  }
  for (void *c : comms)
    if (c) nccl.comm_destroy(c);
  std::error_code ec;
  for (const auto &d : dirs) std::filesystem::remove_all(d, ec);
  return r;
}

// The injection child's buffer: known values, so the parent knows its summary.
constexpr uint64_t kChildNumel = 4096;
constexpr int kChildSteps = 4;
constexpr const char *kChildStepRange = "ttap_selftest_step";
constexpr const char *kChildTensor = "ttap_selftest_step/layer/nccl.allreduce.0";

std::vector<float> child_buffer() {
  std::vector<float> v(kChildNumel);
  for (uint64_t i = 0; i < kChildNumel; ++i) v[i] = float(int(i % 16) - 8) * 0.25f;
  return v;
}

// Runs `argv` with `env`, stdout and stderr into `log`; waits up to `timeout`, then kills it.
// Its exit status (128 + signal when killed), or -1 with *error when it could not start or ran
// out of time.
int run_child(const std::vector<std::string> &argv, const std::vector<std::string> &env,
              const std::string &log, std::chrono::seconds timeout, std::string *error) {
  std::vector<char *> args, envp;
  for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  for (const auto &e : env) envp.push_back(const_cast<char *>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *error = "cannot start " + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  const auto deadline = clock_type::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      *error = std::string("waitpid: ") + std::strerror(errno);
      return -1;
    }
    if (clock_type::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      *error = "the child did not end within " + std::to_string(timeout.count()) + " s (killed)";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string file_tail(const std::string &path, size_t bytes) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  if (text.size() > bytes) text = "..." + text.substr(text.size() - bytes);
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

// The hooks injected into a child, as `ttap run` sets them up (libttap_inject preloaded and named
// by CUDA_INJECTION64_PATH and NVTX_INJECTION64_PATH): this ttap re-run as the child, whose steps
// run in NVTX ranges and reduce a known buffer with NCCL. The child's run directory must then hold
// samples of that buffer named by the NVTX ranges and, on a GPU with CUPTI, the kernel timing.
check_result injection_check(const std::string &part, const options &opts, bool emulated,
                             bool cupti_found, bool *exercised) {
  check_result r{part, "CUPTI/NVTX injection in a child process", outcome::pass, ""};
#if !TTAP_HAVE_NVTX3
  r.result = outcome::skipped;
  r.detail = "this ttap was built without the NVTX 3 headers";
  return r;
#endif
  const std::string lib = cli::inject_library_path();
  if (lib.empty()) {
    r.result = outcome::skipped;
    r.detail = "libttap_inject.so is not in the lib directory next to ttap's bin directory";
    return r;
  }
  if (emulated && opts.nccl_library.empty()) {
    r.result = outcome::skipped;
    r.detail = "the emulated device has no NCCL (the tests give it one: --test-nccl-library)";
    return r;
  }
  nccl_functions probe;
  std::string error;
  if (!emulated && !load_nccl("", &probe, &error)) {
    r.result = outcome::skipped;
    r.detail = error + ": the child's samples come from its NCCL calls";
    return r;
  }
  *exercised = true;
  std::string dir;
  try {
    dir = make_temp_dir("the injection check");
    const std::string run_dir = dir + "/run", log = dir + "/child.log";
    std::error_code ec;
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) throw std::runtime_error("cannot find this executable: " + ec.message());
    std::vector<std::string> argv = {exe, "selftest", "--injection-child"};
    if (emulated) argv.push_back("--test-cuda-on-emulated");
    if (!opts.nccl_library.empty())
      argv.insert(argv.end(), {"--test-nccl-library", opts.nccl_library});

    // The environment: this one, less what the child must get from us.
    std::vector<std::string> env;
    for (char **e = environ; *e; ++e) {
      std::string v = *e;
      std::string name = v.substr(0, v.find('='));
      if (name == "CUDA_INJECTION64_PATH" || name == "NVTX_INJECTION64_PATH" ||
          name == "LD_PRELOAD" || name.rfind("TTAP_", 0) == 0)
        continue;
      env.push_back(v);
    }
    env.push_back("LD_PRELOAD=" + lib);
    env.push_back("CUDA_INJECTION64_PATH=" + lib);
    if (!opts.break_injection) env.push_back("NVTX_INJECTION64_PATH=" + lib);
    env.push_back("TTAP_RUN_DIR=" + run_dir);
    env.push_back("TTAP_BUDGET=0");
    env.push_back(std::string("TTAP_STEP_RANGE=") + kChildStepRange);
    env.push_back(std::string("TTAP_BACKEND=") + (emulated ? "emulated" : "cuda"));

    int status = run_child(argv, env, log, std::chrono::seconds(120), &error);
    if (status != 0) {
      throw std::runtime_error(
          (status < 0 ? error : "the child exited with status " + std::to_string(status)) + ": " +
          file_tail(log, 600));
    }
    auto reader = run_reader::open(run_dir, &error);
    if (!reader) throw std::runtime_error("the child's run: " + error + "; " + file_tail(log, 400));
    std::vector<sample_row> rows;
    std::vector<tensor_row> tensors;
    if (!reader->samples_of(kChildTensor, true, &rows) || !reader->tensors(&tensors))
      throw std::runtime_error(reader->last_error());
    std::vector<float> buffer = child_buffer();
    const summary want = cpu_executor().summarize({buffer.data(), dtype::f32, kChildNumel});
    std::string names;
    for (const auto &t : tensors) names += (names.empty() ? "" : ", ") + t.name;
    if (rows.empty()) {
      r.result = outcome::fail;
      r.detail = std::string("no sample of ") + kChildTensor + " (the NVTX ranges name it) in " +
                 "the child's run; its tensors: " + (names.empty() ? "none" : names);
      return r;
    }
    for (const auto &row : rows) {
      std::string err = compare(summary_of_row(row), want);
      if (!err.empty()) {
        r.result = outcome::fail;
        r.detail = "step " + std::to_string(row.step) + " differs from the child's buffer: " + err;
        return r;
      }
    }
    r.detail = std::to_string(rows.size()) + " of " + std::to_string(kChildSteps) +
               " NCCL-hooked samples named by the NVTX ranges, values right; ";
    if (emulated) {
      r.detail += "CUPTI not exercised (no kernel timing on the emulated device)";
    } else if (!cupti_found) {
      r.detail += "CUPTI not exercised (libcupti not found)";
    } else {
      std::vector<scalar_row> kernels;
      if (!reader->scalars("cupti.kernels", &kernels))
        throw std::runtime_error(reader->last_error());
      if (kernels.empty()) {
        r.result = outcome::fail;
        r.detail +=
            "but no kernel timing from CUPTI (scalar cupti.kernels): " + file_tail(log, 400);
      } else {
        r.detail += "CUPTI timed kernels in " + std::to_string(kernels.size()) + " steps";
      }
    }
  } catch (const std::exception &e) {
    r.result = outcome::fail;
    r.detail = e.what();
  }
  std::error_code ec;
  if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  return r;
}

// Each library found stays mapped after its dlclose (RTLD_NODELETE): NVIDIA's libcupti links
// libstdc++ statically, and that copy's initializer allocates its 72 KiB emergency exception pool,
// which nothing frees; unloading the library would drop the only pointer to it (LeakSanitizer
// reported 73,728 bytes from an unnamed module).
library_info find_library(const char *const *names, const char *version_symbol) {
  library_info info;
  for (const char *const *name = names; *name; ++name) {
    void *lib = dlopen(*name, RTLD_LAZY | RTLD_LOCAL | RTLD_NODELETE);
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
    // Both need a GPU: the group one per rank, the injection child one for its CUDA calls.
    add({"cuda", "NCCL group over every local GPU", outcome::skipped, "not exercised: " + why_not});
    add({"cuda", "CUPTI/NVTX injection in a child process", outcome::skipped,
         "not exercised: " + why_not});
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
  add(group_check("cuda", opts, int(out.found.cuda.gpus.size()), emulated, &out.group_exercised));
  add(injection_check("cuda", opts, emulated, out.found.cupti.found, &out.injection_exercised));
  return out;
}

int run_injection_child(const options &opts) {
  auto fail = [](const std::string &why) {
    std::fprintf(stderr, "ttap selftest child: %s\n", why.c_str());
    return 2;
  };
#if TTAP_HAVE_NVTX3
  nccl_functions nccl;
  std::string error;
  if (!load_nccl(opts.nccl_library, &nccl, &error)) return fail(error);
  // In static storage, never freed: on the emulated device the hooks' samples read the buffers on
  // their own stream, as late as the session's close at exit.
  static float host[kChildNumel], host_result[kChildNumel];
  const std::vector<float> values = child_buffer();
  std::copy(values.begin(), values.end(), host);
  std::unique_ptr<device> dev;
  void *buffer = host, *result = nullptr;
  if (!opts.cuda_on_emulated) {
    if (!(dev = make_cuda_device(&error))) return fail(error);
    if (dev->alloc(&buffer, kChildNumel * 4) != device_status::ok ||
        dev->alloc(&result, kChildNumel * 4) != device_status::ok ||
        dev->copy_to_device(buffer, host, kChildNumel * 4, nullptr) != device_status::ok ||
        dev->synchronize(nullptr) != device_status::ok)
      return fail("device memory: " + dev->last_error());
  } else {
    result = host_result;
  }
  void *comm = nullptr;
  int device_zero = 0;
  if (int rc = nccl.comm_init_all(&comm, 1, &device_zero); rc != 0)
    return fail(nccl.describe("ncclCommInitAll", rc));
  // On a GPU each step also runs the fused kernel over the buffer: a kernel for CUPTI to time.
  std::unique_ptr<sample_ring> ring;
  if (dev) ring = std::make_unique<sample_ring>(*dev, 1);
  const device_tensor tensor{buffer, dtype::f32, kChildNumel, false};
  for (int step = 0; step < kChildSteps; ++step) {
    nvtxRangePushA(kChildStepRange);
    nvtxRangePushA("layer");
    int rc = nccl.all_reduce(buffer, result, kChildNumel, kNcclFloat32, kNcclSum, comm, nullptr);
    nvtxRangePop();
    if (rc != 0) return fail(nccl.describe("ncclAllReduce", rc));
    if (ring) {
      summary got;
      try {
        timed_sample(*dev, *ring, tensor, &got);
      } catch (const std::exception &e) {
        return fail(e.what());
      }
    }
    nvtxRangePop();
  }
  if (dev && dev->synchronize(nullptr) != device_status::ok)
    return fail("synchronize: " + dev->last_error());
  nccl.comm_destroy(comm);
  if (dev) {
    dev->free(buffer);
    dev->free(result);
  }
  return 0;
#else
  (void)opts;
  return fail("this ttap was built without the NVTX 3 headers");
#endif
}

}  // namespace ttap::selftest
