// The fused summary kernel as the runtime launches it: its kernel_family (the launch on each
// backend), as a plain C++ declaration. The runtime and the backends never include device code.
#pragma once

#include "kernels/fused_stats_params.h"
#include "kernels/kernel_family.h"

namespace ttap {

// Launches take a fused_stats_params; the cuda entries are null in a build without CUDA.
extern const kernel_family fused_stats_family;

}  // namespace ttap
