// The fused multi-tensor summary kernel: one launch summarizes every watched tensor. A persistent
// grid walks a flat list of (tensor, chunk) work items; each chunk is read once with 16-byte loads,
// its histogram counted in per-warp shared memory, its float sums left in a fixed slot; the last
// block to finish a tensor merges those slots in chunk order (no second launch, reproducible).
#pragma once

#include "kernels/block/block_reduce.cuh"
#include "kernels/fused_stats_params.h"
#include "kernels/simt/cuda_compat.h"
#include "kernels/thread/element_stats.cuh"

namespace ttap {

// Vectors (16 bytes) each thread loads before using any of them: several loads in flight hide
// memory latency without a second pass.
inline constexpr int kLoadsInFlight = 4;

// ---- Per-chunk body, one instantiation per dtype ----

inline constexpr bool is_fp8(dtype t) { return t == dtype::f8e4m3 || t == dtype::f8e5m2; }

// Elements of dtype T per 16-byte vector, how each vector widens into fp32 bits, and whether the
// widened values keep zeros alone in exponent bin 0 (see count_exponent). fp8 is not widened in the
// main loop at all (chunk_bytes).
template <dtype T>
struct vector_traits;

template <>
struct vector_traits<dtype::f32> {
  static constexpr int kElems = 4;
  static constexpr bool kZeroInBinZero = false;  // fp32 subnormals share exponent field 0
  __device__ static void widen(const uint4 &v, uint32_t *out) {
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  }
};

template <>
struct vector_traits<dtype::bf16> {
  static constexpr int kElems = 8;
  static constexpr bool kZeroInBinZero = false;  // bf16 subnormals are fp32 subnormals
  __device__ static void widen(const uint4 &v, uint32_t *out) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) f32_bits_from_bf16x2(w[k], out[2 * k], out[2 * k + 1]);
  }
};

template <>
struct vector_traits<dtype::f16> {
  static constexpr int kElems = 8;
  static constexpr bool kZeroInBinZero = true;  // fp16 subnormals are normal in fp32
  __device__ static void widen(const uint4 &v, uint32_t *out) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) f32_bits_of_half2(w[k], out[2 * k], out[2 * k + 1]);
  }
};

__device__ __forceinline__ void add_fingerprint(thread_stats &ts, uint64_t index, uint64_t raw) {
  ts.fingerprint += fingerprint_term(index, raw);
}

// Fingerprint terms of the kElemSize-byte elements of one 16-byte vector whose first element is
// element `first` of the tensor.
template <int kElemSize>
__device__ __forceinline__ void add_vector_fingerprint(thread_stats &ts, uint64_t first,
                                                       const uint4 &v) {
  constexpr int kBits = 8 * kElemSize, kPerVector = 16 / kElemSize;
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int k = 0; k < kPerVector; ++k) {
    uint64_t raw;
    if constexpr (kBits == 32) {
      raw = w[k];
    } else {
      raw = (w[k * kBits / 32] >> (kBits * k % 32)) & ((1u << kBits) - 1);
    }
    add_fingerprint(ts, first + k, raw);
  }
}

// Raw bits of element i of a tensor whose start may not be aligned even to its element size: byte
// loads, since the GPU faults on misaligned wider loads.
__device__ __forceinline__ uint64_t load_raw(const unsigned char *base, int elem_size, uint64_t i) {
  uint64_t raw = 0;
  for (int b = 0; b < elem_size; ++b) raw |= uint64_t(base[i * elem_size + b]) << (8 * b);
  return raw;
}

// One scalar element of a narrow dtype (head, tail, or misaligned tensors).
template <dtype T>
__device__ __forceinline__ void add_scalar(thread_stats &ts, const unsigned char *base, uint64_t i,
                                           bool fingerprint, unsigned int *warp_hist) {
  uint64_t raw = load_raw(base, dtype_size(T), i);
  const uint32_t bits[1] = {f32_bits_of(T, raw)};
  add_group<1, vector_traits<T>::kZeroInBinZero>(ts, bits, warp_hist);
  if (fingerprint) add_fingerprint(ts, i, raw);
}

