// Parameters of the fused multi-tensor summary kernel: one POD struct passed by value, plus the
// device-resident tables it points to. Plain C++: the runtime and the launchers both include it.
#pragma once

#include <stdint.h>

#include "kernels/summary.h"

namespace ttap {

// One watched tensor as the kernel sees it: a row of the device-resident descriptor table,
// uploaded only when the set of tensors (pointers, sizes, dtypes) changes.
struct tensor_desc {
  const void *data;
  uint64_t numel;        // 0 for an empty tensor: it gets no work items, its slot is still written
  uint64_t first_chunk;  // index of its first partial slot
  uint32_t num_chunks;   // work items of this tensor
  uint32_t out_slot;     // index of its summary in the result slab
  uint8_t type;          // ttap::dtype
  uint8_t flags;         // tensor_flags
  uint8_t pad[6];
};

enum tensor_flags : uint8_t {
  kTensorFingerprint = 1,  // also compute the fingerprint
};

// A unit of work for one block: chunk `chunk` of tensor `tensor`.
struct work_item {
  uint32_t tensor;
  uint32_t chunk;
};

// What one chunk leaves for the last block of its tensor: the order-dependent fields, merged in
// chunk order so the result is bitwise reproducible. Integer fields go straight to the output with
// atomics (they are order-independent).
struct chunk_partial {
  double min, max;  // finite values; +Inf/-Inf when none
  double sum, sum_abs, sum_sq;
  int32_t sum_sq_exp2;
  int32_t pad;
  uint64_t fingerprint;
};

// The per-sample workspace header: counters the one memset of a launch clears together with the
// result slab.
struct fused_stats_params {
  const tensor_desc *tensors;  // [num_tensors]
  const work_item *items;      // [num_items], flat over all tensors
  chunk_partial *partials;     // [total chunks], one fixed slot per work item
  unsigned int *chunks_done;   // [num_tensors], zeroed by the launch's memset
  summary *out;                // [num_tensors] result slab, zeroed by the same memset
  uint32_t num_tensors;
  uint32_t num_items;
  uint64_t chunk_elems;  // elements per chunk (the last chunk of a tensor may be shorter)
};

// Launch geometry shared by the kernel, the sample ring and the emulator tests.
inline constexpr int kFusedStatsThreads = 256;
inline constexpr int kFusedStatsWarps = kFusedStatsThreads / 32;
// Elements per chunk: 16 vector loads of 16 bytes per thread for bf16, enough work per block to
// hide the chunk's fixed costs (histogram merge, partial write), small enough to spread one large
// tensor over every SM.
inline constexpr uint64_t kFusedStatsChunkElems = uint64_t(1) << 16;

}  // namespace ttap
