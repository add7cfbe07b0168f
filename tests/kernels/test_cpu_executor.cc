// The cpu executor against the long-double reference: every dtype, both code paths (AVX-512 and
// portable), several thread counts, random data and the known traps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/chunk.h"
#include "kernels/cpu/cpu_executor.h"
#include "tests/kernels/reference_summary.h"

namespace ttap {
namespace {

using testing::compare_with_reference;
using testing::summarize_reference;

constexpr double kSumTolerance = 2e-6;  // relative; the executor sums 16 values per fp32 lane

const dtype kAllDtypes[] = {dtype::f32,    dtype::f16,    dtype::bf16,
                            dtype::f8e4m3, dtype::f8e5m2, dtype::f64};

std::string_view name_of(dtype t) { return dtype_option_name(t); }

// Raw element storage for any dtype, with room to start the data at any byte offset.
struct buffer {
  dtype type;
  uint64_t numel;
  std::vector<unsigned char> bytes;
  size_t offset;

  buffer(dtype t, uint64_t n, size_t misalign = 0)
      : type(t), numel(n), bytes(n * dtype_size(t) + 64), offset(misalign) {}
  void *data() { return bytes.data() + offset; }
  void set_bits(uint64_t i, uint64_t bits) {
    std::memcpy(bytes.data() + offset + i * dtype_size(type), &bits, dtype_size(type));
  }
  tensor_view view() { return {data(), type, numel}; }
};

// Rounds a double to the nearest value of a narrow dtype by searching its bit patterns' order:
// exact and independent of the executor's decoders (used only to build test data).
uint64_t encode(dtype t, double v) {
  if (t == dtype::f64) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    return b;
  }
  if (t == dtype::f32) {
    float f = float(v);
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
  }
  // Narrow types: pick the closest positive pattern, then set the sign.
  int width = 8 * dtype_size(t);
  uint64_t sign = v < 0 ? uint64_t(1) << (width - 1) : 0;
  long double target = std::fabs((long double)v), best_err = INFINITY;
  uint64_t best = 0;
  for (uint64_t b = 0; b < (uint64_t(1) << (width - 1)); ++b) {
    long double x;
    auto c = testing::decode_reference(t, b, x);
    if (c == testing::value_class::nan || c == testing::value_class::pos_inf) continue;
    if (std::fabs(x - target) < best_err) {
      best_err = std::fabs(x - target);
      best = b;
    }
  }
  return best | sign;
}

// Encoding tables for narrow types, so random data is cheap to build.
struct encoder {
  dtype type;
  std::vector<double> values;  // sorted finite non-negative values
  std::vector<uint64_t> bits;

