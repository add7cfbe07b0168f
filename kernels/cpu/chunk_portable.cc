// Portable per-chunk summaries: plain C++ over raw bits, for CPUs without a vector path, for tails,
// for fp64, and as the second implementation the vector path is tested against.
#include <cstring>

#include "kernels/cpu/chunk.h"

namespace ttap::cpu {
namespace {

constexpr uint64_t kF64BlockElems = 4096;  // block over which one sum-of-squares scale is chosen

void summarize_narrow(const tensor_view &t, uint64_t begin, uint64_t end, summary &s) {
  for (uint64_t i = begin; i < end; ++i) {
    summary_add_f32_bits(s, f32_bits_from_narrow(t.type, load_bits(t.data, t.type, i)));
  }
  s.subnormal += subnormal_count_from_hist(t.type, s.exp_hist);
}

void summarize_f64(const tensor_view &t, uint64_t begin, uint64_t end, summary &s) {
  for (uint64_t block = begin; block < end; block += kF64BlockElems) {
    uint64_t block_end = block + kF64BlockElems < end ? block + kF64BlockElems : end;
    // Largest finite magnitude of the block: non-negative doubles order like their bit patterns.
    uint64_t max_mag = 0;
    for (uint64_t i = block; i < block_end; ++i) {
      uint64_t mag = load_bits(t.data, dtype::f64, i) & kF64MagnitudeMask;
      if (mag < kF64ExponentMask && mag > max_mag) max_mag = mag;
    }
    double abs_max;
    std::memcpy(&abs_max, &max_mag, sizeof abs_max);
    rescale_sum_sq_for_block(s, f64_sum_sq_exp2_for(abs_max));
    for (uint64_t i = block; i < block_end; ++i) {
      uint64_t bits = load_bits(t.data, dtype::f64, i);
      if (is_subnormal_bits(dtype::f64, bits)) ++s.subnormal;
      summary_add_f64_bits(s, bits);
    }
  }
}

}  // namespace

void summarize_chunk_portable(const tensor_view &tensor, uint64_t begin, uint64_t end,
                              summary &out) {
  out.count += end - begin;
  if (tensor.type == dtype::f64) {
    summarize_f64(tensor, begin, end, out);
  } else {
    summarize_narrow(tensor, begin, end, out);
  }
}

void add_fingerprint(const tensor_view &tensor, uint64_t begin, uint64_t end, summary &out) {
  uint64_t fp = 0;
  for (uint64_t i = begin; i < end; ++i)
    fp += fingerprint_term(i, load_bits(tensor.data, tensor.type, i));
  out.fingerprint += fp;
  out.has_fingerprint = 1;
}

}  // namespace ttap::cpu
