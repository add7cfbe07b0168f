// AVX-512 per-chunk summaries for the narrow dtypes (fp32, fp16, bf16, fp8): every element is
// widened to fp32 lanes and all fields, the exponent histogram included, are computed in one pass
// with about ten vector instructions per 16 elements; a tensor's last partial batch runs the same
// loop with masked loads. This file alone is compiled for AVX-512; it is chosen at run time.
#include "kernels/cpu/chunk.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && \
    defined(__AVX512VPOPCNTDQ__)
#include <immintrin.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace ttap::cpu {
namespace {

// A batch is 32 groups of 16 fp32 lanes, in two halves of 16 groups. Sums run in fp32 lanes within
// a half (16 additions per lane keep the relative error near 1e-6); the two halves' lane sums are
// added once in fp32 and flushed into fp64 after the batch. Two halves per batch halve the per-batch
// work (checks, widening to fp64) per element.
constexpr int kGroups = 32;
constexpr int kLanes = 16;
constexpr uint64_t kBatchElems = kGroups * kLanes;
// The histogram window: 32 consecutive exponents counted as one-hot bits. Real tensors rarely span
// more than 2^27 between their largest and smallest nonzero magnitudes; values outside are
// corrected one by one.
constexpr int kWindowBins = 32;
// The window is checked (and moved if the data left it) once per this many batches.
constexpr int kBatchesPerWindowCheck = 16;

// The first n lanes (n clamped to [0, 16]).
inline __mmask16 first_lanes(int64_t n) {
  return n <= 0 ? 0 : n >= kLanes ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
}

// ---- Widening loaders: group g of the batch starting at element i, as 16 fp32 lanes ----
// Each has a full load and a masked one for the tensor's last batch (elements at or past `end` read
// as +0 and are never touched in memory), and says which lanes hold elements below `end`.

struct load_f32 {
  static constexpr int kElemBytes = 4;
  static constexpr dtype kType = dtype::f32;
  const unsigned char *base;
  __m512 operator()(uint64_t i, int g) const {
    return _mm512_loadu_ps(base + 4 * (i + kLanes * g));
  }
  __mmask16 valid(uint64_t i, int g, uint64_t end) const {
    return first_lanes(int64_t(end) - int64_t(i + kLanes * g));
  }
  __m512 load_upto(uint64_t i, int g, uint64_t end) const {
    return _mm512_maskz_loadu_ps(valid(i, g, end), base + 4 * (i + kLanes * g));
  }
};

// bf16 → fp32 is a 16-bit shift; interleaving with zeros does it for 32 elements in two steps, in a
// lane order that differs from memory order, which no order-independent field cares about.
struct load_bf16 {
  static constexpr int kElemBytes = 2;
  static constexpr dtype kType = dtype::bf16;
  const unsigned char *base;
  static __m512 widen(__m512i raw, int g) {
    __m512i zero = _mm512_setzero_si512();
    return _mm512_castsi512_ps((g & 1) ? _mm512_unpackhi_epi16(zero, raw)
                                       : _mm512_unpacklo_epi16(zero, raw));
  }
  __m512 operator()(uint64_t i, int g) const {
    return widen(_mm512_loadu_si512(base + 2 * (i + kLanes * (g & ~1))), g);
  }
  // Elements left from the start of g's pair of groups, clamped to [0, 32].
  static int64_t left_in_pair(uint64_t i, int g, uint64_t end) {
    int64_t n = int64_t(end) - int64_t(i + kLanes * (g & ~1));
    return n < 0 ? 0 : n > 2 * kLanes ? 2 * kLanes : n;
  }
  __mmask16 valid(uint64_t i, int g, uint64_t end) const {
    // Memory index of each lane within the pair (unpacklo takes words 0-3 of each 128-bit lane).
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    __m512i index = (g & 1) ? _mm512_add_epi32(lo, _mm512_set1_epi32(4)) : lo;
    return _mm512_cmplt_epi32_mask(index, _mm512_set1_epi32(int(left_in_pair(i, g, end))));
  }
  __m512 load_upto(uint64_t i, int g, uint64_t end) const {
    int64_t n = left_in_pair(i, g, end);
    __mmask32 m = n >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << n) - 1);
    return widen(_mm512_maskz_loadu_epi16(m, base + 2 * (i + kLanes * (g & ~1))), g);
  }
};

struct load_f16 {
  static constexpr int kElemBytes = 2;
  static constexpr dtype kType = dtype::f16;
  const unsigned char *base;
  __m512 operator()(uint64_t i, int g) const {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(base + 2 * (i + kLanes * g))));
  }
  __mmask16 valid(uint64_t i, int g, uint64_t end) const {
    return first_lanes(int64_t(end) - int64_t(i + kLanes * g));
  }
  __m512 load_upto(uint64_t i, int g, uint64_t end) const {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(valid(i, g, end), base + 2 * (i + kLanes * g)));
  }
};

// e5m2 is the upper byte of an fp16.
struct load_e5m2 {
  static constexpr int kElemBytes = 1;
  static constexpr dtype kType = dtype::f8e5m2;
  const unsigned char *base;
  static __m512 widen(__m128i b) {
    return _mm512_cvtph_ps(_mm256_slli_epi16(_mm256_cvtepu8_epi16(b), 8));
  }
  __m512 operator()(uint64_t i, int g) const {
    return widen(_mm_loadu_si128((const __m128i *)(base + i + kLanes * g)));
  }
  __mmask16 valid(uint64_t i, int g, uint64_t end) const {
    return first_lanes(int64_t(end) - int64_t(i + kLanes * g));
  }
  __m512 load_upto(uint64_t i, int g, uint64_t end) const {
    return widen(_mm_maskz_loadu_epi8(valid(i, g, end), base + i + kLanes * g));
  }
};

// e4m3 bits placed in an fp16 read as the value times 2^-8 (subnormals included), so one exact
// multiply restores it; S.1111.111 is e4m3's NaN and is patched in.
struct load_e4m3 {
  static constexpr int kElemBytes = 1;
  static constexpr dtype kType = dtype::f8e4m3;
  const unsigned char *base;
  static __m512 widen(__m128i b) {
    __m256i w = _mm256_cvtepu8_epi16(b);
    __m256i magnitude = _mm256_and_si256(w, _mm256_set1_epi16(0x7f));
    __m256i h = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x80)), 8),
                                _mm256_slli_epi16(magnitude, 7));
    __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(h), _mm512_set1_ps(256.0f));
    __mmask16 is_nan = _mm256_cmpeq_epi16_mask(magnitude, _mm256_set1_epi16(0x7f));
    return _mm512_mask_mov_ps(v, is_nan, _mm512_set1_ps(NAN));
  }
  __m512 operator()(uint64_t i, int g) const {
    return widen(_mm_loadu_si128((const __m128i *)(base + i + kLanes * g)));
  }
  __mmask16 valid(uint64_t i, int g, uint64_t end) const {
    return first_lanes(int64_t(end) - int64_t(i + kLanes * g));
  }
  __m512 load_upto(uint64_t i, int g, uint64_t end) const {
    return widen(_mm_maskz_loadu_epi8(valid(i, g, end), base + i + kLanes * g));
  }
};

