// Launchers of the fused summary kernel and its kernel_family. This file is compiled twice: by nvcc
// for the cuda backend, and by the host compiler (through fused_stats_emulated.cc) for the emulated
// one, which also defines the family table pointing at both. The only file with a launch in it.
#include "kernels/fused_stats.cuh"
#include "kernels/fused_stats.h"

namespace ttap {

// The cuda entries, defined by the nvcc copy of this file, named by the host copy's table.
namespace cuda_backend {
int launch_fused_stats(const void *params, int grid, void *stream);
int fused_stats_blocks_per_multiprocessor();
}  // namespace cuda_backend

#if defined(__CUDACC__)
namespace cuda_backend {

int launch_fused_stats(const void *params, int grid, void *stream) {
  TTAP_LAUNCH(fused_stats_kernel, grid, kFusedStatsThreads, 0, static_cast<cudaStream_t>(stream),
              *static_cast<const fused_stats_params *>(params));
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

void launch_fused_stats(const void *params, int grid, void *stream) {
  TTAP_LAUNCH(fused_stats_kernel, grid, kFusedStatsThreads, 0, static_cast<simt::stream *>(stream),
              *static_cast<const fused_stats_params *>(params));
}

// Every tensor's bytes, from the descriptor table the kernel read (in place by now: stream order).
double fused_stats_bytes_read(const void *params) {
  const auto &p = *static_cast<const fused_stats_params *>(params);
  double bytes = 0;
  for (uint32_t t = 0; t < p.num_tensors; ++t) {
    bytes += double(p.tensors[t].numel) * dtype_size(dtype(p.tensors[t].type));
  }
  return bytes;
}

}  // namespace emulated_backend

const kernel_family fused_stats_family = {
    "fused_stats",
    sizeof(fused_stats_params),
#if defined(TTAP_HAVE_CUDA)
    cuda_backend::launch_fused_stats,
    cuda_backend::fused_stats_blocks_per_multiprocessor,
#else
    nullptr,
    nullptr,
#endif
    emulated_backend::launch_fused_stats,
    emulated_backend::fused_stats_bytes_read,
};
#endif

}  // namespace ttap