// Where the 16-byte aligned middle [body_begin, body_end) of elements [begin, end) lies. A tensor
// not aligned to its own element size never aligns: its body is empty and everything is scalar.
template <int kElemSize>
__device__ __forceinline__ void vector_body(const unsigned char *base, uint64_t begin, uint64_t end,
                                            uint64_t &body_begin, uint64_t &body_end) {
  constexpr int kPerVector = 16 / kElemSize;
  body_begin = body_end = end;
  uintptr_t start_addr = reinterpret_cast<uintptr_t>(base) + begin * kElemSize;
  if (start_addr % kElemSize == 0) {
    uint64_t head = ((16 - start_addr % 16) % 16) / kElemSize;
    body_begin = begin + head < end ? begin + head : end;
    body_end = body_begin + (end - body_begin) / kPerVector * kPerVector;
  }
}

// fp32, bf16, fp16: elements [begin, end) of the tensor at `base`. The fingerprint is a template
// parameter so the loop without it carries no trace of it.
template <dtype T, bool kFingerprint>
__device__ void chunk_narrow(thread_stats &ts, const unsigned char *base, uint64_t begin,
                             uint64_t end, unsigned int *warp_hist) {
  using traits = vector_traits<T>;
  constexpr int kElemSize = dtype_size(T);
  constexpr int kPerVector = traits::kElems;
  // Vectors summed as one fp32 group, and groups per round of kLoadsInFlight vectors.
  constexpr int kGroupVectors = kGroupValues / kPerVector;
  static_assert(kLoadsInFlight % kGroupVectors == 0, "a round holds whole groups");
  const uint64_t tid = threadIdx.x, nthreads = blockDim.x;

  uint64_t body_begin, body_end;
  vector_body<kElemSize>(base, begin, end, body_begin, body_end);
  for (uint64_t i = begin + tid; i < body_begin; i += nthreads)
    add_scalar<T>(ts, base, i, kFingerprint, warp_hist);
  for (uint64_t i = body_end + tid; i < end; i += nthreads)
    add_scalar<T>(ts, base, i, kFingerprint, warp_hist);

  const uint4 *vectors = reinterpret_cast<const uint4 *>(base + body_begin * kElemSize);
  const uint64_t num_vectors = (body_end - body_begin) / kPerVector;
  // Full rounds: this thread's kLoadsInFlight vectors are all in range, loaded before any is used,
  // with no bounds test between them.
  uint64_t v0 = tid;
  for (; v0 + (kLoadsInFlight - 1) * nthreads < num_vectors; v0 += kLoadsInFlight * nthreads) {
    uint4 loaded[kLoadsInFlight];
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) loaded[u] = __ldg(vectors + v0 + u * nthreads);
#pragma unroll
    for (int g = 0; g < kLoadsInFlight / kGroupVectors; ++g) {
      uint32_t bits[kGroupValues];
#pragma unroll
      for (int u = 0; u < kGroupVectors; ++u)
        traits::widen(loaded[g * kGroupVectors + u], bits + u * kPerVector);
      add_group<kGroupValues, traits::kZeroInBinZero>(ts, bits, warp_hist);
    }
    if constexpr (kFingerprint) {
#pragma unroll
      for (int u = 0; u < kLoadsInFlight; ++u) {
        add_vector_fingerprint<kElemSize>(ts, body_begin + (v0 + u * nthreads) * kPerVector,
                                          loaded[u]);
      }
    }
  }
  // The last, partial round: one vector per group.
  for (uint64_t v = v0; v < num_vectors; v += nthreads) {
    const uint4 loaded = __ldg(vectors + v);
    uint32_t bits[kPerVector];
    traits::widen(loaded, bits);
    add_group<kPerVector, traits::kZeroInBinZero>(ts, bits, warp_hist);
    if constexpr (kFingerprint)
      add_vector_fingerprint<kElemSize>(ts, body_begin + v * kPerVector, loaded);
  }
}

