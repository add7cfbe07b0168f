// Launchers of the fused summary kernel. This file is compiled twice: by nvcc for the cuda backend,
// and by the host compiler (through fused_stats_emulated.cc) for the emulated one; only the
// namespace and the stream type differ. The only file with a launch in it.
#include "kernels/fused_stats.cuh"
#include "kernels/fused_stats.h"

namespace ttap {

#if defined(__CUDACC__)
namespace cuda_backend {

int launch_fused_stats(const fused_stats_params &params, int grid, void *stream) {
  TTAP_LAUNCH(fused_stats_kernel, grid, kFusedStatsThreads, 0, static_cast<cudaStream_t>(stream),
              params);
  return int(cudaGetLastError());
}

int fused_stats_blocks_per_multiprocessor() {
  int blocks = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, fused_stats_kernel, kFusedStatsThreads,
                                                    0) != cudaSuccess) {
    cudaGetLastError();  // not sticky; the caller falls back to one block
    return 0;
  }
  return blocks;
}

}  // namespace cuda_backend
#else
namespace emulated_backend {

void launch_fused_stats(const fused_stats_params &params, int grid, void *stream) {
  TTAP_LAUNCH(fused_stats_kernel, grid, kFusedStatsThreads, 0, static_cast<simt::stream *>(stream),
              params);
}

}  // namespace emulated_backend
#endif

}  // namespace ttap
