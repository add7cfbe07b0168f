// Thread-scope accumulation for the fused summary kernel: decoding 16-byte groups of any dtype into
// fp32 values, fp32 group sums merged into fp64 per thread, the exponent histogram bin of each
// value.
#pragma once

#include "kernels/simt/cuda_compat.h"
#include "kernels/summary.h"

// Marks the start of a branch real data almost never takes. In device code it leaves a comment in
// the PTX, which the static report (ttap bench --static) uses to follow the hot path of the main
// loop; it generates no instruction.
#if defined(__CUDA_ARCH__)
#define TTAP_COLD_PATH() asm volatile("// ttap:cold")
#else
#define TTAP_COLD_PATH() ((void)0)
#endif

namespace ttap {

// Shared-memory histogram layout per warp: bins 0..254 are exp_hist; 255 collects NaN/Inf (never
// read: those are counted exactly on the slow path) and 256 counts zeros.
inline constexpr int kBinNonFinite = 255;
inline constexpr int kBinZero = 256;
inline constexpr int kWarpHistStride = 257;

// What one thread accumulates over its share of a chunk. Sums are fp64: each group of values is
// summed in fp32 first (at most 16 terms), then added here.
struct thread_stats {
  double min, max, sum, sum_abs, sum_sq;
  unsigned long long nan, pos_inf, neg_inf, fingerprint;