  explicit encoder(dtype t) : type(t) {
    if (dtype_size(t) > 2) return;
    int width = 8 * dtype_size(t);
    for (uint64_t b = 0; b < (uint64_t(1) << (width - 1)); ++b) {
      long double x;
      auto c = testing::decode_reference(t, b, x);
      if (c == testing::value_class::nan || c == testing::value_class::pos_inf) continue;
      values.push_back(double(x));
      bits.push_back(b);
    }
  }
  uint64_t operator()(double v) const {
    if (dtype_size(type) > 2) return encode(type, v);
    double a = std::fabs(v);
    size_t k = std::lower_bound(values.begin(), values.end(), a) - values.begin();
    if (k == values.size()) k = values.size() - 1;
    if (k > 0 && a - values[k - 1] < values[k] - a) --k;
    uint64_t sign = v < 0 ? uint64_t(1) << (8 * dtype_size(type) - 1) : 0;
    return bits[k] | sign;
  }
};

struct executor_config {
  bool simd;
  int threads;
};

std::vector<executor_config> configs() {
  return {{true, 1}, {true, 2}, {true, 3}, {false, 1}, {false, 2}};
}

// Summarizes with every configuration and checks each against the reference.
void expect_matches_reference(buffer &buf, const std::string &what, double tol = kSumTolerance) {
  testing::reference_summary ref = summarize_reference(buf.data(), buf.type, buf.numel);
  for (auto c : configs()) {
    cpu_executor ex({c.threads, true, c.simd});
    summary s = ex.summarize(buf.view());
    std::string err = compare_with_reference(s, ref, tol, /*check_fingerprint=*/true);
    EXPECT_EQ(err, "") << what << " dtype " << name_of(buf.type) << " n=" << buf.numel << " isa "
                       << ex.isa() << " threads " << c.threads;
  }
}

TEST(CpuExecutor, RandomDataEveryDtype) {
  std::mt19937_64 rng(42);
  for (dtype t : kAllDtypes) {
    encoder enc(t);
    for (uint64_t n : {uint64_t(1000), uint64_t(4099), uint64_t(300000)}) {
      buffer buf(t, n);
      std::normal_distribution<double> nd(0.0, t == dtype::f8e4m3 ? 4.0 : 0.02);
      for (uint64_t i = 0; i < n; ++i) buf.set_bits(i, enc(nd(rng)));
      expect_matches_reference(buf, "normal data");
    }
  }
}

// Every bit pattern of the 8- and 16-bit dtypes, in a shuffled order: every NaN payload, both
// infinities, both zeros, every subnormal and every normal value.
TEST(CpuExecutor, EveryBitPatternOfNarrowDtypes) {
  std::mt19937_64 rng(7);
  for (dtype t : {dtype::f16, dtype::bf16, dtype::f8e4m3, dtype::f8e5m2}) {
    uint64_t n = uint64_t(1) << (8 * dtype_size(t));
    buffer buf(t, n);
    std::vector<uint64_t> order(n);
    for (uint64_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (uint64_t i = 0; i < n; ++i) buf.set_bits(i, order[i]);
    expect_matches_reference(buf, "every bit pattern");
  }
}

TEST(CpuExecutor, EmptyAndTinyLengthsAndMisalignedStarts) {
  std::mt19937_64 rng(3);
  for (dtype t : kAllDtypes) {
    encoder enc(t);
    for (uint64_t n : {0, 1, 3, 7, 255, 256, 257, 511}) {
      for (size_t misalign : {0, 1, 3}) {
        buffer buf(t, n, misalign);
        std::uniform_real_distribution<double> ud(-3, 3);
        for (uint64_t i = 0; i < n; ++i) buf.set_bits(i, enc(ud(rng)));
        expect_matches_reference(buf, "n/misalign " + std::to_string(misalign));
      }
    }
  }
}

// Tails that end in the first or the second half of a batch (the AVX-512 loop skips an empty
// second half), alone and after full batches, holding NaN, infinities, zeros, subnormals and
// values far outside the histogram window in their last elements.
TEST(CpuExecutor, ShortTailsWithSpecialValues) {
  std::mt19937_64 rng(11);
  for (dtype t : kAllDtypes) {
    encoder enc(t);
    testing::minifloat_format f = testing::format_of(t);
    const int width = 8 * dtype_size(t);
    const uint64_t sign = uint64_t(1) << (width - 1);
    const uint64_t exp_all = ((uint64_t(1) << f.exp_bits) - 1) << f.mant_bits;
    const uint64_t nan_bits = sign - 1;  // all ones below the sign: a NaN in every format
    for (uint64_t n : {uint64_t(17), uint64_t(200), uint64_t(256), uint64_t(300),
                       uint64_t(512 + 40), uint64_t(1024 + 250)}) {
      buffer buf(t, n, 1);
      std::normal_distribution<double> nd(0, 0.02);
      for (uint64_t i = 0; i < n; ++i) buf.set_bits(i, enc(nd(rng)));
      buf.set_bits(n - 1, nan_bits);
      buf.set_bits(n - 2, 1);         // the smallest subnormal
      buf.set_bits(n - 3, sign);      // -0
      buf.set_bits(n - 4, enc(3.0));  // far above the window the first batch chose
      if (t != dtype::f8e4m3) buf.set_bits(n - 5, exp_all | sign);  // -Inf
      expect_matches_reference(buf, "short tail, special values");
    }
  }
}

TEST(CpuExecutor, EmptyTensorHasNoFiniteValues) {
  cpu_executor ex;
  summary s = ex.summarize({nullptr, dtype::f32, 0});
  summary_derived d = summary_finalize(s);
  EXPECT_EQ(s.count, 0u);
  EXPECT_FALSE(d.has_finite);
  EXPECT_TRUE(std::isnan(d.mean));
  EXPECT_EQ(d.l2, 0.0);
}

TEST(CpuExecutor, AllNanAndInfinities) {
  for (dtype t : kAllDtypes) {
    uint64_t n = 1000;
    buffer all_nan(t, n), infs(t, n);
    int width = 8 * dtype_size(t);
    uint64_t sign = uint64_t(1) << (width - 1);
    // A NaN pattern of each format: all ones below the sign bit.
    uint64_t nan_bits = sign - 1;
    for (uint64_t i = 0; i < n; ++i) all_nan.set_bits(i, nan_bits | (i % 2 ? sign : 0));
    expect_matches_reference(all_nan, "all NaN");
    if (t == dtype::f8e4m3) continue;  // no infinities in e4m3fn
    testing::minifloat_format f = testing::format_of(t);
    uint64_t inf_bits = ((uint64_t(1) << f.exp_bits) - 1) << f.mant_bits;
    encoder enc(t);
    for (uint64_t i = 0; i < n; ++i) {
      infs.set_bits(i, i % 5 == 0   ? inf_bits
                       : i % 7 == 0 ? (inf_bits | sign)
                                    : enc(double(i % 13) - 6));
    }
    expect_matches_reference(infs, "infinities mixed with finite values");
    cpu_executor ex;
    summary_derived d = summary_finalize(ex.summarize(infs.view()));
    EXPECT_TRUE(std::isfinite(d.l2)) << name_of(t);
  }
}

TEST(CpuExecutor, SubnormalsOfEachDtypeAreCountedInTheirOwnDtype) {
  for (dtype t : kAllDtypes) {
    testing::minifloat_format f = testing::format_of(t);
    uint64_t n = 3000;
    buffer buf(t, n);
    uint64_t expected = 0;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t mant = (i * 2654435761u) & ((uint64_t(1) << f.mant_bits) - 1);
      bool sub = i % 3 == 0;
      uint64_t bits = sub ? mant : ((uint64_t(1) << f.mant_bits) | mant);  // exp 0 or 1
      if (sub && mant != 0) ++expected;
      buf.set_bits(i, bits);
    }
    expect_matches_reference(buf, "subnormals");
    cpu_executor ex;
    EXPECT_EQ(ex.summarize(buf.view()).subnormal, expected) << name_of(t);
  }
}

// 5120 bf16 ones: any accumulation in bf16 (or a careless fp16 one) loses the count; L1 must be
// exactly 5120.
TEST(CpuExecutor, Bf16OnesSumExactly) {
  buffer buf(dtype::bf16, 5120);
  for (uint64_t i = 0; i < 5120; ++i) buf.set_bits(i, 0x3f80);
  for (auto c : configs()) {
    cpu_executor ex({c.threads, false, c.simd});
    summary_derived d = summary_finalize(ex.summarize(buf.view()));
    EXPECT_EQ(d.l1, 5120.0) << ex.isa();
    EXPECT_EQ(d.l2, std::sqrt(5120.0)) << ex.isa();
    EXPECT_EQ(d.mean, 1.0);
    EXPECT_EQ(d.std, 0.0);
  }
}

// Values near fp32 max square to ~1e77: sum_sq must stay finite and accurate.
TEST(CpuExecutor, NearFp32MaxDoesNotOverflow) {
  buffer buf(dtype::f32, 10000);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> ud(1e30, 3.4e38);
  for (uint64_t i = 0; i < buf.numel; ++i)
    buf.set_bits(i, encode(dtype::f32, i % 2 ? ud(rng) : -ud(rng)));
  expect_matches_reference(buf, "near fp32 max");
}

// Tiny values only: their fp32 squares would be subnormal or zero.
TEST(CpuExecutor, TinyValuesKeepTheirSquares) {
  buffer buf(dtype::f32, 10000);
  for (uint64_t i = 0; i < buf.numel; ++i)
    buf.set_bits(i, encode(dtype::f32, 1e-30 * (1 + i % 17)));
  expect_matches_reference(buf, "tiny fp32");
}

TEST(CpuExecutor, Fp64ExtremesKeepL2Finite) {
  for (double scale : {1e300, 1e-300, 1e200}) {
    buffer buf(dtype::f64, 5000);
    for (uint64_t i = 0; i < buf.numel; ++i)
      buf.set_bits(i, encode(dtype::f64, scale * (1.0 + i % 7)));
    // Mixed blocks: a later block of ordinary values.
    for (uint64_t i = 4500; i < 5000; ++i) buf.set_bits(i, encode(dtype::f64, 0.5));
    expect_matches_reference(buf, "fp64 scale " + std::to_string(scale));
  }
}

// Values spread over the whole fp32 range: most of them miss the histogram window, and the window
// must move as the magnitudes change along the tensor.
TEST(CpuExecutor, WideAndDriftingExponents) {
  std::mt19937_64 rng(11);
  buffer wide(dtype::f32, 200000), drifting(dtype::f32, 300000);
  std::uniform_real_distribution<double> ue(-120, 120);
  for (uint64_t i = 0; i < wide.numel; ++i)
    wide.set_bits(i, encode(dtype::f32, std::ldexp(1.0 + (i % 3), int(ue(rng)))));
  for (uint64_t i = 0; i < drifting.numel; ++i) {
    int e = -100 + int(i / 1500);  // climbs 200 binades over the tensor
    drifting.set_bits(
        i, encode(dtype::f32, (i % 2 ? 1 : -1) * std::ldexp(1.0 + double(i % 100) / 100, e)));
  }
  expect_matches_reference(wide, "log-uniform over the fp32 range");
  expect_matches_reference(drifting, "drifting magnitudes");
}

TEST(CpuExecutor, ManyTensorsInOneCall) {
  std::mt19937_64 rng(13);
  std::vector<buffer> bufs;
  for (int k = 0; k < 60; ++k) {
    dtype t = kAllDtypes[k % 6];
    uint64_t n = k % 5 == 0 ? 0 : uint64_t(1) << (k % 19);
    bufs.emplace_back(t, n, size_t(k % 3));
    encoder enc(t);
    std::normal_distribution<double> nd(0, 1);
    for (uint64_t i = 0; i < n; ++i) bufs.back().set_bits(i, enc(nd(rng)));
  }
  std::vector<tensor_view> views;
  for (auto &b : bufs) views.push_back(b.view());
  std::vector<summary> out(views.size());
  cpu_executor ex({2, false, true});
  ex.summarize(views, out);
  for (size_t k = 0; k < bufs.size(); ++k) {
    auto ref = summarize_reference(bufs[k].data(), bufs[k].type, bufs[k].numel);
    EXPECT_EQ(compare_with_reference(out[k], ref, kSumTolerance), "") << "tensor " << k;
  }
}

TEST(CpuExecutor, BitwiseDeterministicAcrossRunsAndThreadCounts) {
  std::mt19937_64 rng(17);
  buffer buf(dtype::f32, 5'000'000);
  std::normal_distribution<double> nd(0, 1);
  for (uint64_t i = 0; i < buf.numel; ++i) buf.set_bits(i, encode(dtype::f32, nd(rng)));
  cpu_executor one({1, true, true});
  summary first = one.summarize(buf.view());
  for (int threads : {1, 2, 3, 4}) {
    cpu_executor ex({threads, true, true});
    for (int rep = 0; rep < 2; ++rep) {
      summary s = ex.summarize(buf.view());
      EXPECT_EQ(std::memcmp(&s, &first, sizeof s), 0) << "threads " << threads;
    }
  }
}

TEST(CpuExecutor, FingerprintSeesOneChangedElementAndPermutations) {
  buffer a(dtype::bf16, 100000), b(dtype::bf16, 100000);
  for (uint64_t i = 0; i < a.numel; ++i) {
    a.set_bits(i, 0x3f80 + (i % 50));
    b.set_bits(i, 0x3f80 + (i % 50));
  }
  cpu_executor ex({2, true, true});
  uint64_t fa = ex.summarize(a.view()).fingerprint;
  EXPECT_EQ(fa, ex.summarize(b.view()).fingerprint);
  b.set_bits(77777, 0x3f80 + 1 + (77777 % 50));  // one element, one ulp
  EXPECT_NE(fa, ex.summarize(b.view()).fingerprint);
  b.set_bits(77777, 0x3f80 + (77777 % 50));
  b.set_bits(1, 0x3f80 + 2);  // swap two different values: same multiset, different order
  b.set_bits(2, 0x3f80 + 1);
  EXPECT_NE(fa, ex.summarize(b.view()).fingerprint);
}

// Fingerprints asked for per tensor (a group fingerprints only its replicated tensors): the same
// value as with the executor-wide option, and none for the tensors that did not ask.
TEST(CpuExecutor, FingerprintPerTensorView) {
  buffer a(dtype::f32, 3000000), b(dtype::f32, 1000);
  for (uint64_t i = 0; i < a.numel; ++i) a.set_bits(i, 0x3f800000u + uint32_t(i % 977));
  for (uint64_t i = 0; i < b.numel; ++i) b.set_bits(i, 0x40000000u + uint32_t(i));
  cpu_executor all({2, true, true}), some({2, false, true});
  tensor_view va = a.view(), vb = b.view();
  va.fingerprint = true;
  std::vector<tensor_view> views = {va, vb};
  std::vector<summary> out(2);
  some.summarize(views, out);
  EXPECT_EQ(out[0].has_fingerprint, 1u);
  EXPECT_EQ(out[0].fingerprint, all.summarize(a.view()).fingerprint);
  EXPECT_EQ(out[1].has_fingerprint, 0u);
  EXPECT_EQ(out[1].fingerprint, 0u);
}

// bf16 has two AVX-512 paths: dot-product sums on 32-lane vectors where AVX512_BF16 exists, and
// widening to fp32 lanes elsewhere. Both against the reference, on data with every trap the dot
// path treats specially (subnormals, which vdpbf16ps reads as zero; NaN/Inf; values whose squares
// overflow fp32; batches of only tiny values; exponents far outside the window) and tails.
TEST(CpuExecutor, Bf16DotProductAndWideningPathsMatchTheReference) {
  std::mt19937_64 rng(31);
  std::normal_distribution<double> nd(0, 0.02);
  std::uniform_int_distribution<uint64_t> any_bits(0, 0xffff);
  const encoder enc(dtype::bf16);
  std::vector<buffer> bufs;
  std::vector<std::string> names;
  for (uint64_t n : {37ull, 511ull, 512ull, 513ull, 5000ull, 100'003ull}) {
    for (int kind = 0; kind < 6; ++kind) {
      buffer b(dtype::bf16, n, size_t(kind % 2));
      for (uint64_t i = 0; i < n; ++i) {
        uint64_t bits = enc(nd(rng));
        if (kind == 1 && i % 97 == 5) bits = 0x0001 + (i % 0x7f);          // subnormals
        if (kind == 2 && i % 1001 == 7) bits = i % 2 ? 0x7fc0 : 0xff80;    // NaN, -Inf
        if (kind == 3 && i % 300 == 1) bits = 0x7f00 + (i % 0x7f);         // squares overflow fp32
        if (kind == 4) bits = enc(nd(rng) * 1e-20);                        // only tiny values
        if (kind == 5) bits = any_bits(rng);                               // every exponent
        b.set_bits(i, bits);
      }
      bufs.push_back(std::move(b));
      names.push_back("kind " + std::to_string(kind) + " n " + std::to_string(n));
    }
  }
  const bool had_dot = cpu::bf16_dot_supported();
  for (bool dot : {true, false}) {
    bool previous = cpu::enable_bf16_dot_path(dot);
    EXPECT_EQ(cpu::bf16_dot_supported(), dot && had_dot);
    cpu_executor ex({2, false, true});
    for (size_t k = 0; k < bufs.size(); ++k) {
      auto ref = summarize_reference(bufs[k].data(), bufs[k].type, bufs[k].numel);
      summary s = ex.summarize(bufs[k].view());
      EXPECT_EQ(compare_with_reference(s, ref, kSumTolerance), "")
          << names[k] << (dot && had_dot ? " (dot-product path)" : " (widening path)");
    }
    cpu::enable_bf16_dot_path(previous);
  }
}

// A training step's shape: many small tensors (packed into shared work items), a few mid-size ones
// and one split into chunks, with empty ones in between; the pool runs them in one job. Every
// output matches the reference and is bitwise the same for any thread count and for the strided
// form of the call.
TEST(CpuExecutor, OneJobOfSmallAndLargeTensorsIsDeterministic) {
  std::mt19937_64 rng(23);
  const encoder bf16_enc(dtype::bf16), f32_enc(dtype::f32);
  std::vector<buffer> bufs;
  for (int k = 0; k < 150; ++k) {
    dtype t = k % 3 == 0 ? dtype::bf16 : dtype::f32;
    uint64_t n = k % 17 == 0 ? 0 : k == 70 ? 2'500'000 : k % 10 == 0 ? 90'000 : 200 + 37 * k;
    bufs.emplace_back(t, n, size_t(k % 2));
    std::normal_distribution<double> nd(0, 0.02 * (1 + k % 5));
    const encoder &enc = t == dtype::bf16 ? bf16_enc : f32_enc;
    for (uint64_t i = 0; i < n; ++i) bufs.back().set_bits(i, enc(nd(rng)));
  }
  std::vector<tensor_view> views;
  for (auto &b : bufs) views.push_back(b.view());

  cpu_executor one({1, false, true});
  std::vector<summary> first(views.size());
  one.summarize(views, first);
  for (size_t k = 0; k < bufs.size(); ++k) {
    auto ref = summarize_reference(bufs[k].data(), bufs[k].type, bufs[k].numel);
    EXPECT_EQ(compare_with_reference(first[k], ref, kSumTolerance), "") << "tensor " << k;
  }
  struct record {
    int64_t before;
    summary stats;
    int64_t after;
  };
  for (int threads : {2, 3, 4}) {
    cpu_executor ex({threads, false, true});
    for (int rep = 0; rep < 3; ++rep) {
      std::vector<summary> out(views.size());
      ex.summarize(views, out);
      std::vector<record> records(views.size(), record{-1, {}, -2});
      ex.summarize(views, &records[0].stats, sizeof(record));
      for (size_t k = 0; k < views.size(); ++k) {
        EXPECT_EQ(std::memcmp(&out[k], &first[k], sizeof(summary)), 0)
            << "threads " << threads << " tensor " << k;
        EXPECT_EQ(std::memcmp(&records[k].stats, &first[k], sizeof(summary)), 0)
            << "strided, threads " << threads << " tensor " << k;
        EXPECT_EQ(records[k].before, -1);
        EXPECT_EQ(records[k].after, -2);
      }
    }
  }
}

// Many calls in a row, each large enough to go to the pool, alternating with calls small enough
// to stay on the caller: workers that wake late or sleep through calls never claim a stale item.
TEST(CpuExecutor, BackToBackJobsOnThePool) {
  std::mt19937_64 rng(29);
  buffer big(dtype::f32, 400'000), small(dtype::f32, 3000);
  std::normal_distribution<double> nd(0, 1);
  for (uint64_t i = 0; i < big.numel; ++i) big.set_bits(i, encode(dtype::f32, nd(rng)));
  for (uint64_t i = 0; i < small.numel; ++i) small.set_bits(i, encode(dtype::f32, nd(rng)));
  std::vector<tensor_view> views;
  for (int k = 0; k < 8; ++k) views.push_back(big.view());  // 8 packs-or-items of 400k each
  cpu_executor one({1, false, true});
  summary expect_big = one.summarize(big.view());
  summary expect_small = one.summarize(small.view());
  cpu_executor ex({3, false, true});
  std::vector<summary> out(views.size());
  for (int call = 0; call < 200; ++call) {
    ex.summarize(views, out);
    for (const summary &s : out) ASSERT_EQ(std::memcmp(&s, &expect_big, sizeof s), 0) << call;
    summary s = ex.summarize(small.view());
    ASSERT_EQ(std::memcmp(&s, &expect_small, sizeof s), 0) << call;
  }
}

// 2^31 + 77 one-byte elements: counts and offsets past 32 bits, with the planted values beyond
// 2^31.
TEST(CpuExecutor, MoreThan2To31Elements) {
  const uint64_t n = (uint64_t(1) << 31) + 77;
  std::vector<uint8_t> data(n, 0x38);  // e4m3 1.0
  data[n - 1] = 0x7f;                  // NaN, past 2^31
  data[n - 2] = 0x00;                  // zero
  data[uint64_t(1) << 31] = 0x40;      // 2.0 exactly at index 2^31
  cpu_executor ex;
  summary s = ex.summarize({data.data(), dtype::f8e4m3, n});
  EXPECT_EQ(s.count, n);
  EXPECT_EQ(s.nan, 1u);
  EXPECT_EQ(s.zero, 1u);
  EXPECT_EQ(s.exp_hist[0 - kExpHistMin], n - 3);
  EXPECT_EQ(s.exp_hist[1 - kExpHistMin], 1u);
  EXPECT_EQ(s.sum, double(n - 3) + 2.0);
  EXPECT_EQ(s.max, 2.0);
  EXPECT_EQ(s.min, 0.0);
}

}  // namespace
}  // namespace ttap