// Software prefetch of the batch kPrefetchBatches ahead, one per cache line: the batch loop has
// long dependency chains between its loads, so on its own a core keeps too few misses in flight
// to stream from memory (measured on one thread: fp32 at 10 GB/s without, 25 GB/s with).
constexpr uint64_t kPrefetchBatches = 4;

template <class Loader>
inline void prefetch_ahead(const Loader &load, uint64_t i, int g) {
  constexpr int kGroupBytes = kLanes * Loader::kElemBytes;
  if ((g * kGroupBytes) % 64 == 0) {
    // __builtin_prefetch rather than _mm_prefetch, which GCC 12 drops here.
    __builtin_prefetch(reinterpret_cast<const char *>(load.base) +
                           Loader::kElemBytes *
                               (i + kPrefetchBatches * kBatchElems + uint64_t(kLanes) * g),
                       0, 3);
  }
}

// The loader of a tensor's last, partial batch: the same interface, masked loads.
template <class Loader>
struct tail_loader {
  static constexpr dtype kType = Loader::kType;
  Loader full;
  uint64_t end;
  __m512 operator()(uint64_t i, int g) const { return full.load_upto(i, g, end); }
  __mmask16 valid(uint64_t i, int g) const { return full.valid(i, g, end); }
};

template <class L>
constexpr bool is_tail = false;
template <class L>
constexpr bool is_tail<tail_loader<L>> = true;

// ---- Bit-sliced exponent counter ----

// Carry-save adder on 512 bit positions at once: (high, low) = a + b + c per bit.
inline void csa(__m512i &high, __m512i &low, __m512i a, __m512i b, __m512i c) {
  low = _mm512_ternarylogic_epi32(a, b, c, 0x96);
  high = _mm512_ternarylogic_epi32(a, b, c, 0xe8);
}

// Adds weight * (number of lanes with bit p set) to counts[p], for each bit position present.
inline void add_positional(uint64_t *counts, __m512i plane, uint64_t weight) {
  uint32_t present = uint32_t(_mm512_reduce_or_epi32(plane));
  while (present) {
    int p = __builtin_ctz(present);
    present &= present - 1;
    __mmask16 m = _mm512_test_epi32_mask(plane, _mm512_set1_epi32(int(1u << p)));
    counts[p] += weight * uint64_t(_mm_popcnt_u32(m));
  }
}

// The per-position counts of a plane, 8 lanes at a time, by a bit transpose: vpermb gathers into
// each qword one byte (8 bit positions) of 8 lanes, vgf2p8affineqb with that qword as its matrix
// transposes the 8 x 8 block (output byte i: bit i of each of the 8 bytes), and vpopcntb counts
// the lanes with each bit. Byte 8k + i of the result counts bit 8 (k / 2) + i over lanes
// 8 (k % 2) to 8 (k % 2) + 7.
constexpr uint8_t kGatherIndex(int byte) {
  const int k = byte / 8, r = byte % 8;
  return uint8_t(4 * (8 * (k % 2) + r) + k / 2);
}

__attribute__((target("gfni,avx512vbmi,avx512bitalg"))) inline __m512i lane_counts(
    __m512i plane) {
  static constexpr uint8_t kGather[64] = {
#define TTAP_G8(b)                                                                 \
  kGatherIndex(b), kGatherIndex(b + 1), kGatherIndex(b + 2), kGatherIndex(b + 3), \
      kGatherIndex(b + 4), kGatherIndex(b + 5), kGatherIndex(b + 6), kGatherIndex(b + 7)
      TTAP_G8(0),  TTAP_G8(8),  TTAP_G8(16), TTAP_G8(24),
      TTAP_G8(32), TTAP_G8(40), TTAP_G8(48), TTAP_G8(56)
#undef TTAP_G8
  };
  const __m512i unit = _mm512_set1_epi64(int64_t(0x8040201008040201ull));  // byte i: 1 << i
  const __m512i gathered = _mm512_permutexvar_epi8(_mm512_loadu_si512(kGather), plane);
  return _mm512_popcnt_epi8(_mm512_gf2p8affine_epi64_epi8(unit, gathered, 0));
}

// add_positional for the planes of weight below 16 and the pending ones of weight 16 at once, with
// no loop over bit positions: three instructions per plane (lane_counts), the weights applied in
// bytes Horner-style (8 lanes x 15 = 120 for the low planes; 8 x 15 pending = 120 for weight 16),
// the two halves of the lanes added, and the bytes widened once. Costs the same however many bins
// are occupied; about a third of the byte-counter form it replaced (one masked byte add per 64
// bits of plane), which was half of a 1,000-element tensor's fixed work.
__attribute__((target("gfni,avx512vbmi,avx512bitalg"))) inline void add_positional_low(
    uint64_t *counts, __m512i ones, __m512i twos, __m512i fours, __m512i eights,
    const uint32_t (*pending)[kLanes], int num_pending) {
  __m512i low = lane_counts(eights);
  low = _mm512_add_epi8(_mm512_add_epi8(low, low), lane_counts(fours));
  low = _mm512_add_epi8(_mm512_add_epi8(low, low), lane_counts(twos));
  low = _mm512_add_epi8(_mm512_add_epi8(low, low), lane_counts(ones));
  __m512i sixteens = _mm512_setzero_si512();  // num_pending <= 15: push drains at 16
  for (int k = 0; k < num_pending; ++k)
    sixteens = _mm512_add_epi8(sixteens, lane_counts(_mm512_loadu_si512(pending[k])));
  // Both halves of the lanes added (at most 240 per byte), byte b of the result = bit b.
  auto per_position = [](__m512i v) {
    v = _mm512_add_epi8(v, _mm512_permutexvar_epi64(_mm512_setr_epi64(1, 0, 3, 2, 5, 4, 7, 6), v));
    return _mm512_cvtepu8_epi16(_mm512_castsi512_si256(
        _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), v)));
  };
  // 32 x uint16: at most 240 + 16 x 240
  const __m512i per_bit =
      _mm512_add_epi16(per_position(low), _mm512_slli_epi16(per_position(sixteens), 4));
  // Four quarters of 8 words, written out: the extract's index must be a constant (clang).
  auto add_quarter = [counts](int q, __m128i words) {
    const __m512i c = _mm512_cvtepu16_epi64(words);
    _mm512_storeu_si512(counts + 8 * q, _mm512_add_epi64(_mm512_loadu_si512(counts + 8 * q), c));
  };
  add_quarter(0, _mm512_castsi512_si128(per_bit));
  add_quarter(1, _mm512_extracti32x4_epi32(per_bit, 1));
  add_quarter(2, _mm512_extracti32x4_epi32(per_bit, 2));
  add_quarter(3, _mm512_extracti32x4_epi32(per_bit, 3));
}

