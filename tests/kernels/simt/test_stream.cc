// Emulated streams and events: launches through TTAP_LAUNCH return before the kernel runs, events
// report not-ready then ready, copies and kernels keep stream order, streams wait on each other's
// events, kernel errors are sticky and configuration errors are the thread's last error.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "kernels/simt/cuda_compat.h"

namespace {

using ttap::simt::errc;

// Thread 0 spins until the host opens the gate, so the kernel cannot finish before the host acts.
__global__ void gated_kernel(int *gate, int *out) {
  if (threadIdx.x == 0) {
    while (std::atomic_ref<int>(*gate).load() == 0) __nanosleep(1000);
  }
  __syncthreads();
  out[threadIdx.x] = int(threadIdx.x) + 1;
}

TEST(SimtStream, LaunchReturnsBeforeTheKernelFinishesAndEventsTrackIt) {
  ttap::simt::stream stream;
  ttap::simt::event done;
  int gate = 0;
  std::vector<int> out(64, 0);
  TTAP_LAUNCH(gated_kernel, 1, 64, 0, &stream, &gate, out.data());
  ASSERT_TRUE(ttap::simt::get_last_error().ok());
  done.record(&stream);
  // The host got control back while the kernel is parked on the gate.
  EXPECT_EQ(done.query().code(), errc::not_ready);
  EXPECT_EQ(stream.query().code(), errc::not_ready);
  EXPECT_EQ(out[5], 0);
  std::atomic_ref<int>(gate).store(1);
  EXPECT_TRUE(done.synchronize().ok());
  EXPECT_TRUE(done.query().ok());
  EXPECT_TRUE(stream.query().ok());
  for (int i = 0; i < 64; ++i) EXPECT_EQ(out[i], i + 1);
}

__global__ void scale_kernel(const float *in, float *out, float factor, int n) {
  int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[i] * factor;
}

TEST(SimtStream, CopiesAndKernelsRunInStreamOrder) {
  const int n = 1000;
  ttap::simt::stream stream;
  float *dev_in = static_cast<float *>(ttap::simt::device_malloc(n * sizeof(float)));
  float *dev_out = static_cast<float *>(ttap::simt::device_malloc(n * sizeof(float)));
  std::vector<float> host_in(n), host_out(n, -1.0f);
  for (int i = 0; i < n; ++i) host_in[i] = float(i);
  stream.memset_async(dev_out, 0, n * sizeof(float));
  stream.memcpy_async(dev_in, host_in.data(), n * sizeof(float));
  TTAP_LAUNCH(scale_kernel, (n + 127) / 128, 128, 0, &stream, dev_in, dev_out, 2.0f, n);
  stream.memcpy_async(host_out.data(), dev_out, n * sizeof(float));
  // Overwriting the device input after the copy-back is enqueued must not affect the result.
  stream.memset_async(dev_in, 0, n * sizeof(float));
  ASSERT_TRUE(stream.synchronize().ok());
  for (int i = 0; i < n; ++i) ASSERT_EQ(host_out[i], 2.0f * i);
  ttap::simt::device_free(dev_in);
  ttap::simt::device_free(dev_out);
}

TEST(SimtStream, AStreamWaitsForAnotherStreamsEvent) {
  const int n = 256;
  ttap::simt::stream producer, consumer;
  ttap::simt::event produced;
  int gate = 0;
  std::vector<int> stage(64, 0);
  std::vector<float> in(n, 1.0f), mid(n, 0.0f), out(n, 0.0f);
  TTAP_LAUNCH(gated_kernel, 1, 64, 0, &producer, &gate, stage.data());
  TTAP_LAUNCH(scale_kernel, 2, 128, 0, &producer, in.data(), mid.data(), 3.0f, n);
  produced.record(&producer);
  consumer.wait_event(produced);
  TTAP_LAUNCH(scale_kernel, 2, 128, 0, &consumer, mid.data(), out.data(), 2.0f, n);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(consumer.query().code(), errc::not_ready);  // still waiting behind the gate
  std::atomic_ref<int>(gate).store(1);
  ASSERT_TRUE(consumer.synchronize().ok());
  for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], 6.0f);
  float ms = ttap::simt::event::elapsed_ms(produced, produced);
  EXPECT_EQ(ms, 0.0f);
}