// fp8 has 256 values, so the main loop decodes nothing: each warp counts raw bytes (one shared
// atomic per element), and fold_value_histogram turns the counts into every field of the summary
// exactly, once per chunk. The counts go to the warp's histogram row, bins 0..255 by byte value.
template <bool kFingerprint>
__device__ void chunk_bytes(thread_stats &ts, const unsigned char *base, uint64_t begin,
                            uint64_t end, unsigned int *warp_hist) {
  const uint64_t tid = threadIdx.x, nthreads = blockDim.x;
  uint64_t body_begin, body_end;
  vector_body<1>(base, begin, end, body_begin, body_end);
  auto add_byte = [&](uint64_t i) {
    atomicAdd(&warp_hist[base[i]], 1u);
    if constexpr (kFingerprint) add_fingerprint(ts, i, base[i]);
  };
  for (uint64_t i = begin + tid; i < body_begin; i += nthreads) add_byte(i);
  for (uint64_t i = body_end + tid; i < end; i += nthreads) add_byte(i);

  const uint4 *vectors = reinterpret_cast<const uint4 *>(base + body_begin);
  const uint64_t num_vectors = (body_end - body_begin) / 16;
  auto count_vector = [&](const uint4 &v) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int k = 0; k < 16; ++k) atomicAdd(&warp_hist[(w[k / 4] >> (8 * (k % 4))) & 0xffu], 1u);
  };
  uint64_t v0 = tid;
  for (; v0 + (kLoadsInFlight - 1) * nthreads < num_vectors; v0 += kLoadsInFlight * nthreads) {
    uint4 loaded[kLoadsInFlight];
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) loaded[u] = __ldg(vectors + v0 + u * nthreads);
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      count_vector(loaded[u]);
      if constexpr (kFingerprint)
        add_vector_fingerprint<1>(ts, body_begin + (v0 + u * nthreads) * 16, loaded[u]);
    }
  }
  for (uint64_t v = v0; v < num_vectors; v += nthreads) {
    const uint4 loaded = __ldg(vectors + v);
    count_vector(loaded);
    if constexpr (kFingerprint) add_vector_fingerprint<1>(ts, body_begin + v * 16, loaded);
  }
}

// The main loop of a narrow dtype: fp8 counts bytes, the others widen to fp32.
template <dtype T, bool kFingerprint>
__device__ __forceinline__ void chunk_body(thread_stats &ts, const unsigned char *base,
                                           uint64_t begin, uint64_t end, unsigned int *warp_hist) {
  if constexpr (is_fp8(T)) {
    chunk_bytes<kFingerprint>(ts, base, begin, end, warp_hist);
  } else {
    chunk_narrow<T, kFingerprint>(ts, base, begin, end, warp_hist);
  }
}

// Whether the chunk's histogram bin 0 holds the zeros (see count_exponent).
template <dtype T>
__device__ __forceinline__ constexpr bool zero_in_bin_zero() {
  if constexpr (T == dtype::f32 || T == dtype::bf16 || T == dtype::f16) {
    return vector_traits<T>::kZeroInBinZero;
  } else {
    return false;
  }
}

// fp64: two passes over the chunk. The first finds the largest finite magnitude, which sets the
// power-of-two scale of the squares (so they neither overflow nor underflow); the second sums.
static __device__ void chunk_f64(thread_stats &ts, const unsigned char *base, uint64_t begin,
                                 uint64_t end, bool fingerprint, unsigned int *warp_hist,
                                 double *scratch, int &sq_exp2) {
  const uint64_t tid = threadIdx.x, nthreads = blockDim.x;
  const bool aligned = reinterpret_cast<uintptr_t>(base) % 8 == 0;
  double local_max = 0.0;
  for (uint64_t i = begin + tid; i < end; i += nthreads) {
    uint64_t raw =
        aligned ? reinterpret_cast<const unsigned long long *>(base)[i] : load_raw(base, 8, i);
    uint64_t mag = raw & 0x7fffffffffffffffull;
    if (mag < 0x7ff0000000000000ull)
      local_max = fmax(local_max, __longlong_as_double((long long)mag));
  }
  double chunk_max = block_reduce<kFusedStatsThreads>(
      local_max, scratch, [](double a, double b) { return fmax(a, b); });
  sq_exp2 = f64_sum_sq_exp2_for(chunk_max);
  for (uint64_t i = begin + tid; i < end; i += nthreads) {
    const uint64_t raw[1] = {aligned ? reinterpret_cast<const unsigned long long *>(base)[i]
                                     : load_raw(base, 8, i)};
    add_group_f64<1>(ts, raw, sq_exp2, warp_hist);
    if (fingerprint) add_fingerprint(ts, i, raw[0]);
  }
}