// Counts one-hot lanes (bit p set = one value in window bin p) with Harley-Seal carry-save trees:
// 16 inputs cost 15 adders (30 ternary-logic ops) and leave one vector of weight 16 (level 1, kept
// in registers by the batch loop); sixteen of those go through a second tree into a vector of
// weight 256 (level 2, out of line, once per 16 batches), whose bits are counted one by one.
// Nothing here is over-aligned in memory: level 2 lives in plain arrays read and written unaligned.
struct exp_counter_level2 {
  uint32_t pending[16][kLanes];  // level-1 outputs, weight 16 each
  int num_pending = 0;
  // Set by the first drain, which clears planes and counts: until then they hold nothing and are
  // neither cleared nor read, which spares a small tensor's flush (most tensors of a model never
  // fill level 2) half a kilobyte of stores and four plane scans.
  bool drained = false;
  uint32_t planes[4][kLanes];      // weights 16, 32, 64, 128
  uint64_t counts[kWindowBins];    // drained outputs

  // Starts over; `pending` needs no clearing (num_pending says how much of it holds data), which
  // saves a kilobyte of stores per tensor.
  void reset() {
    num_pending = 0;
    drained = false;
  }

  void push(__m512i sixteens) {
    _mm512_storeu_si512(pending[num_pending++], sixteens);
    if (num_pending == 16) [[unlikely]] drain();
  }

  __attribute__((noinline)) void drain() {
    if (!drained) {
      std::memset(planes, 0, sizeof planes);
      std::memset(counts, 0, sizeof counts);
      drained = true;
    }
    auto in = [this](int k) { return _mm512_loadu_si512(pending[k]); };
    __m512i ones = _mm512_loadu_si512(planes[0]), twos = _mm512_loadu_si512(planes[1]);
    __m512i fours = _mm512_loadu_si512(planes[2]), eights = _mm512_loadu_si512(planes[3]);
    __m512i twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, x256;
    csa(twos_a, ones, ones, in(0), in(1));
    csa(twos_b, ones, ones, in(2), in(3));
    csa(fours_a, twos, twos, twos_a, twos_b);
    csa(twos_a, ones, ones, in(4), in(5));
    csa(twos_b, ones, ones, in(6), in(7));
    csa(fours_b, twos, twos, twos_a, twos_b);
    csa(eights_a, fours, fours, fours_a, fours_b);
    csa(twos_a, ones, ones, in(8), in(9));
    csa(twos_b, ones, ones, in(10), in(11));
    csa(fours_a, twos, twos, twos_a, twos_b);
    csa(twos_a, ones, ones, in(12), in(13));
    csa(twos_b, ones, ones, in(14), in(15));
    csa(fours_b, twos, twos, twos_a, twos_b);
    csa(eights_b, fours, fours, fours_a, fours_b);
    csa(x256, eights, eights, eights_a, eights_b);
    add_positional(counts, x256, 256);
    _mm512_storeu_si512(planes[0], ones);
    _mm512_storeu_si512(planes[1], twos);
    _mm512_storeu_si512(planes[2], fours);
    _mm512_storeu_si512(planes[3], eights);
    num_pending = 0;
  }
};

struct exp_counter {
  exp_counter_level2 &level2;  // a separate object, so level 1 alone stays in registers
  __m512i ones = _mm512_setzero_si512(), twos = ones, fours = ones, eights = ones;  // level 1
  __m512i twos_a = ones, fours_a = ones, eights_a = ones;  // partial results between pairs

  // Pair k (0-7) of sixteen one-hot vectors: one step of the level-1 tree, which pushes its
  // weight-16 output after pair 7. k is a constant once inlined, so the branches fold away.
  __attribute__((always_inline)) void add_pair(int k, __m512i x, __m512i y) {
    __m512i twos_b, fours_b, eights_b, sixteens;
    if ((k & 1) == 0) {
      csa(twos_a, ones, ones, x, y);
      return;
    }
    csa(twos_b, ones, ones, x, y);
    if ((k & 2) == 0) {
      csa(fours_a, twos, twos, twos_a, twos_b);
      return;
    }
    csa(fours_b, twos, twos, twos_a, twos_b);
    if ((k & 4) == 0) {
      csa(eights_a, fours, fours, fours_a, fours_b);
      return;
    }
    csa(eights_b, fours, fours, fours_a, fours_b);
    csa(sixteens, eights, eights, eights_a, eights_b);
    level2.push(sixteens);
  }

  // Sixteen one-hot vectors at once: the level-1 tree.
  template <class OneHot>
  __attribute__((always_inline)) void add16(OneHot &&one_hot) {
    // Unrolled, so that k is a constant in each copy of add_pair.
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      // one_hot adds to sums, whose order fixes their rounding: odd before even, the order GCC
      // gave the earlier form of this tree (both as arguments of one call), kept so that the
      // summaries stay the same bit for bit.
      const __m512i y = one_hot(2 * k + 1);
      add_pair(k, one_hot(2 * k), y);
    }
  }

  // The counts so far of each bit position p of a 32-bit lane, into counts[p]; starts over.
  void take_counts(uint64_t *counts) {
    if (level2.drained) {
      std::memcpy(counts, level2.counts, sizeof level2.counts);
    } else {
      std::memset(counts, 0, sizeof level2.counts);
    }
    add_positional_low(counts, ones, twos, fours, eights, level2.pending, level2.num_pending);
    if (level2.drained) {
      for (int k = 0; k < 4; ++k)
        add_positional(counts, _mm512_loadu_si512(level2.planes[k]), uint64_t(16) << k);
    }
    ones = twos = fours = eights = _mm512_setzero_si512();
    level2.reset();
  }

  // Counts so far per window bin, plus `correction`, added to hist[base + p]; starts over.
  // Returns the number of values added.
  uint64_t flush(uint64_t *hist, int base, const int64_t *correction) {
    uint64_t counts[kWindowBins];
    take_counts(counts);
    return add_window(hist, base, counts, correction);
  }

  static uint64_t add_window(uint64_t *hist, int base, const uint64_t *counts,
                             const int64_t *correction) {
    __m512i total = _mm512_setzero_si512();
    for (int q = 0; q < kWindowBins / 8; ++q) {
      const __m512i n = _mm512_add_epi64(_mm512_loadu_si512(counts + 8 * q),
                                         _mm512_loadu_si512(correction + 8 * q));
      uint64_t *bins = hist + base + 8 * q;
      _mm512_storeu_si512(bins, _mm512_add_epi64(_mm512_loadu_si512(bins), n));
      total = _mm512_add_epi64(total, n);
    }
    return uint64_t(_mm512_reduce_add_epi64(total));
  }
};

// ---- The chunk loop ----

// min and max of values that are never NaN (NaNs never enter the accumulators): plain compares,
// inline, where std::fmin and std::fmax are calls into libm.
inline double lesser(double a, double b) { return b < a ? b : a; }
inline double greater(double a, double b) { return b > a ? b : a; }

// Largest finite magnitude among `groups` groups starting at element i (every `stride`-th of
// them), as fp32 bits (0 if none).
template <class Loader>
uint32_t max_finite_magnitude(const Loader &load, uint64_t i, int groups, int stride = 1) {
  const __m512i abs_mask = _mm512_set1_epi32(int(kF32MagnitudeMask));
  const __m512i inf_bits = _mm512_set1_epi32(int(kF32ExponentMask));
  __m512i best = _mm512_setzero_si512();
  for (int g = 0; g < groups; g += stride) {
    __m512i mag = _mm512_and_si512(_mm512_castps_si512(load(i, g)), abs_mask);
    best = _mm512_mask_max_epu32(best, _mm512_cmplt_epu32_mask(mag, inf_bits), best, mag);
  }
  return _mm512_reduce_max_epu32(best);
}

