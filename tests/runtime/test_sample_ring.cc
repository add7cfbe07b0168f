// The sample ring on the emulated device: descriptor-table uploads only on change, the skip when
// every slot is in flight, and each slot's device time from its timing events.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "runtime/backends/device.h"
#include "runtime/sample_ring.h"

namespace ttap {
namespace {

// Host memory standing in for device memory: the emulated device reads host memory directly.
struct buffer {
  dtype type;
  uint64_t numel;
  std::vector<unsigned char> bytes;
  buffer(dtype t, uint64_t n) : type(t), numel(n), bytes(n * dtype_size(t)) {}
  device_tensor tensor(bool fingerprint) { return {bytes.data(), type, numel, fingerprint}; }
};

// The ring uploads the descriptor table once per slot while the tensors stay the same, skips a
// sample when every slot is in flight, and never waits.
TEST(SampleRing, UploadsOnlyOnChangeAndSkipsWhenFull) {
  auto dev = make_emulated_device();
  sample_ring ring(*dev, 1);
  buffer a(dtype::f32, 1000), b(dtype::f32, 1000);
  device_tensor ta = a.tensor(false), tb = b.tensor(false);
  auto wait = [&](int slot) {
    while (ring.poll(slot) == device_status::not_ready)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  };
  int s0 = ring.submit({&ta, 1}, nullptr);
  ASSERT_EQ(s0, 0);
  EXPECT_EQ(ring.submit({&ta, 1}, nullptr), sample_ring::kSkipped);  // slot busy
  EXPECT_EQ(ring.skipped(), 1u);
  wait(s0);
  ring.release(s0);
  ASSERT_EQ(ring.submit({&ta, 1}, nullptr), 0);
  wait(0);
  ring.release(0);
  EXPECT_EQ(ring.table_uploads(), 1u);  // same tensor: no second upload
  ASSERT_EQ(ring.submit({&tb, 1}, nullptr), 0);
  wait(0);
  EXPECT_EQ(ring.table_uploads(), 2u);  // new pointer: uploaded again
  EXPECT_EQ(ring.launches(), 3u);
}

// Each sample's device time comes from timing events around its work; on the emulated device it is
// the model's: a fixed launch cost plus the bytes read at the modeled bandwidth.
TEST(SampleRing, ReportsTheModeledDeviceTimeOfEachSample) {
  emulated_device_model model;
  model.gbps = 2.0;              // 2e9 bytes per second
  model.launch_seconds = 0.001;  // 1 ms
  auto dev = make_emulated_device(model);
  sample_ring ring(*dev, 2);
  buffer a(dtype::f32, 250000), b(dtype::bf16, 100000);  // 1e6 + 2e5 bytes
  device_tensor tensors[] = {a.tensor(false), b.tensor(false)};
  for (int sample = 0; sample < 3; ++sample) {
    int slot = ring.submit(tensors, nullptr);
    ASSERT_GE(slot, 0) << ring.last_error();
    EXPECT_LT(ring.device_seconds(slot), 0);  // not ready yet: unknown
    while (ring.poll(slot) == device_status::not_ready)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    EXPECT_NEAR(ring.device_seconds(slot), 0.001 + 1.2e6 / 2e9, 1e-12);
    ring.release(slot);
  }
}

}  // namespace
}  // namespace ttap