// ---- The kernel ----

struct fused_stats_shared {
  unsigned int hist[kFusedStatsWarps][kWarpHistStride];
  double reduce_f64[kFusedStatsWarps];
  unsigned long long reduce_u64[kFusedStatsWarps];
  int is_last;
};

// fp8, after chunk_bytes and a barrier: thread b owns byte value b. Its count n over all warps
// becomes n copies of the value (n * x, n * x * x are exact in fp64: a few mantissa bits times a
// count below 2^17), and the histogram rows are rewritten as exponent bins in row 0, the layout the
// flush expects. The caller puts a barrier after it.
template <dtype T>
__device__ void fold_value_histogram(thread_stats &ts, fused_stats_shared &sh) {
  static_assert(kFusedStatsThreads >= 256, "one thread per byte value");
  const int b = threadIdx.x;
  unsigned int n = 0;
  if (b < 256) {
    for (int wi = 0; wi < kFusedStatsWarps; ++wi) n += sh.hist[wi][b];
  }
  __syncthreads();  // every count is read before the rows are cleared
  for (int i = threadIdx.x; i < kFusedStatsWarps * kWarpHistStride; i += blockDim.x) {
    (&sh.hist[0][0])[i] = 0;
  }
  __syncthreads();
  if (n == 0) return;
  const uint32_t bits = f32_bits_of(T, uint64_t(b));
  const double x = double(__uint_as_float(bits));
  if (isnan(x)) {
    ts.nan += n;
  } else if (isinf(x)) {
    (x > 0 ? ts.pos_inf : ts.neg_inf) += n;
  } else {
    ts.min = ts.max = x;
    ts.sum = double(n) * x;
    ts.sum_abs = double(n) * fabs(x);
    ts.sum_sq = double(n) * (x * x);
    atomicAdd(&sh.hist[0][bin_of_f32(bits)], n);
  }
}

__device__ __forceinline__ double sum_f64(double v, double *scratch) {
  return block_reduce<kFusedStatsThreads>(v, scratch, [](double a, double b) { return a + b; });
}
__device__ __forceinline__ unsigned long long sum_u64(unsigned long long v,
                                                      unsigned long long *scratch) {
  return block_reduce<kFusedStatsThreads>(
      v, scratch, [](unsigned long long a, unsigned long long b) { return a + b; });
}