// Groups that hold elements [begin, end), at most one batch's; counted in pairs, because the bf16
// loader spreads each 32 elements over a pair of groups.
inline int groups_holding(uint64_t begin, uint64_t end) {
  uint64_t n = 2 * ((end - begin + 2 * kLanes - 1) / (2 * kLanes));
  return n >= uint64_t(kGroups) ? kGroups : int(n);
}

// The exponent field of a chunk's first window: the largest finite magnitude among eight groups
// spread over its first batch (or its only, partial one), or among all of them when those eight
// hold no nonzero value. A guess that proves too low costs time, never results (values outside
// the window are corrected one by one, and a long chunk moves its window at the next check);
// reading a whole batch for it cost a 1,000-element tensor a tenth of its time.
template <class Loader>
int first_window_top(const Loader &load, const tail_loader<Loader> &tail, uint64_t begin,
                     uint64_t end) {
  constexpr int kSampled = 8;
  const bool full = end - begin >= kBatchElems;
  const int groups = full ? kGroups : groups_holding(begin, end);
  const int stride = groups > kSampled ? groups / kSampled : 1;
  uint32_t top = full ? max_finite_magnitude(load, begin, groups, stride)
                      : max_finite_magnitude(tail, begin, groups, stride);
  if (top == 0 && stride > 1)
    top = full ? max_finite_magnitude(load, begin, groups) : max_finite_magnitude(tail, begin, groups);
  return int(top >> 23);
}

// The window put over data whose largest magnitude has exponent field `top`: a few bins of headroom
// above (the first batch rarely holds the chunk's largest value), the rest below.
inline int window_base_for(int top) {
  constexpr int kHeadroom = 4;
  int base = top + kHeadroom - (kWindowBins - 1);
  // Exponent field 0 (zeros and fp32 subnormals) is kept out of the window (zeros are counted as
  // "finite minus histogram", subnormals are corrected one by one); 255 (NaN/Inf) stays out too.
  if (base < 1) base = 1;
  if (base > 255 - kWindowBins) base = 255 - kWindowBins;
  return base;
}

// Accumulates the finite values of elements [i, i + n) exactly in double, counting NaN and Inf:
// the path for the rare batch the fp32 lanes cannot take.
struct scalar_batch {
  double min = INFINITY, max = -INFINITY, sum = 0, sum_abs = 0, sum_sq = 0;
  uint64_t nan = 0, pos_inf = 0, neg_inf = 0;

  __attribute__((noinline)) void add(const tensor_view &t, uint64_t i, uint64_t n) {
    for (uint64_t k = i; k < i + n; ++k) {
      uint32_t bits = f32_bits_from_narrow(t.type, load_bits(t.data, t.type, k));
      uint32_t mag = bits & kF32MagnitudeMask;
      if (mag >= kF32ExponentMask) {
        if (mag > kF32ExponentMask)
          ++nan;
        else if (bits >> 31)
          ++neg_inf;
        else
          ++pos_inf;
        continue;
      }
      double x = double(float_from_bits(bits));
      min = x < min ? x : min;
      max = x > max ? x : max;
      sum += x;
      sum_abs += x < 0 ? -x : x;
      sum_sq += x * x;
    }
  }
};

