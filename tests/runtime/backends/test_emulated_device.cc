// The emulated device launches any kernel family through its kernel_family table: a family defined
// here, unknown to the backend, runs, is timed by its own bytes_read, and a family without an
// emulated launch is refused with its name.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/simt/cuda_compat.h"
#include "runtime/backends/device.h"

namespace ttap {
namespace {

struct fill_params {
  uint32_t *out;
  uint32_t n;
  uint32_t value;
};

__global__ void fill_kernel(fill_params p) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) {
    p.out[i] = p.value;
  }
}

void fill_emulated(const void *params, int grid, void *stream) {
  TTAP_LAUNCH(fill_kernel, grid, 64, 0, static_cast<simt::stream *>(stream),
              *static_cast<const fill_params *>(params));
}

double fill_bytes_written(const void *params) {
  return 4.0 * static_cast<const fill_params *>(params)->n;
}

const kernel_family kFillFamily = {"fill",  sizeof(fill_params), nullptr,
                                   nullptr, fill_emulated,       fill_bytes_written};

TEST(EmulatedDevice, LaunchesAKernelFamilyItDoesNotKnowAndTimesItByTheFamilysBytes) {
  emulated_device_model model;
  model.gbps = 1.0;              // 1e9 bytes per second
  model.launch_seconds = 0.002;  // 2 ms
  auto dev = make_emulated_device(model);
  EXPECT_EQ(dev->blocks_per_multiprocessor(kFillFamily), 2);
  std::vector<uint32_t> out(10000, 0);
  fill_params p{out.data(), uint32_t(out.size()), 7};
  event_handle start = nullptr, end = nullptr;
  ASSERT_EQ(dev->create_timing_event(&start), device_status::ok);
  ASSERT_EQ(dev->create_timing_event(&end), device_status::ok);
  ASSERT_EQ(dev->record_event(start, nullptr), device_status::ok);
  ASSERT_EQ(dev->launch(kFillFamily, &p, 3, nullptr), device_status::ok) << dev->last_error();
  p.value = 9;  // the launch took its own copy
  ASSERT_EQ(dev->record_event(end, nullptr), device_status::ok);
  ASSERT_EQ(dev->synchronize(nullptr), device_status::ok);
  for (uint32_t v : out) ASSERT_EQ(v, 7u);
  double seconds = -1;
  ASSERT_EQ(dev->elapsed_seconds(start, end, &seconds), device_status::ok);
  EXPECT_NEAR(seconds, 0.002 + 40000 / 1e9, 1e-12);
  dev->destroy_event(start);
  dev->destroy_event(end);
}

TEST(EmulatedDevice, RefusesAFamilyWithoutAnEmulatedLaunch) {
  auto dev = make_emulated_device();
  const kernel_family cuda_only = {"cuda_only", sizeof(fill_params), nullptr, nullptr, nullptr,
                                   nullptr};
  fill_params p{nullptr, 0, 0};
  EXPECT_EQ(dev->launch(cuda_only, &p, 1, nullptr), device_status::error);
  EXPECT_NE(dev->last_error().find("cuda_only"), std::string::npos) << dev->last_error();
}

}  // namespace
}  // namespace ttap
