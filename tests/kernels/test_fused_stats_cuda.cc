// The fused kernel on a real GPU against the cpu executor (ctest label `gpu`). Every test skips
// cleanly where no CUDA device answers, which is every machine this project is developed on; the
// same kernel source runs in every build through the emulator (test_fused_stats).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "kernels/cpu/cpu_executor.h"
#include "runtime/sample_ring.h"

namespace ttap {
namespace {

class FusedStatsCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why_not;
    m_device = make_cuda_device(&why_not);
    if (!m_device) GTEST_SKIP() << why_not;
  }

  // Copies each host tensor to the device at the same offset modulo 16, runs one sample and
  // returns the summaries.
  std::vector<summary> run(const std::vector<tensor_view> &host) {
    size_t total = 0;
    std::vector<size_t> offsets;
    for (const auto &t : host) {
      total = (total + 15) / 16 * 16 + reinterpret_cast<uintptr_t>(t.data) % 16;
      offsets.push_back(total);
      total += t.numel * dtype_size(t.type);
    }
    void *mem = nullptr;
    EXPECT_EQ(m_device->alloc(&mem, total + 16), device_status::ok) << m_device->last_error();
    std::vector<device_tensor> tensors;
    for (size_t i = 0; i < host.size(); ++i) {
      auto *dst = static_cast<unsigned char *>(mem) + offsets[i];
      m_device->copy_to_device(dst, host[i].data, host[i].numel * dtype_size(host[i].type),
                               nullptr);
      tensors.push_back({dst, host[i].type, host[i].numel, true});
    }
    sample_ring ring(*m_device);
    int slot = ring.submit(tensors, nullptr);
    EXPECT_GE(slot, 0) << ring.last_error();
    device_status st;
    while ((st = ring.poll(slot)) == device_status::not_ready) std::this_thread::yield();
    EXPECT_EQ(st, device_status::ok) << ring.last_error();
    auto r = ring.results(slot);
    std::vector<summary> out(r.begin(), r.end());
    m_device->free(mem);
    return out;
  }

  std::unique_ptr<device> m_device;
};

TEST_F(FusedStatsCuda, AgreesWithCpuExecutorOnEveryDtype) {
  std::mt19937_64 rng(1);
  std::vector<std::vector<unsigned char>> storage;
  std::vector<tensor_view> views;
  const dtype types[] = {dtype::f32,    dtype::f16,    dtype::bf16,
                         dtype::f8e4m3, dtype::f8e5m2, dtype::f64};
  for (int k = 0; k < 60; ++k) {
    dtype t = types[k % 6];
    uint64_t n = k % 10 == 0 ? 0 : uint64_t(1) << (k % 21);
    storage.emplace_back(n * dtype_size(t) + 16);
    for (auto &b : storage.back()) b = uint8_t(rng());
    views.push_back({storage.back().data() + k % 3, t, n});
  }
  std::vector<summary> cpu(views.size());
  cpu_executor({0, true, true}).summarize(views, cpu);
  std::vector<summary> gpu = run(views);
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_EQ(gpu[i].count, cpu[i].count) << i;
    EXPECT_EQ(gpu[i].nan, cpu[i].nan) << i;
    EXPECT_EQ(gpu[i].pos_inf, cpu[i].pos_inf) << i;
    EXPECT_EQ(gpu[i].neg_inf, cpu[i].neg_inf) << i;
    EXPECT_EQ(gpu[i].zero, cpu[i].zero) << i;
    EXPECT_EQ(gpu[i].subnormal, cpu[i].subnormal) << i;
    EXPECT_EQ(std::memcmp(gpu[i].exp_hist, cpu[i].exp_hist, sizeof cpu[i].exp_hist), 0) << i;
    EXPECT_EQ(gpu[i].fingerprint, cpu[i].fingerprint) << i;
    if (cpu[i].min <= cpu[i].max) {
      EXPECT_EQ(gpu[i].min, cpu[i].min) << i;
      EXPECT_EQ(gpu[i].max, cpu[i].max) << i;
    }
    if (std::isfinite(cpu[i].sum_abs)) {
      EXPECT_NEAR(gpu[i].sum, cpu[i].sum, 2e-6 * cpu[i].sum_abs) << i;
      EXPECT_NEAR(gpu[i].sum_abs, cpu[i].sum_abs, 2e-6 * cpu[i].sum_abs) << i;
    }
  }
}

}  // namespace
}  // namespace ttap