inline __m512d widen_sum(__m512d acc, __m512 v) {
  acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
  return _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

// What the window's rare paths keep: per window bin, what the one-hot bits of values outside the
// window (which alias onto window bins) added there, to take back at the next flush; and counts.
struct window_fixes {
  int64_t correction[kWindowBins] = {};
  uint64_t binned = 0;         // values added to the histogram outside the counter
  uint64_t period_misses = 0;  // finite values outside the window since the last check
};

// The one-hot bits of a batch put every nonzero value (finite or not) in window bin
// (exponent - base) mod 32. Values whose exponent lies outside [base, base + 32) therefore landed
// on a wrong bin: each is taken back there and, when finite, counted in its true bin. Cold: only
// batches with such values (or NaN/Inf) get here.
// Returns how many of them were subnormal (exponent field 0).
template <class Loader>
__attribute__((noinline)) uint64_t correct_out_of_window(const Loader &load, uint64_t i, int base,
                                                         window_fixes &fixes, uint64_t *hist) {
  uint64_t subnormals = 0;
  const __m512i abs_mask = _mm512_set1_epi32(int(kF32MagnitudeMask));
  const __m512i base_v = _mm512_set1_epi32(base);
  for (int g = 0; g < kGroups; ++g) {
    __m512i mag = _mm512_and_si512(_mm512_castps_si512(load(i, g)), abs_mask);
    __m512i bin = _mm512_sub_epi32(_mm512_srli_epi32(mag, 23), base_v);
    __mmask16 in_window = _mm512_cmplt_epu32_mask(bin, _mm512_set1_epi32(kWindowBins));
    uint32_t lanes = _mm512_test_epi32_mask(mag, mag) & ~in_window;
    uint32_t m[kLanes];
    _mm512_storeu_si512(m, mag);
    while (lanes) {
      uint32_t e = m[__builtin_ctz(lanes)] >> 23;
      lanes &= lanes - 1;
      --fixes.correction[(e - uint32_t(base)) & (kWindowBins - 1)];
      if (e != 255) {
        ++hist[e];
        ++fixes.binned;
        ++fixes.period_misses;
        subnormals += e == 0;
      }
    }
  }
  return subnormals;
}

// Squares below 2^-126 lose bits in fp32: a batch of only tiny values redoes them in double.
template <class Loader>
__attribute__((noinline)) double tiny_sum_sq(const Loader &load, uint64_t i) {
  double sum_sq = 0;
  for (int g = 0; g < kGroups; ++g) {
    float v[kLanes];
    _mm512_storeu_ps(v, load(i, g));
    for (int l = 0; l < kLanes; ++l) sum_sq += double(v[l]) * double(v[l]);
  }
  return sum_sq;
}

// The rotate operand that puts exponent e on bit (e - base) mod 32.
inline __m512i rotated_one_for(int base) {
  return _mm512_set1_epi32(int(1u << ((kWindowBins - (base & (kWindowBins - 1))) & 31)));
}

// Inlined into each dtype's entry below, so the batch loop is found under that entry's name.
template <class Loader>
__attribute__((always_inline)) inline void summarize_narrow(const Loader &load, const tensor_view &t, uint64_t begin, uint64_t end,
                      summary &s) {
  const uint64_t batches = (end - begin) / kBatchElems;
  const uint64_t vector_end = begin + batches * kBatchElems;
  uint64_t *hist = s.exp_hist;  // index = fp32 exponent field; 255 (NaN/Inf) never written
  const tail_loader<Loader> tail{load, end};

  __m512 chunk_min = _mm512_set1_ps(INFINITY), chunk_max = _mm512_set1_ps(-INFINITY);
  __m512 period_max = _mm512_setzero_ps();  // largest magnitude since the last window check
  __m512d sum = _mm512_setzero_pd(), sum_abs = sum, sum_sq = sum;
  scalar_batch redone;  // batches redone in double
  exp_counter_level2 level2;
  exp_counter counter{level2};
  window_fixes fixes;
  uint64_t binned = 0;

  int window_base = window_base_for(first_window_top(load, tail, begin, end));
  __m512i rotated_one = rotated_one_for(window_base);

  // One batch of 512 elements (fewer through the tail loader) at element i.
  auto add_batch = [&](const auto &ld, uint64_t i, uint64_t n) __attribute__((always_inline)) {
    constexpr bool kTail = is_tail<std::decay_t<decltype(ld)>>;
    const __m512i abs_mask = _mm512_set1_epi32(int(kF32MagnitudeMask));
    __m512 vmin = _mm512_set1_ps(INFINITY), vmax = _mm512_set1_ps(-INFINITY);
    __m512i nonzero_min = _mm512_set1_epi32(-1);  // smallest nonzero magnitude, as bits
    __m512 half_sum[2], half_abs[2], half_sq[2];

    // Written as a lambda called twice rather than a loop, so each half is straight-line code.
    auto add_half = [&](int half) __attribute__((always_inline)) {
      __m512 vsum = _mm512_setzero_ps(), vabs = vsum, vsq = vsum;
      counter.add16([&](int k) __attribute__((always_inline)) {
        const int g = 16 * half + k;
        __m512 x = ld(i, g);
        if constexpr (!is_tail<std::decay_t<decltype(ld)>>) prefetch_ahead(ld, i, g);
        __m512i mag = _mm512_and_si512(_mm512_castps_si512(x), abs_mask);
        // Operand order matters: min/max return the second operand when the first is NaN, so
        // NaNs never enter the accumulators. Infinities do; their batches are redone below.
        if constexpr (is_tail<std::decay_t<decltype(ld)>>) {
          __mmask16 valid = ld.valid(i, g);
          vmin = _mm512_mask_min_ps(vmin, valid, x, vmin);
          vmax = _mm512_mask_max_ps(vmax, valid, x, vmax);
        } else {
          vmin = _mm512_min_ps(x, vmin);
          vmax = _mm512_max_ps(x, vmax);
        }
        vsum = _mm512_add_ps(vsum, x);
        vabs = _mm512_add_ps(vabs, _mm512_castsi512_ps(mag));
        vsq = _mm512_fmadd_ps(x, x, vsq);
        // One nonzero mask serves the minimum (zeros leave it alone) and the one-hot bits.
        const __mmask16 nonzero = _mm512_test_epi32_mask(mag, mag);
        nonzero_min = _mm512_mask_min_epu32(nonzero_min, nonzero, nonzero_min, mag);
        // Every nonzero value sets bit (exponent - base) mod 32: the rotate reads only the low
        // five bits of its count, so the sign above the exponent needs no masking. Whether a
        // value really lies in the window is settled per batch from its smallest and largest
        // magnitudes.
        return _mm512_maskz_rolv_epi32(nonzero, rotated_one,
                                       _mm512_srli_epi32(_mm512_castps_si512(x), 23));
      });
      half_sum[half] = vsum;
      half_abs[half] = vabs;
      half_sq[half] = vsq;
    };
    add_half(0);
    // A tail that ends in the first half leaves the second one empty: skipped, which halves the
    // cost of a small tensor (a bias, a norm's scale).
    if (!kTail || n > kBatchElems / 2) {
      add_half(1);
    } else {
      half_sum[1] = half_abs[1] = half_sq[1] = _mm512_setzero_ps();
    }
    __m512 vsum = _mm512_add_ps(half_sum[0], half_sum[1]);
    __m512 vabs = _mm512_add_ps(half_abs[0], half_abs[1]);
    __m512 vsq = _mm512_add_ps(half_sq[0], half_sq[1]);

    // NaN or Inf anywhere in the batch turn the fp32 lane sums non-finite; so does fp32 overflow
    // of the sums of huge finite values. Either way the batch is redone exactly in double.
    const __mmask16 nonfinite =
        _mm512_fpclass_ps_mask(vabs, 0x99) | _mm512_fpclass_ps_mask(vsq, 0x99);
    const __m512 batch_abs_max = _mm512_max_ps(vmax, _mm512_sub_ps(_mm512_setzero_ps(), vmin));
    const __mmask16 above = _mm512_cmpge_epi32_mask(
        _mm512_castps_si512(batch_abs_max), _mm512_set1_epi32((window_base + kWindowBins) << 23));
    const __mmask16 below =
        _mm512_cmplt_epu32_mask(nonzero_min, _mm512_set1_epi32(window_base << 23));
    if (nonfinite | above | below) [[unlikely]]
      correct_out_of_window(ld, i, window_base, fixes, hist);

    if (nonfinite) [[unlikely]] {
      redone.add(t, i, n);
      period_max = _mm512_set1_ps(INFINITY);  // forces a window check on exact data below
      return;
    }
    const __mmask16 small = _mm512_cmp_ps_mask(vmax, _mm512_set1_ps(0x1p-50f), _CMP_LT_OQ) &
                            _mm512_cmp_ps_mask(vmin, _mm512_set1_ps(-0x1p-50f), _CMP_GT_OQ);
    if (small == 0xffff && _mm512_reduce_add_ps(vabs) > 0.0f) [[unlikely]] {
      vsq = _mm512_setzero_ps();
      redone.sum_sq += tiny_sum_sq(ld, i);
    }
    chunk_min = _mm512_min_ps(vmin, chunk_min);
    chunk_max = _mm512_max_ps(vmax, chunk_max);
    period_max = _mm512_max_ps(period_max, batch_abs_max);
    sum = widen_sum(sum, vsum);
    sum_abs = widen_sum(sum_abs, vabs);
    sum_sq = widen_sum(sum_sq, vsq);
  };

  for (uint64_t b = 0; b < batches; ++b) {
    // A marker for `ttap bench --static-cpu`, which counts this loop's instructions in the
    // disassembly: one nop with a distinctive operand, about 0.3% of the loop's instructions.
    asm volatile("nopl 0x7474(%rax)");
    const uint64_t i = begin + b * kBatchElems;
    add_batch(load, i, kBatchElems);

    // Move the window when the data outgrew it, or when it keeps missing values below it and the
    // data's top has come down; a few stray tiny values stay on the correction path.
    if ((b + 1) % kBatchesPerWindowCheck == 0) [[unlikely]] {
      float top_value = _mm512_reduce_max_ps(period_max);
      uint64_t period_begin = i + kBatchElems - kBatchElems * kBatchesPerWindowCheck;
      int top =
          std::isinf(top_value)
              ? int(max_finite_magnitude(load, period_begin, kGroups * kBatchesPerWindowCheck) >>
                    23)
              : int(bits_from_float(top_value) >> 23);
      bool outgrown = top > window_base + kWindowBins - 1;
      bool missing = fixes.period_misses > kBatchElems * kBatchesPerWindowCheck / 16;
      if ((outgrown || missing) && window_base_for(top) != window_base) {
        binned += counter.flush(hist, window_base, fixes.correction);
        std::memset(fixes.correction, 0, sizeof fixes.correction);
        window_base = window_base_for(top);
        rotated_one = rotated_one_for(window_base);
      }
      period_max = _mm512_setzero_ps();
      fixes.period_misses = 0;
    }
  }
  // The last partial batch: the same loop body with masked loads (no element-by-element tail).
  if (vector_end < end) add_batch(tail, vector_end, end - vector_end);
  binned += counter.flush(hist, window_base, fixes.correction) + fixes.binned;

  // Fold the vector part into the summary; zeros are what is finite and not in the histogram.
  s.nan += redone.nan;
  s.pos_inf += redone.pos_inf;
  s.neg_inf += redone.neg_inf;
  s.zero += (end - begin) - redone.nan - redone.pos_inf - redone.neg_inf - binned;
  double min_value = lesser(double(_mm512_reduce_min_ps(chunk_min)), redone.min);
  double max_value = greater(double(_mm512_reduce_max_ps(chunk_max)), redone.max);
  if (min_value <= max_value) {  // some finite value was seen
    s.min = lesser(s.min, min_value);
    s.max = greater(s.max, max_value);
    s.abs_max = greater(s.abs_max, greater(-min_value, max_value));
  }
  s.sum += _mm512_reduce_add_pd(sum) + redone.sum;
  s.sum_abs += _mm512_reduce_add_pd(sum_abs) + redone.sum_abs;
  s.sum_sq += _mm512_reduce_add_pd(sum_sq) + redone.sum_sq;
  s.count += end - begin;
}

#if defined(__AVX512BF16__)
// bf16 on CPUs with AVX512_BF16: 32 elements per 512-bit vector and never widened. The three sums
// are dot products (vdpbf16ps: x.1, |x|.1, x.x, two elements per fp32 lane per instruction, the
// products exact in fp32), min and max come from three 16-bit integer extremes of the raw bits (no
// per-element key), and the histogram's one-hot bits are 16-bit words, one per value, looked up
// from its exponent field by two word permutes (vpermw), in two streams counted apart.
// vdpbf16ps costs about as much as four simple vector instructions on the Xeons measured (a
// throughput of one per 2.8 cycles), so the three sums are most of this loop's time.
// vdpbf16ps reads subnormal inputs as zero, so a batch holding a subnormal is redone in double
// (subnormals are below the window and found by its check anyway).
// bf16's one-hot bits are 16-bit words, one per value, in two streams counted apart: window bins
// 0-15 (bit p = bin p) and 16-31 (bit p = bin 16 + p). The tables map an exponent's low five bits
// to its word in each stream, so (exponent - base) mod 32 lands as in the 32-bit one-hots above.
struct word_one_hots {
  __m512i low, high;
};
using word_one_hot_tables = word_one_hots;

inline word_one_hot_tables word_one_hot_tables_for(int base) {
  uint16_t low[32], high[32];
  for (int k = 0; k < 32; ++k) {
    const int bin = (k - base) & (kWindowBins - 1);
    low[k] = bin < 16 ? uint16_t(1u << bin) : 0;
    high[k] = bin < 16 ? 0 : uint16_t(1u << (bin - 16));
  }
  return {_mm512_loadu_si512(low), _mm512_loadu_si512(high)};
}

// Both streams' counts, per window bin (a 32-bit lane holds two words: bits p and 16 + p are the
// same bin), plus `correction`, into hist[base + bin]; both start over. Returns the values added.
inline uint64_t flush_words(exp_counter &low, exp_counter &high, uint64_t *hist, int base,
                            const int64_t *correction) {
  uint64_t low_counts[kWindowBins], high_counts[kWindowBins], counts[kWindowBins];
  low.take_counts(low_counts);
  high.take_counts(high_counts);
  for (int p = 0; p < 16; ++p) {
    counts[p] = low_counts[p] + low_counts[p + 16];
    counts[p + 16] = high_counts[p] + high_counts[p + 16];
  }
  return exp_counter::add_window(hist, base, counts, correction);
}

__attribute__((always_inline)) inline void summarize_bf16_dot(const tensor_view &t, uint64_t begin,
                                                              uint64_t end, summary &s) {
  const load_bf16 load{static_cast<const unsigned char *>(t.data)};
  const tail_loader<load_bf16> tail{load, end};
  const uint64_t batches = (end - begin) / kBatchElems;
  const uint64_t vector_end = begin + batches * kBatchElems;
  uint64_t *hist = s.exp_hist;

  // Raw bf16 bits with the sign clear (positive values, +0) order like their values both as
  // signed and as unsigned 16-bit integers, and lie above all negative ones as signed, below them
  // as unsigned; negative ones order by magnitude as unsigned. So over any set of values the
  // signed maximum is the largest positive value (if there is one), the unsigned maximum the most
  // negative value (if there is one), and the unsigned minimum the smallest positive value or,
  // with none, the negative value nearest zero: min and max, three integer extremes per vector.
  // The starting values are the identities (the bits of -0, +0 and a NaN never summarized here).
  const __m512i signed_floor = _mm512_set1_epi16(-0x8000), unsigned_ceiling = _mm512_set1_epi16(-1);
  __m512i chunk_signed_max = signed_floor, chunk_unsigned_max = _mm512_setzero_si512(),
          chunk_unsigned_min = unsigned_ceiling;
  __m512i period_mag = _mm512_setzero_si512();  // largest magnitude since the last window check
  __m512d sum = _mm512_setzero_pd(), sum_abs = sum, sum_sq = sum;
  scalar_batch redone;
  exp_counter_level2 low_level2, high_level2;
  exp_counter low_counter{low_level2}, high_counter{high_level2};
  window_fixes fixes;
  uint64_t binned = 0;

  int window_base = window_base_for(first_window_top(load, tail, begin, end));
  word_one_hot_tables tables = word_one_hot_tables_for(window_base);

  auto add_batch = [&](auto is_tail_batch, uint64_t i, uint64_t n) __attribute__((always_inline)) {
    constexpr bool kTail = decltype(is_tail_batch)::value;
    const __m512i mag_mask = _mm512_set1_epi16(0x7fff);
    const __m512bh ones = (__m512bh)_mm512_set1_epi16(0x3f80);  // bf16 1.0
    __m512i signed_max = signed_floor, unsigned_max = _mm512_setzero_si512(),
            unsigned_min = unsigned_ceiling;
    __m512i nonzero_min = _mm512_set1_epi16(-1);  // smallest nonzero magnitude
    __m512 half_sum[2], half_abs[2], half_sq[2];
    // Written as a lambda called twice rather than a loop, so each half is straight-line code.
    auto add_half = [&](int half) __attribute__((always_inline)) {
      __m512 vsum = _mm512_setzero_ps(), vabs = vsum, vsq = vsum;
      // Vector r (0-7) of the half: its 32 values' sums and extremes, and their one-hot words.
      auto add_vector = [&](int r) __attribute__((always_inline)) {
        const int g = 2 * (8 * half + r);  // its first group
        const uint64_t first = i + uint64_t(kLanes) * uint64_t(g);
        __m512i raw;
        __mmask32 valid = 0xffffffffu;
        if constexpr (kTail) {
          int64_t left = int64_t(end) - int64_t(first);
          valid = left <= 0 ? 0 : left >= 32 ? 0xffffffffu : __mmask32((1u << left) - 1);
          raw = _mm512_maskz_loadu_epi16(valid, load.base + 2 * first);
        } else {
          raw = _mm512_loadu_si512(load.base + 2 * first);
          prefetch_ahead(load, i, g);
        }
        __m512i mag = _mm512_and_si512(raw, mag_mask);
        vsum = _mm512_dpbf16_ps(vsum, (__m512bh)raw, ones);
        vabs = _mm512_dpbf16_ps(vabs, (__m512bh)mag, ones);
        vsq = _mm512_dpbf16_ps(vsq, (__m512bh)raw, (__m512bh)raw);
        if constexpr (kTail) {
          signed_max = _mm512_mask_max_epi16(signed_max, valid, signed_max, raw);
          unsigned_max = _mm512_mask_max_epu16(unsigned_max, valid, unsigned_max, raw);
          unsigned_min = _mm512_mask_min_epu16(unsigned_min, valid, unsigned_min, raw);
        } else {
          signed_max = _mm512_max_epi16(signed_max, raw);
          unsigned_max = _mm512_max_epu16(unsigned_max, raw);
          unsigned_min = _mm512_min_epu16(unsigned_min, raw);
        }
        // One nonzero mask (masked-off tail words load as zero) serves the minimum and the
        // one-hot words: each word's exponent, shifted down, indexes the two window tables by
        // its low five bits (the sign above them is ignored), so a value costs two permutes.
        const __mmask32 nonzero = _mm512_test_epi16_mask(raw, mag_mask);
        nonzero_min = _mm512_mask_min_epu16(nonzero_min, nonzero, nonzero_min, mag);
        const __m512i exponent = _mm512_srli_epi16(raw, 7);
        return word_one_hots{_mm512_maskz_permutexvar_epi16(nonzero, exponent, tables.low),
                             _mm512_maskz_permutexvar_epi16(nonzero, exponent, tables.high)};
      };
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        // In this order: the sums' order fixes their rounding.
        const word_one_hots x = add_vector(2 * j);
        const word_one_hots y = add_vector(2 * j + 1);
        low_counter.add_pair(4 * half + j, x.low, y.low);
        high_counter.add_pair(4 * half + j, x.high, y.high);
      }
      half_sum[half] = vsum;
      half_abs[half] = vabs;
      half_sq[half] = vsq;
    };
    add_half(0);
    // A tail that ends in the first half leaves the second one empty: skipped, which halves the
    // cost of a small tensor (a bias, a norm's scale); its tree steps still run, on zeros.
    if (!kTail || n > kBatchElems / 2) {
      add_half(1);
    } else {
      half_sum[1] = half_abs[1] = half_sq[1] = _mm512_setzero_ps();
      const __m512i zero = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int j = 4; j < 8; ++j) {
        low_counter.add_pair(j, zero, zero);
        high_counter.add_pair(j, zero, zero);
      }
    }
    __m512 vsum = _mm512_add_ps(half_sum[0], half_sum[1]);
    __m512 vabs = _mm512_add_ps(half_abs[0], half_abs[1]);
    __m512 vsq = _mm512_add_ps(half_sq[0], half_sq[1]);

    const __mmask16 nonfinite =
        _mm512_fpclass_ps_mask(vabs, 0x99) | _mm512_fpclass_ps_mask(vsq, 0x99);
    // Each lane's largest magnitude is that of its largest positive value (its signed maximum)
    // or of its most negative one (its unsigned maximum); the other is a magnitude of the lane's
    // too, never larger.
    const __m512i mag_max = _mm512_max_epu16(_mm512_and_si512(signed_max, mag_mask),
                                             _mm512_and_si512(unsigned_max, mag_mask));
    const __mmask32 above = _mm512_cmpge_epu16_mask(
        mag_max, _mm512_set1_epi16(short((window_base + kWindowBins) << 7)));
    const __mmask32 below =
        _mm512_cmplt_epu16_mask(nonzero_min, _mm512_set1_epi16(short(window_base << 7)));
    uint64_t subnormals = 0;
    if (nonfinite | above | below) [[unlikely]] {
      if constexpr (kTail)
        subnormals = correct_out_of_window(tail, i, window_base, fixes, hist);
      else
        subnormals = correct_out_of_window(load, i, window_base, fixes, hist);
    }
    if (nonfinite || subnormals) [[unlikely]] {
      redone.add(t, i, n);
      period_mag = _mm512_set1_epi16(0x7f80);  // forces a window check on exact data below
      return;
    }
    // Squares below 2^-126 are flushed to zero: a batch of only tiny values redoes them.
    if (_mm512_cmpge_epu16_mask(mag_max, _mm512_set1_epi16((127 - 50) << 7)) == 0 &&
        _mm512_reduce_add_ps(vabs) > 0.0f) [[unlikely]] {
      vsq = _mm512_setzero_ps();
      if constexpr (kTail)
        redone.sum_sq += tiny_sum_sq(tail, i);
      else
        redone.sum_sq += tiny_sum_sq(load, i);
    }
    chunk_signed_max = _mm512_max_epi16(chunk_signed_max, signed_max);
    chunk_unsigned_max = _mm512_max_epu16(chunk_unsigned_max, unsigned_max);
    chunk_unsigned_min = _mm512_min_epu16(chunk_unsigned_min, unsigned_min);
    period_mag = _mm512_max_epu16(period_mag, mag_max);
    sum = widen_sum(sum, vsum);
    sum_abs = widen_sum(sum_abs, vabs);
    sum_sq = widen_sum(sum_sq, vsq);
  };

  auto lanes16 = [](__m512i v, uint16_t *out) { _mm512_storeu_si512(out, v); };
  for (uint64_t b = 0; b < batches; ++b) {
    asm volatile("nopl 0x7474(%rax)");  // the loop marker, as in summarize_narrow
    const uint64_t i = begin + b * kBatchElems;
    add_batch(std::false_type(), i, kBatchElems);
    if ((b + 1) % kBatchesPerWindowCheck == 0) [[unlikely]] {
      uint16_t m[32];
      lanes16(period_mag, m);
      uint16_t top_mag = 0;
      for (uint16_t v : m) top_mag = v > top_mag ? v : top_mag;
      uint64_t period_begin = i + kBatchElems - kBatchElems * kBatchesPerWindowCheck;
      int top = top_mag >= 0x7f80
                    ? int(max_finite_magnitude(load, period_begin,
                                               kGroups * kBatchesPerWindowCheck) >>
                          23)
                    : int(top_mag >> 7);
      bool outgrown = top > window_base + kWindowBins - 1;
      bool missing = fixes.period_misses > kBatchElems * kBatchesPerWindowCheck / 16;
      if ((outgrown || missing) && window_base_for(top) != window_base) {
        binned += flush_words(low_counter, high_counter, hist, window_base, fixes.correction);
        std::memset(fixes.correction, 0, sizeof fixes.correction);
        window_base = window_base_for(top);
        tables = word_one_hot_tables_for(window_base);
      }
      period_mag = _mm512_setzero_si512();
      fixes.period_misses = 0;
    }
  }
  if (vector_end < end) add_batch(std::true_type(), vector_end, end - vector_end);
  binned +=
      flush_words(low_counter, high_counter, hist, window_base, fixes.correction) + fixes.binned;

  s.nan += redone.nan;
  s.pos_inf += redone.pos_inf;
  s.neg_inf += redone.neg_inf;
  s.zero += (end - begin) - redone.nan - redone.pos_inf - redone.neg_inf - binned;
  uint16_t signed_max_lanes[32], unsigned_max_lanes[32], unsigned_min_lanes[32];
  lanes16(chunk_signed_max, signed_max_lanes);
  lanes16(chunk_unsigned_max, unsigned_max_lanes);
  lanes16(chunk_unsigned_min, unsigned_min_lanes);
  int16_t signed_max = -0x8000;
  uint16_t unsigned_max = 0, unsigned_min = 0xffff;
  for (int l = 0; l < 32; ++l) {
    const int16_t lane_signed_max = int16_t(signed_max_lanes[l]);
    signed_max = lane_signed_max > signed_max ? lane_signed_max : signed_max;
    unsigned_max = unsigned_max_lanes[l] > unsigned_max ? unsigned_max_lanes[l] : unsigned_max;
    unsigned_min = unsigned_min_lanes[l] < unsigned_min ? unsigned_min_lanes[l] : unsigned_min;
  }
  auto value_of = [](uint16_t bits) { return double(float_from_bits(f32_bits_from_bf16(bits))); };
  double min_value = redone.min, max_value = redone.max;
  if (unsigned_min <= unsigned_max) {  // some value was summarized in vector lanes
    const bool some_negative = unsigned_max >= 0x8000, some_positive = signed_max >= 0;
    min_value = lesser(min_value, value_of(some_negative ? unsigned_max : unsigned_min));
    max_value = greater(max_value, value_of(some_positive ? uint16_t(signed_max) : unsigned_min));
  }
  if (min_value <= max_value) {
    s.min = lesser(s.min, min_value);
    s.max = greater(s.max, max_value);
    s.abs_max = greater(s.abs_max, greater(-min_value, max_value));
  }
  s.sum += _mm512_reduce_add_pd(sum) + redone.sum;
  s.sum_abs += _mm512_reduce_add_pd(sum_abs) + redone.sum_abs;
  s.sum_sq += _mm512_reduce_add_pd(sum_sq) + redone.sum_sq;
  s.count += end - begin;
}
#endif

}  // namespace

