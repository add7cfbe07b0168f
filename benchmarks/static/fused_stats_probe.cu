// Probe kernels for the static report (ttap bench --static): each runs exactly the fused kernel's
// per-chunk body for one dtype, so the main loop of that dtype stands alone in the PTX and can be
// counted. Compiled only to PTX, together with the real kernel, never launched.
#include "kernels/fused_stats.cuh"

namespace ttap {

template <dtype T>
__device__ void probe_body(const unsigned char *base, uint64_t begin, uint64_t end, double *out) {
  __shared__ unsigned int hist[kFusedStatsWarps][kWarpHistStride];
  thread_stats ts;
  ts.clear();
  chunk_body<T, false>(ts, base, begin, end, hist[threadIdx.x / 32]);
  out[blockIdx.x * blockDim.x + threadIdx.x] =
      ts.min + ts.max + ts.sum + ts.sum_abs + ts.sum_sq + double(ts.nan + ts.pos_inf + ts.neg_inf);
}

}  // namespace ttap

#define TTAP_PROBE(name, type)                                                     \
  extern "C" __global__ void __launch_bounds__(ttap::kFusedStatsThreads)           \
      name(const unsigned char *base, uint64_t begin, uint64_t end, double *out) { \
    ttap::probe_body<type>(base, begin, end, out);                                 \
  }

TTAP_PROBE(ttap_probe_f32, ttap::dtype::f32)
TTAP_PROBE(ttap_probe_bf16, ttap::dtype::bf16)
TTAP_PROBE(ttap_probe_f16, ttap::dtype::f16)
TTAP_PROBE(ttap_probe_f8e4m3, ttap::dtype::f8e4m3)
TTAP_PROBE(ttap_probe_f8e5m2, ttap::dtype::f8e5m2)

// Makes the fused kernel itself part of this PTX: a launch nobody calls.
void ttap_static_reference_launch(ttap::fused_stats_params p) {
  ttap::fused_stats_kernel<<<1, ttap::kFusedStatsThreads>>>(p);
}
