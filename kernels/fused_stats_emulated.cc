// The fused kernel's launcher and kernel_family table compiled by the host compiler: the same
// source as the cuda backend's, run by the SIMT emulator.
#include "kernels/fused_stats.cu"