// One out-of-line entry per dtype, with C names: `ttap bench --static-cpu` finds their batch loops
// in the disassembly and counts the instructions per element.
extern "C" {
__attribute__((noinline, noclone, used)) void ttap_cpu_avx512_f32(const tensor_view &t, uint64_t begin,
                                                   uint64_t end, summary &s) {
  summarize_narrow(load_f32{static_cast<const unsigned char *>(t.data)}, t, begin, end, s);
}
__attribute__((noinline, noclone, used)) void ttap_cpu_avx512_bf16(const tensor_view &t, uint64_t begin,
                                                    uint64_t end, summary &s) {
  summarize_narrow(load_bf16{static_cast<const unsigned char *>(t.data)}, t, begin, end, s);
}
#if defined(__AVX512BF16__)
__attribute__((noinline, noclone, used)) void ttap_cpu_avx512_bf16_dot(const tensor_view &t,
                                                                       uint64_t begin, uint64_t end,
                                                                       summary &s) {
  summarize_bf16_dot(t, begin, end, s);
}
#endif
__attribute__((noinline, noclone, used)) void ttap_cpu_avx512_f16(const tensor_view &t, uint64_t begin,
                                                   uint64_t end, summary &s) {
  summarize_narrow(load_f16{static_cast<const unsigned char *>(t.data)}, t, begin, end, s);
}
__attribute__((noinline, noclone, used)) void ttap_cpu_avx512_f8e5m2(const tensor_view &t, uint64_t begin,
                                                      uint64_t end, summary &s) {
  summarize_narrow(load_e5m2{static_cast<const unsigned char *>(t.data)}, t, begin, end, s);
}
__attribute__((noinline, noclone, used)) void ttap_cpu_avx512_f8e4m3(const tensor_view &t, uint64_t begin,
                                                      uint64_t end, summary &s) {
  summarize_narrow(load_e4m3{static_cast<const unsigned char *>(t.data)}, t, begin, end, s);
}
}

