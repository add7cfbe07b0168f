// Launchers of the fused summary kernel, one per backend, as plain C++ declarations: the runtime
// and the device implementations call these and never include device code.
#pragma once

#include "kernels/fused_stats_params.h"

namespace ttap {

namespace cuda_backend {
// Enqueues the kernel on `stream` (a cudaStream_t). Returns the launch's cudaError_t as an int
// (0 = success), so this header needs no CUDA include.
int launch_fused_stats(const fused_stats_params &params, int grid, void *stream);
// Resident blocks of the kernel per multiprocessor on the current device, from the CUDA occupancy
// calculator (registers and shared memory as compiled for that device); 0 if the query failed.
int fused_stats_blocks_per_multiprocessor();
}  // namespace cuda_backend

namespace emulated_backend {
// Enqueues the kernel on the emulated stream `stream` (null = default stream).
void launch_fused_stats(const fused_stats_params &params, int grid, void *stream);
}  // namespace emulated_backend

}  // namespace ttap