__global__ void divergent_kernel() {
  if (threadIdx.x == 0) __syncthreads();
}

TEST(SimtStream, KernelErrorsAreStickyUntilCleared) {
  ttap::simt::stream stream;
  ttap::simt::event after;
  std::vector<int> host(4, 7);
  std::vector<int> zeros(4, 0);
  TTAP_LAUNCH(divergent_kernel, 2, 64, 0, &stream);
  EXPECT_TRUE(ttap::simt::get_last_error().ok());                   // the configuration was fine
  stream.memcpy_async(host.data(), zeros.data(), 4 * sizeof(int));  // skipped: the stream failed
  after.record(&stream);
  auto s = stream.synchronize();
  ASSERT_EQ(s.code(), errc::barrier_divergence) << s.to_string();
  EXPECT_NE(s.message().find("kernel divergent_kernel"), std::string::npos) << s.message();
  EXPECT_EQ(after.synchronize().code(), errc::barrier_divergence);
  EXPECT_EQ(stream.query().code(), errc::barrier_divergence);
  EXPECT_EQ(host[0], 7);
  stream.clear_error();
  stream.memcpy_async(host.data(), zeros.data(), 4 * sizeof(int));
  EXPECT_TRUE(stream.synchronize().ok());
  EXPECT_EQ(host[0], 0);
}

TEST(SimtStream, ConfigurationErrorsAreTheThreadsLastErrorAndNothingRuns) {
  ttap::simt::stream stream;
  std::vector<float> in(8, 1.0f), out(8, 0.0f);
  TTAP_LAUNCH(scale_kernel, 1, 2048, 0, &stream, in.data(), out.data(), 2.0f, 8);
  auto s = ttap::simt::peek_last_error();
  EXPECT_EQ(s.code(), errc::invalid_configuration);
  EXPECT_NE(s.message().find("launch of scale_kernel"), std::string::npos) << s.message();
  EXPECT_EQ(ttap::simt::get_last_error().code(), errc::invalid_configuration);
  EXPECT_TRUE(ttap::simt::get_last_error().ok());  // cleared by reading it
  EXPECT_TRUE(stream.synchronize().ok());          // not sticky
  EXPECT_EQ(out[0], 0.0f);
}

// The hooks close their session from an atexit handler, after glibc has destroyed the main
// thread's thread-local objects: a launch error recorded there must not write into freed memory
// (AddressSanitizer builds turn that into a failed test).
void launch_badly_and_report() {
  std::vector<float> in(8, 1.0f), out(8, 0.0f);
  TTAP_LAUNCH(scale_kernel, 1, 2048, 0, nullptr, in.data(), out.data(), 2.0f, 8);
  std::fprintf(stderr, "at exit: %s\n", ttap::simt::peek_last_error().to_string().c_str());
}

TEST(SimtStream, ConfigurationErrorRecordedFromAnAtexitHandler) {
  EXPECT_EXIT(
      {
        launch_badly_and_report();  // the thread's error slot is in use before exit
        std::atexit(launch_badly_and_report);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "at exit: invalid_configuration: launch of scale_kernel");
}

TEST(SimtStream, DefaultStreamHostFunctionsAndScopedOptions) {
  std::vector<int> order;
  std::vector<float> in(4, 1.0f), out(4, 0.0f);
  ttap::simt::launch_options reverse;
  reverse.order = ttap::simt::thread_order::reverse;
  {
    // Options are captured when the launch is enqueued, not when it runs.
    ttap::simt::scoped_launch_options scoped(reverse);
    TTAP_LAUNCH(scale_kernel, 1, 4, 0, 0, in.data(), out.data(), 5.0f, 4);
  }
  ttap::simt::default_stream().host_func_async([&] { order.push_back(out[3] == 5.0f ? 1 : -1); });
  ttap::simt::default_stream().host_func_async([&] { order.push_back(2); });
  ASSERT_TRUE(ttap::simt::device_synchronize().ok());
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

}  // namespace
