// The cpu executor's per-chunk entry points: one portable implementation and one per vector ISA,
// chosen once at run time. Internal to kernels/cpu.
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_executor.h"

namespace ttap::cpu {

// Each summarizes elements [begin, end) of `tensor` into `out`, which the caller has cleared; every
// field but the fingerprint.
void summarize_chunk_portable(const tensor_view &tensor, uint64_t begin, uint64_t end,
                              summary &out);

// False when this build or this CPU lacks AVX-512 (F, BW, DQ, VL, VPOPCNTDQ) or GFNI, VBMI, BITALG.
bool avx512_supported();
void summarize_chunk_avx512(const tensor_view &tensor, uint64_t begin, uint64_t end, summary &out);

// bf16 on CPUs with AVX512_BF16 takes a path of its own (dot-product sums, 32 lanes per vector).
// bf16_dot_supported() says whether it is taken here; enable_bf16_dot_path(false) turns it off
// (for tests comparing the two bf16 paths) and returns the previous setting.
bool bf16_dot_supported();
bool enable_bf16_dot_path(bool enabled);

// Adds the fingerprint terms of elements [begin, end) to out.fingerprint.
void add_fingerprint(const tensor_view &tensor, uint64_t begin, uint64_t end, summary &out);

}  // namespace ttap::cpu