// The last block of a tensor merges the chunk partials in chunk order: thread j takes chunks
// j, j + blockDim, ... in order, then the block reduces in its fixed order.
static __device__ void merge_partials(const fused_stats_params &p, const tensor_desc &d,
                                      summary &out, fused_stats_shared &sh) {
  double min = INFINITY, max = -INFINITY, sum = 0, sum_abs = 0, sum_sq = 0;
  int32_t sq_exp2 = 0;
  unsigned long long fingerprint = 0;
  for (uint32_t c = threadIdx.x; c < d.num_chunks; c += blockDim.x) {
    const chunk_partial &cp = p.partials[d.first_chunk + c];
    min = fmin(min, cp.min);
    max = fmax(max, cp.max);
    sum += cp.sum;
    sum_abs += cp.sum_abs;
    double val = sum_sq;
    add_scaled_sum_sq(val, sq_exp2, cp.sum_sq, cp.sum_sq_exp2);
    sum_sq = val;
    fingerprint += cp.fingerprint;
  }
  // Squares: bring every thread to the block's largest scale before summing.
  int max_exp2 =
      int(block_reduce<kFusedStatsThreads>(sum_sq != 0.0 ? double(sq_exp2) : -1e9, sh.reduce_f64,
                                           [](double a, double b) { return fmax(a, b); }));
  sum_sq = ldexp(sum_sq, sq_exp2 - max_exp2);
  min = block_reduce<kFusedStatsThreads>(min, sh.reduce_f64,
                                         [](double a, double b) { return fmin(a, b); });
  max = block_reduce<kFusedStatsThreads>(max, sh.reduce_f64,
                                         [](double a, double b) { return fmax(a, b); });
  sum = sum_f64(sum, sh.reduce_f64);
  sum_abs = sum_f64(sum_abs, sh.reduce_f64);
  sum_sq = sum_f64(sum_sq, sh.reduce_f64);
  fingerprint = sum_u64(fingerprint, sh.reduce_u64);
  if (threadIdx.x == 0) {
    out.count = d.numel;
    out.min = min;
    out.max = max;
    out.abs_max = min <= max ? fmax(-min, max) : -INFINITY;
    out.sum = sum;
    out.sum_abs = sum_abs;
    out.sum_sq = sum_sq;
    out.sum_sq_exp2 = sum_sq != 0.0 ? max_exp2 : 0;
    out.has_fingerprint = (d.flags & kTensorFingerprint) ? 1 : 0;
    out.fingerprint = fingerprint;
    dtype t = dtype(d.type);
    if (t != dtype::f64) out.subnormal = subnormal_count_from_hist(t, out.exp_hist);
  }
}

// Everything one block does for one work item, for one dtype. Instantiated per dtype so that each
// path, tail included, is allocated registers on its own: a shared tail after a switch over the
// dtypes made ptxas spill on sm_100.
template <dtype T>
__device__ __forceinline__ void process_item(const fused_stats_params &p, const work_item &w,
                                             const tensor_desc &d, fused_stats_shared &sh) {
  const bool fingerprint = d.flags & kTensorFingerprint;
  const auto *base = static_cast<const unsigned char *>(d.data);
  const uint64_t begin = uint64_t(w.chunk) * p.chunk_elems;
  const uint64_t end = begin + p.chunk_elems < d.numel ? begin + p.chunk_elems : d.numel;
  summary &out = p.out[d.out_slot];

  for (int i = threadIdx.x; i < kFusedStatsWarps * kWarpHistStride; i += blockDim.x) {
    (&sh.hist[0][0])[i] = 0;
  }
  __syncthreads();

  thread_stats ts;
  ts.clear();
  int sq_exp2 = 0;
  unsigned int *warp_hist = sh.hist[threadIdx.x / 32];
  if constexpr (T == dtype::f64) {
    chunk_f64(ts, base, begin, end, fingerprint, warp_hist, sh.reduce_f64, sq_exp2);
  } else if (fingerprint) {
    chunk_body<T, true>(ts, base, begin, end, warp_hist);
  } else {
    chunk_body<T, false>(ts, base, begin, end, warp_hist);
  }
#if !defined(TTAP_FUSED_STATS_DROP_HISTOGRAM_BARRIER)  // tests build a broken variant without it
  __syncthreads();                                     // every warp's histogram is complete
#endif
  if constexpr (is_fp8(T)) {
    fold_value_histogram<T>(ts, sh);
    __syncthreads();  // the exponent bins are complete
  }

  // Histogram: each thread owns bins; warps' counts are summed, nonzero bins go to the tensor's
  // histogram with one 64-bit atomic each. Zeros go the same way; NaN/Inf are counted exactly
  // below.
  for (int bin = threadIdx.x; bin < kWarpHistStride; bin += blockDim.x) {
    unsigned long long n = 0;
    for (int wi = 0; wi < kFusedStatsWarps; ++wi) n += sh.hist[wi][bin];
    if (n == 0 || bin == kBinNonFinite) continue;
    const bool zeros = bin == kBinZero || (zero_in_bin_zero<T>() && bin == 0);
    atomicAdd(reinterpret_cast<unsigned long long *>(zeros ? &out.zero : &out.exp_hist[bin]), n);
  }
  unsigned long long nan = sum_u64(ts.nan, sh.reduce_u64);
  unsigned long long pos_inf = sum_u64(ts.pos_inf, sh.reduce_u64);
  unsigned long long neg_inf = sum_u64(ts.neg_inf, sh.reduce_u64);
  unsigned long long subnormal = 0;
  if constexpr (T == dtype::f64) {
    unsigned long long mine = 0;
    for (uint64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      mine += is_subnormal_bits(dtype::f64, load_raw(base, 8, i)) ? 1 : 0;
    }
    subnormal = sum_u64(mine, sh.reduce_u64);
  }

  chunk_partial cp;
  cp.min = block_reduce<kFusedStatsThreads>(ts.min, sh.reduce_f64,
                                            [](double a, double b) { return fmin(a, b); });
  cp.max = block_reduce<kFusedStatsThreads>(ts.max, sh.reduce_f64,
                                            [](double a, double b) { return fmax(a, b); });
  cp.sum = sum_f64(ts.sum, sh.reduce_f64);
  cp.sum_abs = sum_f64(ts.sum_abs, sh.reduce_f64);
  cp.sum_sq = sum_f64(ts.sum_sq, sh.reduce_f64);
  cp.sum_sq_exp2 = sq_exp2;
  cp.pad = 0;
  cp.fingerprint = sum_u64(ts.fingerprint, sh.reduce_u64);

  if (threadIdx.x == 0) {
    p.partials[d.first_chunk + w.chunk] = cp;
    if (nan) atomicAdd(reinterpret_cast<unsigned long long *>(&out.nan), nan);
    if (pos_inf) atomicAdd(reinterpret_cast<unsigned long long *>(&out.pos_inf), pos_inf);
    if (neg_inf) atomicAdd(reinterpret_cast<unsigned long long *>(&out.neg_inf), neg_inf);
    if (subnormal) atomicAdd(reinterpret_cast<unsigned long long *>(&out.subnormal), subnormal);
    // Publish this chunk's partial and atomics before counting it done.
    __threadfence();
    unsigned int done = atomicAdd(&p.chunks_done[w.tensor], 1u);
    sh.is_last = done == d.num_chunks - 1;
  }
  __syncthreads();
  if (sh.is_last) {
    __threadfence();  // see every other block's partials and histogram atomics
    merge_partials(p, d, out, sh);
  }
  __syncthreads();  // shared memory is reused by the next work item
}

