// Block-level behaviour of the SIMT emulator: barriers and block reductions in both thread orders,
// a missing barrier caught by the order switch, divergence/exited-thread/deadlock reports that name
// the barrier's file:line, launch limits, and index built-ins for 3-D blocks and grids.
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/simt/cuda_compat.h"

namespace {

using ttap::simt::errc;
using ttap::simt::exited_threads;
using ttap::simt::launch_options;
using ttap::simt::thread_order;

// Line of this file holding `marker` (a comment next to a barrier), so tests can check that a
// report names the right line without hard-coding numbers that formatting would move.
// The file is opened by its absolute path from CMake: __FILE__ may be relative to the build
// directory (ccache's base_dir rewrites it), and the test does not run from there.
int line_of(const char *marker) {
  std::ifstream in(TTAP_TEST_BLOCK_SOURCE);
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    // The marker comment, not the test lines that mention it.
    if (text.find(marker) != std::string::npos && text.find("site(") == std::string::npos &&
        text.find("line_of") == std::string::npos) {
      return line;
    }
  }
  return -1;
}

std::string site(const char *marker) {
  std::string file = __FILE__;
  return file.substr(file.find_last_of('/') + 1) + ":" + std::to_string(line_of(marker));
}

launch_options with_order(thread_order order) {
  launch_options o;
  o.order = order;
  return o;
}

constexpr int kBlock = 256;

// Tree reduction in static shared memory; one sum per block.
__global__ void block_sum_kernel(const int *in, long long *out) {
  __shared__ long long partial[kBlock];
  unsigned t = threadIdx.x;
  partial[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) partial[t] += partial[t + s];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// Thread 0 sums what every thread stored, but the barrier between the stores and the sum is
// missing.
__global__ void missing_barrier_kernel(const int *in, long long *out) {
  __shared__ long long value[kBlock];
  unsigned t = threadIdx.x;
  value[t] = in[blockIdx.x * blockDim.x + t];
  if (t == 0) {
    long long sum = 0;
    for (unsigned i = 0; i < blockDim.x; ++i) sum += value[i];
    out[blockIdx.x] = sum;
  }
}

struct block_sums {
  std::vector<int> in;
  std::vector<long long> want;
  explicit block_sums(int blocks) : in(size_t(blocks) * kBlock), want(blocks, 0) {
    for (size_t i = 0; i < in.size(); ++i) {
      in[i] = int((i * 2654435761u) % 1000) - 500;
      want[i / kBlock] += in[i];
    }
  }
};

TEST(SimtBlock, ReductionWithBarriersIsRightInBothOrders) {
  const int blocks = 37;
  block_sums data(blocks);
  for (thread_order order : {thread_order::forward, thread_order::reverse}) {
    std::vector<long long> out(blocks, -1);
    auto s = ttap::simt::run(with_order(order), block_sum_kernel, blocks, kBlock, 0, data.in.data(),
                             out.data());
    ASSERT_TRUE(s.ok()) << s.to_string();
    EXPECT_EQ(out, data.want) << "order " << int(order);
  }
}

// The point of the two orders: a missing barrier gives different (and wrong) answers. In forward
// order thread 0 sums before the others have stored; in reverse order it runs last and happens to
// see every store, which is exactly why one order alone would not catch the bug.
TEST(SimtBlock, MissingBarrierGivesDifferentResultsInForwardAndReverseOrder) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a deliberate race; test_simt_tsan checks that ThreadSanitizer reports it";
#endif
  const int blocks = 8;
  block_sums data(blocks);
  std::vector<long long> forward(blocks), reverse(blocks);
  ASSERT_TRUE(ttap::simt::run(with_order(thread_order::forward), missing_barrier_kernel, blocks,
                              kBlock, 0, data.in.data(), forward.data())
                  .ok());
  ASSERT_TRUE(ttap::simt::run(with_order(thread_order::reverse), missing_barrier_kernel, blocks,
                              kBlock, 0, data.in.data(), reverse.data())
                  .ok());
  EXPECT_NE(forward, reverse);
  EXPECT_NE(forward, data.want);
  EXPECT_EQ(reverse, data.want);
}

// Each thread appends its index to a global list: the append order is the scheduling order.
__global__ void append_order_kernel(int *list, int *count) {
  list[atomicAdd(count, 1)] = int(threadIdx.x);
}