  __device__ void clear() {
    min = INFINITY;
    max = -INFINITY;
    sum = sum_abs = sum_sq = 0.0;
    nan = pos_inf = neg_inf = fingerprint = 0;
  }
};

// Histogram bin of a value given as fp32 bits (the magnitude's exponent field).
__device__ __forceinline__ int bin_of_f32(uint32_t bits) {
  uint32_t mag = bits & kF32MagnitudeMask;
  return mag == 0 ? kBinZero : int(mag >> 23);
}

__device__ __forceinline__ int bin_of_f64(uint64_t bits) {
  uint64_t mag = bits & kF64MagnitudeMask;
  if (mag == 0) return kBinZero;
  if (mag >= kF64ExponentMask) return kBinNonFinite;
  return exp_hist_index_f64(mag);
}

// Exact slow path for one element whose group sums came out non-finite (NaN, Inf, or fp32 overflow
// of huge finite values): classify it and accumulate in fp64.
__device__ __forceinline__ void add_exact(thread_stats &ts, uint32_t bits) {
  uint32_t mag = bits & kF32MagnitudeMask;
  if (mag >= kF32ExponentMask) {
    if (mag > kF32ExponentMask)
      ++ts.nan;
    else if (bits >> 31)
      ++ts.neg_inf;
    else
      ++ts.pos_inf;
    return;
  }
  double x = double(__uint_as_float(bits));
  ts.min = fmin(ts.min, x);
  ts.max = fmax(ts.max, x);
  ts.sum += x;
  ts.sum_abs += fabs(x);
  ts.sum_sq += x * x;
}

// Values an fp32 group sums before its sums go to fp64: the accuracy bound the tests and the README
// state (the cpu executor uses the same).
inline constexpr int kGroupValues = 16;

// One value into the warp's shared histogram. The bin is the exponent field; zeros get their own
// bin unless kZeroInBinZero says the dtype, once widened, has no other value with exponent field 0
// (fp16: its subnormals are normal fp32), in which case bin 0 is the zero count and the chunk's
// flush moves it there: one compare and select per value fewer.
// The bin's byte offset comes straight out of the bits (4 x the exponent field, one shift and one
// mask), saving the scaling of an index.
template <bool kZeroInBinZero>
__device__ __forceinline__ void count_exponent(uint32_t bits, float x, unsigned int *warp_hist) {
  uint32_t offset = (bits >> 21) & (0xffu << 2);
  if constexpr (!kZeroInBinZero) offset = x == 0.0f ? kBinZero * 4 : offset;
  atomicAdd(reinterpret_cast<unsigned int *>(reinterpret_cast<char *>(warp_hist) + offset), 1u);
}

// A group of N <= kGroupValues values (fp32 bits, already widened from the tensor's dtype) into the
// thread's accumulator and the warp's shared histogram. The common case costs a handful of
// instructions per value; NaN/Inf and extreme magnitudes take the exact path for this group only.
template <int N, bool kZeroInBinZero = false>
__device__ __forceinline__ void add_group(thread_stats &ts, const uint32_t (&bits)[N],
                                          unsigned int *warp_hist) {
  static_assert(N >= 1 && N <= kGroupValues, "fp32 groups hold at most kGroupValues values");
  // Started from the first value rather than from +-Inf and 0: no constants, no first operation.
  // fminf/fmaxf ignore a NaN operand, and a NaN anywhere sends the group to the exact path anyway.
  float x = __uint_as_float(bits[0]);
  float group_min = x, group_max = x, s1 = x, s2 = fabsf(x), s3 = x * x;
  count_exponent<kZeroInBinZero>(bits[0], x, warp_hist);
#pragma unroll
  for (int k = 1; k < N; ++k) {
    x = __uint_as_float(bits[k]);
    group_min = fminf(group_min, x);
    group_max = fmaxf(group_max, x);
    s1 += x;
    s2 += fabsf(x);
    s3 = fmaf(x, x, s3);
    count_exponent<kZeroInBinZero>(bits[k], x, warp_hist);
  }
  // s2 and s3 are >= 0 or NaN, so one sum tells whether both are finite (two huge but finite sums
  // that overflow together merely take the exact path).
  if (isfinite(s2 + s3)) {
    ts.min = fmin(ts.min, double(group_min));
    ts.max = fmax(ts.max, double(group_max));
    ts.sum += double(s1);
    ts.sum_abs += double(s2);
    if (s3 < 0x1p-100f && s2 > 0.f) {
      // Squares below 2^-126 lose bits in fp32: a group of only tiny values redoes them in fp64.
      TTAP_COLD_PATH();
#pragma unroll
      for (int k = 0; k < N; ++k) {
        double v = double(__uint_as_float(bits[k]));
        ts.sum_sq += v * v;
      }
    } else {
      ts.sum_sq += double(s3);
    }
  } else {
    TTAP_COLD_PATH();
#pragma unroll
    for (int k = 0; k < N; ++k) add_exact(ts, bits[k]);
  }
}

// fp64 values: accumulated directly in fp64, squares at the chunk's scale 2^sq_exp2.
template <int N>
__device__ __forceinline__ void add_group_f64(thread_stats &ts, const uint64_t (&bits)[N],
                                              int sq_exp2, unsigned int *warp_hist) {
#pragma unroll
  for (int k = 0; k < N; ++k) {
    atomicAdd(&warp_hist[bin_of_f64(bits[k])], 1u);
    uint64_t mag = bits[k] & kF64MagnitudeMask;
    if (mag >= kF64ExponentMask) {
      if (mag > kF64ExponentMask)
        ++ts.nan;
      else if (bits[k] >> 63)
        ++ts.neg_inf;
      else
        ++ts.pos_inf;
      continue;
    }
    double x = __longlong_as_double((long long)bits[k]);
    ts.min = fmin(ts.min, x);
    ts.max = fmax(ts.max, x);
    ts.sum += x;
    ts.sum_abs += fabs(x);
    double scaled = sq_exp2 == 0 ? x : ldexp(x, -sq_exp2 / 2);
    ts.sum_sq += scaled * scaled;
  }
}

// ---- Widening a 16-byte group of each dtype into fp32 bits ----

// The hardware conversion where CUDA's fp16 header exists (nvcc, and the emulator when the
// toolkit's headers are installed); the bit-exact portable decoder of dtype.h otherwise.
__device__ __forceinline__ uint32_t f32_bits_of_half(uint16_t h) {
#if defined(__CUDACC__) || defined(TTAP_SIMT_HAVE_CUDA_HEADERS)
  return __float_as_uint(__half2float(__ushort_as_half(h)));
#else
  return f32_bits_from_f16(h);
#endif
}

// Both fp16 halves of a 32-bit word: one register split feeds two conversions (the compiler's
// per-half conversions each split the word again).
__device__ __forceinline__ void f32_bits_of_half2(uint32_t w, uint32_t &lo, uint32_t &hi) {
#if defined(__CUDA_ARCH__)
  float f_lo, f_hi;
  asm("{\n"
      "  .reg .f16 lo, hi;\n"
      "  mov.b32 {lo, hi}, %2;\n"
      "  cvt.f32.f16 %0, lo;\n"
      "  cvt.f32.f16 %1, hi;\n"
      "}"
      : "=f"(f_lo), "=f"(f_hi)
      : "r"(w));
  lo = __float_as_uint(f_lo);
  hi = __float_as_uint(f_hi);
#else
  lo = f32_bits_of_half(uint16_t(w & 0xffffu));
  hi = f32_bits_of_half(uint16_t(w >> 16));
#endif
}

// e4m3 bits placed in an fp16 read as the value times 2^-8 (subnormals included); one exact
// multiply restores it. S.1111.111 is e4m3's NaN.
__device__ __forceinline__ uint32_t f32_bits_of_e4m3(uint32_t b) {
  if ((b & 0x7fu) == 0x7fu) return 0x7fc00000u;
  uint16_t h = uint16_t(((b & 0x80u) << 8) | ((b & 0x7fu) << 7));
  return __float_as_uint(__uint_as_float(f32_bits_of_half(h)) * 256.0f);
}

__device__ __forceinline__ uint32_t f32_bits_of_e5m2(uint32_t b) {
  return f32_bits_of_half(uint16_t(b << 8));
}

// Widens one element of dtype t given its raw bits (the scalar head/tail path and misaligned data).
__device__ __forceinline__ uint32_t f32_bits_of(dtype t, uint64_t raw) {
  switch (t) {
    case dtype::f32:
      return uint32_t(raw);
    case dtype::bf16:
      return f32_bits_from_bf16(uint16_t(raw));
    case dtype::f16:
      return f32_bits_of_half(uint16_t(raw));
    case dtype::f8e4m3:
      return f32_bits_of_e4m3(uint32_t(raw));
    case dtype::f8e5m2:
      return f32_bits_of_e5m2(uint32_t(raw));
    case dtype::f64:
      break;
  }
  return 0;
}

}  // namespace ttap