// Resident blocks per SM the register budget is sized for: two (128 registers a thread), which
// ptxas meets without spilling on every target (zero spills is the harder rule: spilled registers
// go to local memory in the hottest loop; `ttap bench --static --check` holds it). The sample ring
// sizes the grid from the occupancy the runtime reports, not from this number.
inline constexpr int kFusedStatsMinBlocks = 2;

// Internal linkage: this header is compiled once by nvcc and once by the host compiler (emulated
// backend) into the same binary, and each launcher file needs its own copy.
static __global__ void __launch_bounds__(kFusedStatsThreads, kFusedStatsMinBlocks)
    fused_stats_kernel(fused_stats_params p) {
  __shared__ fused_stats_shared sh;
  for (uint32_t item = blockIdx.x; item < p.num_items; item += gridDim.x) {
    const work_item w = p.items[item];
    const tensor_desc d = p.tensors[w.tensor];
    switch (dtype(d.type)) {
      case dtype::f32:
        process_item<dtype::f32>(p, w, d, sh);
        break;
      case dtype::bf16:
        process_item<dtype::bf16>(p, w, d, sh);
        break;
      case dtype::f16:
        process_item<dtype::f16>(p, w, d, sh);
        break;
      case dtype::f8e4m3:
        process_item<dtype::f8e4m3>(p, w, d, sh);
        break;
      case dtype::f8e5m2:
        process_item<dtype::f8e5m2>(p, w, d, sh);
        break;
      case dtype::f64:
        process_item<dtype::f64>(p, w, d, sh);
        break;
    }
  }
}

}  // namespace ttap