TEST(SimtBlock, ThreadOrderOptionSetsTheRunOrderWithinABlock) {
  std::vector<int> list(64);
  int count = 0;
  ASSERT_TRUE(ttap::simt::run(with_order(thread_order::reverse), append_order_kernel, 1, 64, 0,
                              list.data(), &count)
                  .ok());
  for (int i = 0; i < 64; ++i) EXPECT_EQ(list[i], 63 - i);
  count = 0;
  ttap::simt::scoped_launch_options scoped(with_order(thread_order::forward));
  ASSERT_TRUE(ttap::simt::run(append_order_kernel, 1, 64, 0, list.data(), &count).ok());
  for (int i = 0; i < 64; ++i) EXPECT_EQ(list[i], i);
}

__global__ void divergent_barrier_kernel(int *out) {
  if (threadIdx.x < 32) {
    __syncthreads();  // divergent barrier A
    out[threadIdx.x] = 1;
  } else {
    __syncthreads();  // divergent barrier B
    out[threadIdx.x] = 2;
  }
}

TEST(SimtBlock, DivergentBarrierIsReportedWithBothCallSites) {
  std::vector<int> out(128);
  for (thread_order order : {thread_order::forward, thread_order::reverse}) {
    launch_options o = with_order(order);
    o.kernel_name = "divergent_barrier_kernel";
    auto s = ttap::simt::run(o, divergent_barrier_kernel, 2, 128, 0, out.data());
    ASSERT_EQ(s.code(), errc::barrier_divergence) << s.to_string();
    EXPECT_NE(s.message().find(site("divergent barrier A")), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(site("divergent barrier B")), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("32 threads at __syncthreads()"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("96 threads at __syncthreads()"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("kernel divergent_barrier_kernel"), std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find("block (0,0,0)"), std::string::npos) << s.message();
  }
}

// Threads past n return early, the rest meet at a barrier: undefined by the programming guide,
// tolerated by hardware.
__global__ void early_exit_kernel(int n, int *out) {
  __shared__ int value[kBlock];
  if (int(threadIdx.x) >= n) return;
  value[threadIdx.x] = int(threadIdx.x);
  __syncthreads();  // barrier after early exit
  out[threadIdx.x] = value[n - 1 - int(threadIdx.x)];
}

TEST(SimtBlock, ExitedThreadsAtABarrierAreReportedByDefault) {
  std::vector<int> out(kBlock, -1);
  auto s = ttap::simt::run(early_exit_kernel, 1, kBlock, 0, 200, out.data());
  ASSERT_EQ(s.code(), errc::barrier_divergence) << s.to_string();
  EXPECT_NE(s.message().find(site("barrier after early exit")), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("56 threads of the block exited"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("thread (200,0,0)"), std::string::npos) << s.message();
}

TEST(SimtBlock, ExitedThreadsCountAsArrivedWhenAsked) {
  launch_options o;
  o.exited = exited_threads::arrive;
  std::vector<int> out(kBlock, -1);
  auto s = ttap::simt::run(o, early_exit_kernel, 1, kBlock, 0, 200, out.data());
  ASSERT_TRUE(s.ok()) << s.to_string();
  for (int i = 0; i < 200; ++i) EXPECT_EQ(out[i], 199 - i);
  EXPECT_EQ(out[200], -1);
}

// Lane 0 waits in a shuffle for lane 1, which has gone on to the block barrier: nobody can proceed.
__global__ void deadlock_kernel(int *out) {
  int v = int(threadIdx.x);
  if (threadIdx.x % 32 == 0) {
    v = __shfl_sync(0xffffffffu, v, 1);  // shuffle lane 1 never joins
  }
  __syncthreads();  // where lane 1 waits
  out[threadIdx.x] = v;
}

TEST(SimtBlock, DeadlockIsAnErrorNotAHang) {
  std::vector<int> out(64);
  auto s = ttap::simt::run(deadlock_kernel, 4, 64, 0, out.data());
  ASSERT_EQ(s.code(), errc::deadlock) << s.to_string();
  EXPECT_NE(s.message().find(site("shuffle lane 1 never joins")), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(site("where lane 1 waits")), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("lane 1 (thread (1,0,0)), which never arrives"), std::string::npos)
      << s.message();
}

// A barrier inside a loop whose trip count differs per thread: the threads that leave the loop wait
// at the next barrier while the others still wait inside it.
__global__ void loop_barrier_kernel(int *out) {
  int trips = threadIdx.x < 16 ? 3 : 2;
  for (int i = 0; i < trips; ++i) {
    __syncthreads();  // loop barrier
  }
  __syncthreads();  // after the loop
  out[threadIdx.x] = trips;
}

TEST(SimtBlock, BarrierInALoopWithThreadDependentTripCountIsDivergence) {
  std::vector<int> out(64);
  auto s = ttap::simt::run(loop_barrier_kernel, 1, 64, 0, out.data());
  ASSERT_EQ(s.code(), errc::barrier_divergence) << s.to_string();
  EXPECT_NE(s.message().find(site("loop barrier")), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(site("after the loop")), std::string::npos) << s.message();
}

__global__ void barrier_reductions_kernel(int *out) {
  int t = int(threadIdx.x);
  int r[5];
  r[0] = __syncthreads_count(t % 3 == 0);
  r[1] = __syncthreads_and(t < 1000);
  r[2] = __syncthreads_and(t != 17);
  r[3] = __syncthreads_or(t == 17);
  r[4] = __syncthreads_or(t > 1000);
  for (int i = 0; i < 5; ++i) out[5 * t + i] = r[i];  // every thread must see the same results
}

TEST(SimtBlock, SyncthreadsCountAndOr) {
  std::vector<int> out(5 * 100, -1);
  ASSERT_TRUE(ttap::simt::run(barrier_reductions_kernel, 1, 100, 0, out.data()).ok());
  for (int t = 0; t < 100; ++t) {
    EXPECT_EQ(std::vector<int>(out.begin() + 5 * t, out.begin() + 5 * t + 5),
              (std::vector<int>{34, 1, 0, 1, 0}));
  }
}

// Every thread writes its global linear index computed from the 3-D built-ins into its own slot.
__global__ void index_kernel(unsigned *out) {
  unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[block * threads + thread] = block * 1000 + thread;
}

TEST(SimtBlock, ThreeDimensionalIndicesCoverEveryThreadOnce) {
  dim3 grid(3, 2, 2), block(4, 3, 5);
  const unsigned threads = 60, blocks = 12;
  std::vector<unsigned> out(threads * blocks, ~0u);
  ASSERT_TRUE(ttap::simt::run(index_kernel, grid, block, 0, out.data()).ok());
  for (unsigned b = 0; b < blocks; ++b) {
    for (unsigned t = 0; t < threads; ++t) ASSERT_EQ(out[b * threads + t], b * 1000 + t);
  }
}

__global__ void nothing_kernel() {}

TEST(SimtBlock, LaunchLimitsAreCheckedWithClearErrors) {
  auto s = ttap::simt::run(nothing_kernel, 1, 1025, 0);
  EXPECT_EQ(s.code(), errc::invalid_configuration);
  EXPECT_NE(s.message().find("1025 threads; a block holds at most 1024"), std::string::npos)
      << s.message();
  EXPECT_EQ(ttap::simt::run(nothing_kernel, 1, dim3(1, 1, 65), 0).code(),
            errc::invalid_configuration);
  EXPECT_EQ(ttap::simt::run(nothing_kernel, dim3(1, 65536), 1, 0).code(),
            errc::invalid_configuration);
  EXPECT_EQ(ttap::simt::run(nothing_kernel, 0, 32, 0).code(), errc::invalid_configuration);
  EXPECT_TRUE(ttap::simt::run(nothing_kernel, 1, dim3(32, 32), 0).ok());
  EXPECT_TRUE(ttap::simt::run(nothing_kernel, 1, 32, 48 * 1024).ok());
  s = ttap::simt::run(nothing_kernel, 1, 32, 48 * 1024 + 1);
  EXPECT_EQ(s.code(), errc::invalid_configuration);
  EXPECT_NE(s.message().find("dynamic shared memory"), std::string::npos) << s.message();
}

__global__ void trap_kernel(int *out) {
  if (threadIdx.x == 5) __trap();  // the trap
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

struct device_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

__global__ void throwing_kernel() {
  if (blockIdx.x == 2 && threadIdx.x == 3) throw device_error("bad input");
  __syncthreads();
}

TEST(SimtBlock, TrapAndExceptionsFailTheLaunchAndLaterLaunchesStillWork) {
  std::vector<int> out(3 * 32);
  auto s = ttap::simt::run(trap_kernel, 3, 32, 0, out.data());
  ASSERT_EQ(s.code(), errc::trap) << s.to_string();
  EXPECT_NE(s.message().find("thread (5,0,0) called __trap() at "), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find(site("the trap")), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("block (0,0,0)"), std::string::npos) << s.message();

  s = ttap::simt::run(throwing_kernel, 4, 64, 0);
  ASSERT_EQ(s.code(), errc::exception) << s.to_string();
  EXPECT_NE(s.message().find("block (2,0,0): thread (3,0,0) threw bad input"), std::string::npos)
      << s.message();

  // The abandoned fibers of the failed blocks do not disturb the next launch.
  const int blocks = 16;
  block_sums data(blocks);
  std::vector<long long> sums(blocks);
  ASSERT_TRUE(
      ttap::simt::run(block_sum_kernel, blocks, kBlock, 0, data.in.data(), sums.data()).ok());
  EXPECT_EQ(sums, data.want);
}

}  // namespace
