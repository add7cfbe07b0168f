// The fused summary kernel run by the SIMT emulator, in forward and reverse thread order, against
// the long-double reference and the cpu executor: every dtype, the known traps, many tensors in one
// launch, and a deliberately broken variant the emulator must catch.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "kernels/cpu/cpu_executor.h"
#include "kernels/simt/launch.h"
#include "runtime/sample_ring.h"
#include "tests/kernels/reference_summary.h"

namespace ttap {
namespace {

using testing::compare_with_reference;
using testing::summarize_reference;

// The kernel sums at most 16 values per fp32 group before fp64; the same bound as the cpu executor.
constexpr double kSumTolerance = 2e-6;

const dtype kAllDtypes[] = {dtype::f32,    dtype::f16,    dtype::bf16,
                            dtype::f8e4m3, dtype::f8e5m2, dtype::f64};

// Host memory with a chosen misalignment: the emulated device reads host memory directly.
struct buffer {
  dtype type;
  uint64_t numel;
  std::vector<unsigned char> bytes;
  size_t offset;
  buffer(dtype t, uint64_t n, size_t misalign = 0)
      : type(t), numel(n), bytes(n * dtype_size(t) + 64), offset(misalign) {}
  void *data() { return bytes.data() + offset; }
  void set(uint64_t i, uint64_t bits) {
    std::memcpy(bytes.data() + offset + i * dtype_size(type), &bits, dtype_size(type));
  }
  device_tensor tensor(bool fingerprint = true) { return {data(), type, numel, fingerprint}; }
};

// Bits of a finite value near v in dtype t (narrow types through the reference decoder's table).
uint64_t bits_near(dtype t, double v) {
  if (t == dtype::f64) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    return b;
  }
  float f = float(v);
  uint32_t b32;
  std::memcpy(&b32, &f, 4);
  switch (t) {
    case dtype::f32:
      return b32;
    case dtype::bf16:
      return b32 >> 16;
    default:
      break;
  }
  int width = 8 * dtype_size(t);
  uint64_t best = 0;
  long double best_err = INFINITY;
  for (uint64_t b = 0; b < (uint64_t(1) << (width - 1)); ++b) {
    long double x;
    auto c = testing::decode_reference(t, b, x);
    if (c == testing::value_class::nan || c == testing::value_class::pos_inf) continue;
    if (std::fabs(x - std::fabs((long double)v)) < best_err) {
      best_err = std::fabs(x - std::fabs((long double)v));
      best = b;
    }
  }
  return best | (v < 0 ? uint64_t(1) << (width - 1) : 0);
}

// Runs one sample on the emulated device with the given thread order and waits for it.
std::vector<summary> run_emulated(std::span<const device_tensor> tensors, simt::thread_order order,
                                  uint64_t *launches = nullptr) {
  auto dev = make_emulated_device();
  sample_ring ring(*dev);
  simt::launch_options options = simt::default_launch_options();
  options.order = order;
  simt::scoped_launch_options scoped(options);
  int slot = ring.submit(tensors, nullptr);
  EXPECT_GE(slot, 0) << ring.last_error();
  if (slot < 0) return {};
  device_status st;
  while ((st = ring.poll(slot)) == device_status::not_ready) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  EXPECT_EQ(st, device_status::ok) << ring.last_error();
  if (launches) *launches = ring.launches();
  auto results = ring.results(slot);
  return {results.begin(), results.end()};
}

// Both thread orders against the reference (fingerprint included) and against the cpu executor
// (integer fields and min/max identical).
void expect_matches(std::vector<buffer> &bufs, const std::string &what) {
  std::vector<device_tensor> tensors;
  std::vector<tensor_view> views;
  for (auto &b : bufs) {
    tensors.push_back(b.tensor());
    views.push_back({b.data(), b.type, b.numel});
  }
  std::vector<summary> cpu(views.size());
  cpu_executor({0, true, true}).summarize(views, cpu);
  for (auto order : {simt::thread_order::forward, simt::thread_order::reverse}) {
    std::vector<summary> got = run_emulated(tensors, order);
    ASSERT_EQ(got.size(), bufs.size());
    for (size_t i = 0; i < bufs.size(); ++i) {
      auto ref = summarize_reference(bufs[i].data(), bufs[i].type, bufs[i].numel);
      const char *order_name = order == simt::thread_order::forward ? "forward" : "reverse";
      EXPECT_EQ(compare_with_reference(got[i], ref, kSumTolerance, true), "")
          << what << " tensor " << i << " dtype " << int(bufs[i].type) << " n " << bufs[i].numel
          << " " << order_name;
      EXPECT_EQ(got[i].zero, cpu[i].zero);
      EXPECT_EQ(got[i].subnormal, cpu[i].subnormal);
      EXPECT_EQ(got[i].nan + got[i].pos_inf + got[i].neg_inf,
                cpu[i].nan + cpu[i].pos_inf + cpu[i].neg_inf);
      EXPECT_EQ(std::memcmp(got[i].exp_hist, cpu[i].exp_hist, sizeof got[i].exp_hist), 0)
          << what << " " << i;
      EXPECT_EQ(got[i].fingerprint, cpu[i].fingerprint) << what << " " << i;
    }
  }
}

TEST(FusedStats, RandomDataEveryDtypeBothOrders) {
  std::mt19937_64 rng(42);
  std::vector<buffer> bufs;
  for (dtype t : kAllDtypes) {
    for (uint64_t n : {uint64_t(1000), uint64_t(70001)}) {
      bufs.emplace_back(t, n);
      std::normal_distribution<double> nd(0.0, t == dtype::f8e4m3 ? 4.0 : 0.02);
      std::vector<uint64_t> table;  // narrow types: a few hundred distinct values, looked up
      for (int k = 0; k < 512; ++k) table.push_back(bits_near(t, nd(rng)));
      for (uint64_t i = 0; i < n; ++i)
        bufs.back().set(i, dtype_size(t) >= 4 ? bits_near(t, nd(rng)) : table[rng() % 512]);
    }
  }
  expect_matches(bufs, "normal data");
}

TEST(FusedStats, EveryBitPatternOfNarrowDtypes) {
  std::mt19937_64 rng(7);
  std::vector<buffer> bufs;
  for (dtype t : {dtype::f16, dtype::bf16, dtype::f8e4m3, dtype::f8e5m2}) {
    uint64_t n = uint64_t(1) << (8 * dtype_size(t));
    bufs.emplace_back(t, n, 1);  // misaligned on purpose
    std::vector<uint64_t> order(n);
    for (uint64_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (uint64_t i = 0; i < n; ++i) bufs.back().set(i, order[i]);
  }
  expect_matches(bufs, "every bit pattern");
}

TEST(FusedStats, TrapsOfTheCoreIssue) {
  std::vector<buffer> bufs;
  for (dtype t : kAllDtypes) {
    testing::minifloat_format f = testing::format_of(t);
    int width = 8 * dtype_size(t);
    uint64_t sign = uint64_t(1) << (width - 1);
    for (uint64_t n : {0, 1, 3, 7}) {  // empty and tiny, misaligned by an odd byte count
      bufs.emplace_back(t, n, 3);
      for (uint64_t i = 0; i < n; ++i) bufs.back().set(i, bits_near(t, double(i) - 1.5));
    }
    bufs.emplace_back(t, 777);  // all NaN
    for (uint64_t i = 0; i < 777; ++i) bufs.back().set(i, (sign - 1) | (i % 2 ? sign : 0));
    if (t != dtype::f8e4m3) {  // infinities among finite values
      uint64_t inf = ((uint64_t(1) << f.exp_bits) - 1) << f.mant_bits;
      bufs.emplace_back(t, 5000);
      for (uint64_t i = 0; i < 5000; ++i)
        bufs.back().set(i, i % 97 == 0   ? inf
                           : i % 89 == 0 ? (inf | sign)
                                         : bits_near(t, double(i % 11) - 5));
    }
    bufs.emplace_back(t, 3001);  // subnormals of the dtype among its smallest normals
    for (uint64_t i = 0; i < 3001; ++i) {
      uint64_t mant = (i * 2654435761u) & ((uint64_t(1) << f.mant_bits) - 1);
      bufs.back().set(i, i % 3 == 0 ? mant : ((uint64_t(1) << f.mant_bits) | mant));
    }
  }
  bufs.emplace_back(dtype::f32, 10000);  // near fp32 max: squares must not overflow
  for (uint64_t i = 0; i < 10000; ++i)
    bufs.back().set(
        i, bits_near(dtype::f32, (i % 2 ? 1 : -1) * 3.0e38 * (1 - 1e-3 * double(i % 100))));
  bufs.emplace_back(dtype::f32, 10000);  // tiny only: fp32 squares would vanish
  for (uint64_t i = 0; i < 10000; ++i)
    bufs.back().set(i, bits_near(dtype::f32, 1e-30 * (1 + i % 17)));
  for (double scale : {1e300, 1e-300}) {  // fp64 whose squares leave double's range
    bufs.emplace_back(dtype::f64, 70000);
    for (uint64_t i = 0; i < 70000; ++i)
      bufs.back().set(i, bits_near(dtype::f64, i < 69000 ? scale * (1 + i % 7) : 0.5));
  }
  expect_matches(bufs, "traps");
}

// 5120 bf16 ones: L1 must be exactly 5120.
TEST(FusedStats, Bf16OnesSumExactly) {
  buffer ones(dtype::bf16, 5120);
  for (uint64_t i = 0; i < 5120; ++i) ones.set(i, 0x3f80);
  device_tensor t = ones.tensor();
  for (auto order : {simt::thread_order::forward, simt::thread_order::reverse}) {
    summary_derived d = summary_finalize(run_emulated({&t, 1}, order)[0]);
    EXPECT_EQ(d.l1, 5120.0);
    EXPECT_EQ(d.l2, std::sqrt(5120.0));
  }
}

// A thousand tensors mixing empty, tiny, large and misaligned ones: one launch, every slot right.
TEST(FusedStats, ThousandTensorsInOneLaunch) {
  std::mt19937_64 rng(99);
  std::vector<buffer> bufs;
  for (int k = 0; k < 1000; ++k) {
    dtype t = kAllDtypes[k % 6];
    uint64_t n = k % 7 == 0 ? 0 : k % 50 == 1 ? 200000 : uint64_t(1 + rng() % 3000);
    bufs.emplace_back(t, n, size_t(k % 5));
    for (uint64_t i = 0; i < n; ++i)
      bufs.back().set(i, rng() & ((uint64_t(1) << (8 * dtype_size(t) - 2)) - 1));
  }
  std::vector<device_tensor> tensors;
  for (auto &b : bufs) tensors.push_back(b.tensor());
  uint64_t launches = 0;
  std::vector<summary> got = run_emulated(tensors, simt::thread_order::forward, &launches);
  EXPECT_EQ(launches, 1u);
  ASSERT_EQ(got.size(), bufs.size());
  int mismatched = 0;
  for (size_t i = 0; i < bufs.size(); ++i) {
    auto ref = summarize_reference(bufs[i].data(), bufs[i].type, bufs[i].numel);
    std::string err = compare_with_reference(got[i], ref, kSumTolerance, true);
    if (!err.empty() && ++mismatched < 5) ADD_FAILURE() << "tensor " << i << ": " << err;
  }
  EXPECT_EQ(mismatched, 0);
}

TEST(FusedStats, ReproducibleBitForBit) {
  std::mt19937_64 rng(5);
  buffer b(dtype::f32, 1 << 20);
  std::normal_distribution<float> nd(0, 1);
  for (uint64_t i = 0; i < b.numel; ++i) {
    float v = nd(rng);
    uint32_t u;
    std::memcpy(&u, &v, 4);
    b.set(i, u);
  }
  device_tensor t = b.tensor();
  summary first = run_emulated({&t, 1}, simt::thread_order::forward)[0];
  for (auto order : {simt::thread_order::forward, simt::thread_order::reverse}) {
    summary again = run_emulated({&t, 1}, order)[0];
    EXPECT_EQ(std::memcmp(&first, &again, sizeof first), 0);
  }
}

// 2^31 + 77 one-byte elements through the emulator: 64-bit indices all the way. Not under
// AddressSanitizer (`make test-asan`): there 2^31 elements ran past ctest's 600 s when every fiber
// had a fake stack of its own mapped and unmapped (3 x 2^20 floats took 6.5 s against 0.9 s with
// detect_stack_use_after_return off); fibers reuse one since, not re-measured at 2^31. The release
// suite of `make test` runs it; the ASan pass keeps the cpu executor's 2^31 test
// (CpuExecutor.MoreThan2To31Elements, 14 s), where a 32-bit index would read out of bounds.
TEST(FusedStats, MoreThan2To31Elements) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "2^31 elements through the emulator take over 600 s under ASan; the release "
                  "suite runs this test";
#endif
  const uint64_t n = (uint64_t(1) << 31) + 77;
  std::vector<uint8_t> data(n, 0x38);  // e4m3 1.0
  data[n - 1] = 0x7f;                  // NaN, past 2^31
  data[n - 2] = 0x00;
  data[uint64_t(1) << 31] = 0x40;  // 2.0 at index 2^31
  device_tensor t{data.data(), dtype::f8e4m3, n, false};
  summary s = run_emulated({&t, 1}, simt::thread_order::forward)[0];
  EXPECT_EQ(s.count, n);
  EXPECT_EQ(s.nan, 1u);
  EXPECT_EQ(s.zero, 1u);
  EXPECT_EQ(s.exp_hist[0 - kExpHistMin], n - 3);
  EXPECT_EQ(s.exp_hist[1 - kExpHistMin], 1u);
  EXPECT_EQ(s.sum, double(n - 3) + 2.0);
  EXPECT_EQ(s.max, 2.0);
}

}  // namespace
}  // namespace ttap