namespace {
std::atomic<bool> g_bf16_dot_enabled{true};
}  // namespace

bool enable_bf16_dot_path(bool enabled) { return g_bf16_dot_enabled.exchange(enabled); }

// AVX512_BF16 (vdpbf16ps), for the bf16 dot-product path; read once.
bool bf16_dot_supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return supported && g_bf16_dot_enabled.load(std::memory_order_relaxed);
}

bool avx512_supported() {
  __builtin_cpu_init();
  // GFNI, VBMI and BITALG for the histogram flush's bit transpose: every CPU with VPOPCNTDQ and
  // BW has them (Ice Lake and later, Zen 4 and later).
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("gfni") &&
         __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bitalg");
}

void summarize_chunk_avx512(const tensor_view &tensor, uint64_t begin, uint64_t end, summary &out) {
  switch (tensor.type) {
    case dtype::f32:
      ttap_cpu_avx512_f32(tensor, begin, end, out);
      break;
    case dtype::bf16:
#if defined(__AVX512BF16__)
      if (bf16_dot_supported()) {
        ttap_cpu_avx512_bf16_dot(tensor, begin, end, out);
        break;
      }
#endif
      ttap_cpu_avx512_bf16(tensor, begin, end, out);
      break;
    case dtype::f16:
      ttap_cpu_avx512_f16(tensor, begin, end, out);
      break;
    case dtype::f8e5m2:
      ttap_cpu_avx512_f8e5m2(tensor, begin, end, out);
      break;
    case dtype::f8e4m3:
      ttap_cpu_avx512_f8e4m3(tensor, begin, end, out);
      break;
    case dtype::f64:
      summarize_chunk_portable(tensor, begin, end, out);
      return;
  }
  // As in the portable path: the dtype's subnormals read off the histogram.
  out.subnormal = subnormal_count_from_hist(tensor.type, out.exp_hist);
}

}  // namespace ttap::cpu

#else  // no AVX-512 in this build: the portable path is the only one

namespace ttap::cpu {
bool enable_bf16_dot_path(bool) { return false; }
bool bf16_dot_supported() { return false; }
bool avx512_supported() { return false; }
void summarize_chunk_avx512(const tensor_view &tensor, uint64_t begin, uint64_t end, summary &out) {
  summarize_chunk_portable(tensor, begin, end, out);
}
}  // namespace ttap::cpu

#endif
