// The cpu executor: summaries of host tensors, multi-threaded and vectorized, for CPU training,
// offloaded optimizer state and checkpoint files. Same fields and semantics as the device kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "kernels/summary.h"

namespace ttap {

// A tensor in host memory: any alignment, any length (0 included), 64-bit element count.
struct tensor_view {
  const void *data;
  dtype type;
  uint64_t numel;
  bool fingerprint = false;  // compute this tensor's fingerprint (also: options.fingerprint)
};

struct cpu_executor_options {
  int threads = 0;           // worker threads; 0 = every hardware thread
  bool fingerprint = false;  // fingerprints of every tensor (costs a little); else per tensor_view
  bool allow_simd = true;    // false forces the portable scalar path (tests compare the two)
};

// One call is one job: the tensors become one list of work items (small tensors packed together
// and summarized straight into their outputs, large ones split into fixed-size chunks whose
// partials are merged in chunk order), run on a persistent pool in one dispatch. The output is
// bitwise identical for the same input whatever the thread count or scheduling. The work list and
// the partials are owned by the executor and reused, so repeated calls do not allocate; calls with
// little work in all run on the calling thread alone.
//
// Thread safety: one summarize() call at a time per executor (calls are serialized internally).
class cpu_executor {
 public:
  // Elements per chunk: large enough to amortize the per-chunk merge, small enough to balance load.
  static constexpr uint64_t kChunkElems = uint64_t(1) << 20;

  explicit cpu_executor(cpu_executor_options options = {});
  ~cpu_executor();
  cpu_executor(const cpu_executor &) = delete;
  cpu_executor &operator=(const cpu_executor &) = delete;

  // Summarizes tensors[i] into out[i] (out.size() must equal tensors.size()). Blocks until done.
  void summarize(std::span<const tensor_view> tensors, std::span<summary> out);
  // The same, with summary i written at (char *)out + i * out_stride: callers whose summaries live
  // inside larger records (the runtime's sample records) get them in place, without a copy.
  void summarize(std::span<const tensor_view> tensors, summary *out, size_t out_stride);
  summary summarize(const tensor_view &tensor);

  int threads() const;
  // The instruction set the hot loop uses here: "avx512" or "portable".
  const char *isa() const;

 private:
  struct impl;
  std::unique_ptr<impl> m_impl;
};

}  // namespace ttap
