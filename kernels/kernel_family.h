// How a kernel family offers itself to the device backends (runtime/backends): its launch on each
// backend, type-erased over its params struct. A backend launches any family through this table, so
// a new kernel family touches its own files only. Plain C++: no CUDA or emulator header.
#pragma once

#include <stddef.h>

namespace ttap {

// One per kernel family, defined next to its launchers (kernels/fused_stats.cu) and never changed.
// `params` always points to the family's params struct (params_bytes long), passed by value to the
// kernel: a launch copies it before returning.
struct kernel_family {
  const char *name;     // "fused_stats", for error messages
  size_t params_bytes;  // sizeof the params struct

  // cuda backend; both null in a build without CUDA. The launch enqueues the kernel on the
  // cudaStream_t `stream` and returns its cudaError_t as an int (0 = success). The occupancy is the
  // kernel's resident blocks per multiprocessor on the calling thread's current device, from the
  // CUDA occupancy calculator (0 if the query failed).
  int (*cuda_launch)(const void *params, int grid, void *stream);
  int (*cuda_blocks_per_multiprocessor)();

  // emulated backend: enqueues the kernel on the SIMT stream `stream` (null: the default stream).
  void (*emulated_launch)(const void *params, int grid, void *stream);
  // Bytes one launch reads, for the emulated device's modeled time (null: none counted). Called in
  // stream order after the kernel has run, so it may read the device tables `params` points to.
  double (*bytes_read)(const void *params);
};

}  // namespace ttap
