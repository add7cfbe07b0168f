// The summary record: what tensortap computes for one tensor in one sample, the one record every
// executor produces and every later stage (store, detectors, reports) reads. Host and device code.
#pragma once

#include <math.h>
#include <stdint.h>

#include "kernels/dtype.h"

namespace ttap {

// Exponent histogram: bin e counts finite nonzero values with 2^e <= |x| < 2^(e+1). Bin -127 takes
// every value below 2^-126 (fp32 subnormals, tiny fp64); bin 127 takes every value of 2^127 and
// above (only fp64 data reaches past it). Array index = e + 127, which for an fp32 value is exactly
// its biased exponent field: no log, no division, exact for every dtype.
inline constexpr int kExpHistMin = -127;
inline constexpr int kExpHistMax = 127;
inline constexpr int kExpHistBins = kExpHistMax - kExpHistMin + 1;

struct summary {
  uint64_t count;      // every element, finite or not
  uint64_t nan;        // NaNs of any sign and payload
  uint64_t pos_inf;    // +Inf
  uint64_t neg_inf;    // -Inf
  uint64_t zero;       // +0 and -0
  uint64_t subnormal;  // subnormals of the input's own dtype
  double min;          // over finite values; +Inf when there is none
  double max;          // over finite values; -Inf when there is none
  double abs_max;      // over finite values; -Inf when there is none
  double sum;          // over finite values
  double sum_abs;      // over finite values
  double sum_sq;       // over finite values, as sum_sq * 2^sum_sq_exp2 (see below)
  // Power-of-two scale of sum_sq. Zero for every dtype but fp64: fp32 data near 1e30 squares to
  // 1e60, far inside double's range, but fp64 data can overflow (or underflow) its own square.
  int32_t sum_sq_exp2;
  uint32_t has_fingerprint;  // 1 when fingerprint was requested and computed
  uint64_t fingerprint;      // wrapping sum of fingerprint_term(index, bits): order-independent
  uint64_t exp_hist[kExpHistBins];
};

TTAP_HD inline void summary_clear(summary &s) {
  s.count = s.nan = s.pos_inf = s.neg_inf = s.zero = s.subnormal = 0;
  s.min = INFINITY;
  s.max = -INFINITY;
  s.abs_max = -INFINITY;
  s.sum = s.sum_abs = s.sum_sq = 0.0;
  s.sum_sq_exp2 = 0;
  s.has_fingerprint = 0;
  s.fingerprint = 0;
  for (int i = 0; i < kExpHistBins; ++i) s.exp_hist[i] = 0;
}

TTAP_HD inline uint64_t mix64(uint64_t z) {  // splitmix64 finalizer: cheap, full avalanche
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// One element's share of the fingerprint. Summed with wrapping adds, so any split of the tensor
// into chunks, in any order, on any backend, gives the same 64-bit result; the index makes a
// permutation of the same values hash differently.
TTAP_HD inline uint64_t fingerprint_term(uint64_t index, uint64_t bits) {
  return mix64(mix64(index + 0x9e3779b97f4a7c15ull) ^ bits);
}

// Adds b's squares (b_val * 2^b_exp2) to a's, keeping the larger scale so neither side overflows.
TTAP_HD inline void add_scaled_sum_sq(double &a_val, int32_t &a_exp2, double b_val,
                                      int32_t b_exp2) {
  if (b_val == 0.0) return;
  if (a_val == 0.0) {
    a_val = b_val;
    a_exp2 = b_exp2;
    return;
  }
  if (a_exp2 == b_exp2) {
    a_val += b_val;
  } else if (a_exp2 > b_exp2) {
    a_val += ldexp(b_val, b_exp2 - a_exp2);
  } else {
    a_val = ldexp(a_val, a_exp2 - b_exp2) + b_val;
    a_exp2 = b_exp2;
  }
}

// Folds `from` into `into`. Integer fields and min/max are order-independent; the float sums are
// not, so callers that need bitwise reproducibility merge in a fixed order (chunk order).
TTAP_HD inline void summary_merge(summary &into, const summary &from) {
  into.count += from.count;
  into.nan += from.nan;
  into.pos_inf += from.pos_inf;
  into.neg_inf += from.neg_inf;
  into.zero += from.zero;
  into.subnormal += from.subnormal;
  into.min = fmin(into.min, from.min);
  into.max = fmax(into.max, from.max);
  into.abs_max = fmax(into.abs_max, from.abs_max);
  into.sum += from.sum;
  into.sum_abs += from.sum_abs;
  add_scaled_sum_sq(into.sum_sq, into.sum_sq_exp2, from.sum_sq, from.sum_sq_exp2);
  into.has_fingerprint |= from.has_fingerprint;
  into.fingerprint += from.fingerprint;
  for (int i = 0; i < kExpHistBins; ++i) into.exp_hist[i] += from.exp_hist[i];
}

// Histogram index (e + 127) of a finite nonzero value given as fp32 bits.
TTAP_HD inline int exp_hist_index_f32(uint32_t bits) {
  return int((bits & kF32ExponentMask) >> 23);
}

// Histogram index of a finite nonzero fp64 value: its exponent clamped into [-127, 127].
TTAP_HD inline int exp_hist_index_f64(uint64_t bits) {
  int e = int((bits & kF64ExponentMask) >> 52) - 1023;
  if (e < kExpHistMin + 1) return 0;  // below 2^-126, subnormals included
  if (e > kExpHistMax) return kExpHistBins - 1;
  return e - kExpHistMin;
}

// The part of an element step fp32 and fp64 share. A value whose magnitude bits reach the
// exponent mask is NaN or ±Inf: counted, and true returned (nothing else of it is kept).
template <class Bits>
TTAP_HD inline bool summary_count_nonfinite(summary &s, Bits mag, Bits exponent_mask,
                                            bool negative) {
  if (mag < exponent_mask) return false;
  if (mag > exponent_mask)
    ++s.nan;
  else if (negative)
    ++s.neg_inf;
  else
    ++s.pos_inf;
  return true;
}

// A finite value x into everything but `count`, the subnormal count, the fingerprint and sum_sq
// (whose scale differs by width): its zero count or exponent bin (hist_bin < 0: x is zero),
// min, max, abs_max, sum and sum_abs.
TTAP_HD inline void summary_add_finite(summary &s, double x, int hist_bin) {
  if (hist_bin < 0)
    ++s.zero;
  else
    ++s.exp_hist[hist_bin];
  double ax = fabs(x);
  // x is finite here, so plain comparisons do (and stay inline, unlike fmin on some libms).
  s.min = x < s.min ? x : s.min;
  s.max = x > s.max ? x : s.max;
  s.abs_max = ax > s.abs_max ? ax : s.abs_max;
  s.sum += x;
  s.sum_abs += ax;
}

// The reference element step: one value into the summary, everything but `count`, the subnormal
// count and the fingerprint (callers add those). Used by scalar paths and tails; vector paths must
// agree with it.
TTAP_HD inline void summary_add_f32_bits(summary &s, uint32_t bits) {
  uint32_t mag = bits & kF32MagnitudeMask;
  if (summary_count_nonfinite(s, mag, kF32ExponentMask, (bits >> 31) != 0)) return;
  double x = double(float_from_bits(bits));
  summary_add_finite(s, x, mag ? exp_hist_index_f32(mag) : -1);
  s.sum_sq += x * x;  // exact range: |x| < 2^128, so x*x < 2^256, far below double's limit
}

// fp64 element step. Squares go into sum_sq at the summary's current scale (2^sum_sq_exp2, even):
// callers whose block holds values with squares outside double's range set that scale first from
// the block's largest magnitude (f64_sum_sq_exp2_for), see the cpu executor.
TTAP_HD inline void summary_add_f64_bits(summary &s, uint64_t bits) {
  uint64_t mag = bits & kF64MagnitudeMask;
  if (summary_count_nonfinite(s, mag, kF64ExponentMask, (bits >> 63) != 0)) return;
  double x;
  memcpy(&x, &bits, sizeof x);
  summary_add_finite(s, x, mag ? exp_hist_index_f64(mag) : -1);
  if (s.sum_sq_exp2 == 0) {
    s.sum_sq += x * x;
  } else {
    double scaled = ldexp(x, -s.sum_sq_exp2 / 2);
    s.sum_sq += scaled * scaled;
  }
}

// Before a block whose squares need scale `needed_exp2`: move the running sum of squares to the
// larger of its scale and the block's (a sum that is still zero takes the block's freely, so data
// that is tiny throughout keeps its precision). Squares far below the running scale underflow, but
// they are far below the sum's rounding error too.
TTAP_HD inline void rescale_sum_sq_for_block(summary &s, int32_t needed_exp2) {
  int32_t target = (s.sum_sq == 0.0 || needed_exp2 > s.sum_sq_exp2) ? needed_exp2 : s.sum_sq_exp2;
  if (target != s.sum_sq_exp2) {
    s.sum_sq = ldexp(s.sum_sq, s.sum_sq_exp2 - target);
    s.sum_sq_exp2 = target;
  }
}

// The even power-of-two scale for the squares of a block of fp64 values whose largest magnitude is
// abs_max: 0 while every square and their sum stay well inside double's range, else the scale that
// brings abs_max near 1.
TTAP_HD inline int32_t f64_sum_sq_exp2_for(double abs_max) {
  if (!(abs_max > 0.0) || (abs_max < 0x1p480 && abs_max > 0x1p-480)) return 0;
  int e;
  frexp(abs_max, &e);
  return 2 * e;
}

// Subnormals of a narrow dtype are exactly the values below its smallest normal power of two, so
// their count reads off the histogram and the hot loops need not classify them. (fp64 counts its
// own: its subnormals share bin -127 with larger values.)
TTAP_HD inline uint64_t subnormal_count_from_hist(dtype t, const uint64_t *hist) {
  int lo = kExpHistMin, hi = kExpHistMin;  // bins [lo, hi] hold the dtype's subnormals
  switch (t) {
    case dtype::f32:
    case dtype::bf16:
      break;  // below 2^-126
    case dtype::f16:
      lo = -24, hi = -15;
      break;  // 2^-24 .. 2^-14
    case dtype::f8e4m3:
      lo = -9, hi = -7;
      break;  // 2^-9 .. 2^-6
    case dtype::f8e5m2:
      lo = -16, hi = -15;
      break;  // 2^-16 .. 2^-14
    case dtype::f64:
      return 0;
  }
  uint64_t n = 0;
  for (int e = lo; e <= hi; ++e) n += hist[e - kExpHistMin];
  return n;
}

// ---- Derived values (host side) ----

struct fp8_risk {
  double underflow;  // fraction of finite nonzero values below the format's smallest subnormal bin
  double overflow;   // fraction of finite nonzero values above the format's largest bin
};

struct summary_derived {
  uint64_t finite;     // count - nan - inf
  uint64_t nonfinite;  // nan + pos_inf + neg_inf
  uint64_t nonzero;    // finite nonzero values = sum of the histogram
  bool has_finite;
  double mean, std;  // population statistics over finite values; NaN when there is none
  double l1, l2, linf;
  double sum_sq;  // sum of squares unscaled (Inf only when it truly exceeds double's range)
  fp8_risk e4m3, e5m2;
};

// Fraction of histogram mass in bins e < lo or e > hi, after scaling values by 2^scale_log2.
TTAP_HD inline fp8_risk fp8_risk_from_hist(const uint64_t *hist, int lo, int hi, int scale_log2) {
  uint64_t total = 0, under = 0, over = 0;
  for (int i = 0; i < kExpHistBins; ++i) {
    int e = i + kExpHistMin + scale_log2;
    total += hist[i];
    if (e < lo) under += hist[i];
    if (e > hi) over += hist[i];
  }
  fp8_risk r{0.0, 0.0};
  if (total) {
    r.underflow = double(under) / double(total);
    r.overflow = double(over) / double(total);
  }
  return r;
}

// fp8_scale_log2: the power-of-two scale the values would be multiplied by before the cast
// (0 = cast as is). e4m3: underflow below bin -9, overflow above bin 8; e5m2: -16 and 15.
TTAP_HD inline summary_derived summary_finalize(const summary &s, int fp8_scale_log2 = 0) {
  summary_derived d;
  d.nonfinite = s.nan + s.pos_inf + s.neg_inf;
  d.finite = s.count - d.nonfinite;
  d.nonzero = 0;
  for (int i = 0; i < kExpHistBins; ++i) d.nonzero += s.exp_hist[i];
  d.has_finite = d.finite > 0;
  d.l1 = s.sum_abs;
  d.sum_sq = ldexp(s.sum_sq, s.sum_sq_exp2);
  // sqrt of the scaled value, then half the scale: l2 stays finite even when sum_sq does not.
  int half = s.sum_sq_exp2 / 2;
  d.l2 = ldexp(sqrt(ldexp(s.sum_sq, s.sum_sq_exp2 - 2 * half)), half);
  d.linf = d.has_finite ? s.abs_max : 0.0;
  if (d.has_finite) {
    double n = double(d.finite);
    d.mean = s.sum / n;
    double var = d.sum_sq / n - d.mean * d.mean;
    d.std = sqrt(var > 0.0 ? var : 0.0);
  } else {
    d.mean = NAN;
    d.std = NAN;
  }
  d.e4m3 = fp8_risk_from_hist(s.exp_hist, -9, 8, fp8_scale_log2);
  d.e5m2 = fp8_risk_from_hist(s.exp_hist, -16, 15, fp8_scale_log2);
  return d;
}

}  // namespace ttap
