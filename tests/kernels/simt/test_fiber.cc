// Fibers of the SIMT emulator: the cost of a context switch against swapcontext measured in the
// same run (printed, not asserted), the cost of a warp barrier per thread, large stacks on request,
// and the guard page that turns a fiber stack overflow into a clear message; under ASan, that
// fibers reuse one fake stack and its stack-use-after-return check still catches a dangling frame.
#include <gtest/gtest.h>
#include <ucontext.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/simt/cuda_compat.h"
#include "kernels/simt/fiber.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace {

using ttap::simt::detail::context;

// Two contexts switching back and forth: the fiber side of the ping-pong.
struct ping_pong {
  context main_ctx;
  context fiber_ctx;
  long rounds = 0;
  long done = 0;
};

void ping_pong_fiber(void *arg) {
  auto *p = static_cast<ping_pong *>(arg);
  for (;;) {
    ++p->done;
    ttap::simt::detail::switch_context(p->fiber_ctx, p->main_ctx);
  }
}

double emulator_switch_ns(long rounds) {
  ttap::simt::detail::stack_pool stacks;
  stacks.reserve(1, 64 * 1024);
  ping_pong p;
  ttap::simt::detail::make_context(p.fiber_ctx, stacks.top(0), stacks.stack_bytes(),
                                   &ping_pong_fiber, &p);
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < rounds; ++i) ttap::simt::detail::switch_context(p.main_ctx, p.fiber_ctx);
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
  EXPECT_EQ(p.done, rounds);
  return ns.count() / (2.0 * rounds);  // two switches per round
}

ucontext_t g_uc_main, g_uc_fiber;
long g_uc_done = 0;

void swapcontext_fiber() {
  for (;;) {
    ++g_uc_done;
    swapcontext(&g_uc_fiber, &g_uc_main);
  }
}

double swapcontext_switch_ns(long rounds) {
  std::vector<unsigned char> stack(64 * 1024);
  getcontext(&g_uc_fiber);
  g_uc_fiber.uc_stack.ss_sp = stack.data();
  g_uc_fiber.uc_stack.ss_size = stack.size();
  g_uc_fiber.uc_link = nullptr;
  makecontext(&g_uc_fiber, &swapcontext_fiber, 0);
  g_uc_done = 0;
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < rounds; ++i) swapcontext(&g_uc_main, &g_uc_fiber);
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
  EXPECT_EQ(g_uc_done, rounds);
  return ns.count() / (2.0 * rounds);
}

// A benchmark printed as a ratio against swapcontext measured in the same run; timings are not
// asserted (shared CI machines), only that both switches did every round trip.
TEST(SimtFiber, ContextSwitchCostAgainstSwapcontext) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "timings under ThreadSanitizer mean nothing, and these bare fibers are not "
                  "announced to it";
#endif
  const long rounds = 200000;
  emulator_switch_ns(rounds / 10);  // warm up
  double ours = emulator_switch_ns(rounds);
  double baseline = swapcontext_switch_ns(rounds);
  std::printf("[simt] context switch (%s): %.1f ns; swapcontext: %.1f ns; ratio %.1fx\n",
              ttap::simt::detail::context_switch_kind(), ours, baseline, baseline / ours);
  RecordProperty("switch_ns", std::to_string(ours));
  RecordProperty("swapcontext_ns", std::to_string(baseline));
}

__global__ void syncwarp_loop_kernel(int rounds, int *out) {
  int v = 0;
  for (int i = 0; i < rounds; ++i) {
    __syncwarp();
    ++v;
  }
  out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

// The cost of a warp barrier per emulated thread: a switch into the fiber and back to the scheduler
// plus the collective's bookkeeping.
TEST(SimtFiber, WarpBarrierCostPerThread) {
  const int rounds = 200, blocks = 4, threads = 256;
  std::vector<int> out(blocks * threads);
  ttap::simt::launch_options one_worker;
  one_worker.max_workers = 1;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      ttap::simt::run(one_worker, syncwarp_loop_kernel, blocks, threads, 0, rounds, out.data())
          .ok());
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
  for (int v : out) ASSERT_EQ(v, rounds);
  std::printf("[simt] __syncwarp: %.1f ns per thread per barrier (one worker thread)\n",
              ns.count() / (double(rounds) * blocks * threads));
}

__global__ void big_frame_kernel(int *out) {
  volatile char buffer[200 * 1024];  // more than the default 64 KiB stack
  buffer[threadIdx.x] = char(threadIdx.x);
  buffer[sizeof buffer - 1 - threadIdx.x] = 1;
  out[blockIdx.x * blockDim.x + threadIdx.x] =
      buffer[threadIdx.x] + buffer[sizeof buffer - 1 - threadIdx.x];
}

TEST(SimtFiber, LargerStacksOnRequest) {
  ttap::simt::launch_options big;
  big.stack_bytes = 1024 * 1024;
  std::vector<int> out(2 * 32);
  ASSERT_TRUE(ttap::simt::run(big, big_frame_kernel, 2, 32, 0, out.data()).ok());
  for (int i = 0; i < 2 * 32; ++i) EXPECT_EQ(out[i], i % 32 + 1);
}

int recurse(int depth) {
  volatile char frame[512];
  frame[0] = char(depth);
  return depth == 0 ? frame[0] : recurse(depth - 1) + frame[0];
}

__global__ void overflow_kernel(int depth, int *out) { out[threadIdx.x] = recurse(depth); }

TEST(SimtFiberDeathTest, StackOverflowHitsTheGuardPageWithAClearMessage) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sanitizers take over SIGSEGV";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<int> out(32);
  ttap::simt::launch_options small;
  small.stack_bytes = 16 * 1024;
  EXPECT_DEATH((void)ttap::simt::run(small, overflow_kernel, 1, 32, 0, 1000, out.data()),
               "fiber stack overflow");
}

#if defined(__SANITIZE_ADDRESS__)
// ASan's stack-use-after-return check on fibers. Each check runs in a child process started with
// detect_stack_use_after_return=1 (whatever ASAN_OPTIONS the suite has), so it cannot pass by the
// check being off.
void run_with_stack_use_after_return_check() {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process reads ASAN_OPTIONS anew
  const char *options = std::getenv("ASAN_OPTIONS");
  std::string with_check = std::string(options ? options : "") + ":detect_stack_use_after_return=1";
  setenv("ASAN_OPTIONS", with_check.c_str(), 1);
}

// Whether a local of a frame of about `bytes` lives on ASan's fake stack (where its
// stack-use-after-return check puts frames). The sizes below take one frame of each of the five
// smallest size classes (64 to 1,024 bytes).
template <int bytes>
__attribute__((noinline)) bool frame_on_fake_stack() {
  volatile char local[bytes];
  local[0] = 1;
  void *fs = __asan_get_current_fake_stack();
  return fs && __asan_addr_is_in_fake_stack(fs, const_cast<char *>(local), nullptr, nullptr);
}

__global__ void fake_frame_kernel(int *on_fake_stack, void **fake_stack) {
  const unsigned b = blockIdx.x;
  on_fake_stack[b] = frame_on_fake_stack<4>() && frame_on_fake_stack<60>() &&
                     frame_on_fake_stack<150>() && frame_on_fake_stack<300>() &&
                     frame_on_fake_stack<700>();
  fake_stack[b] = __asan_get_current_fake_stack();
}

bool every_frame_on_one_reused_fake_stack(int blocks) {
  std::vector<int> on_fake_stack(blocks);
  std::vector<void *> fake_stack(blocks);
  ttap::simt::launch_options one_worker;
  one_worker.max_workers = 1;
  if (!ttap::simt::run(one_worker, fake_frame_kernel, blocks, 1, 0, on_fake_stack.data(),
                       fake_stack.data())
           .ok()) {
    return false;
  }
  for (int b = 0; b < blocks; ++b) {
    if (on_fake_stack[b] != 1 || fake_stack[b] != fake_stack[0]) {
      std::fprintf(stderr, "block %d: on the fake stack %d, fake stack %p (block 0: %p)\n", b,
                   on_fake_stack[b], fake_stack[b], fake_stack[0]);
      return false;
    }
  }
  return true;
}

// One worker runs the blocks in turn, each a one-thread block on the same fiber stack. Every
// fiber takes over the fake stack its predecessor finished with (the same one throughout: no
// mapping per fiber), and 5,000 fibers in, kernel frames of every small size still get fake
// frames. A fake stack for a 256 KiB fiber stack holds 4,096 frames of 64 bytes down to 256 of
// 1,024, so a frame left allocated at each fiber's finish would have used up its class and sent
// later frames to the real stack, unchecked (seen with a local in lane_main without
// TTAP_SIMT_FIBER_ENTRY).
TEST(SimtFiberDeathTest, FibersReuseOneFakeStackAndKeepTheUseAfterReturnCheck) {
  run_with_stack_use_after_return_check();
  EXPECT_EXIT(std::exit(every_frame_on_one_reused_fake_stack(5000) ? 0 : 1),
              testing::ExitedWithCode(0), "");
}

// Lets the address of its local escape: a read through it after the return is a stack use after
// return.
__attribute__((noinline)) void leak_local_address(int **out) {
  volatile int local = 7;
  *out = const_cast<int *>(&local);
  asm volatile("" : : "r"(out) : "memory");
}

__global__ void use_after_return_kernel(int *out) {
  int *p = nullptr;
  leak_local_address(&p);
  // Only the last block reads, on a fiber that reuses the fake stack of the ones before it.
  out[blockIdx.x] = blockIdx.x + 1 == gridDim.x ? *p : 0;
}

TEST(SimtFiberDeathTest, AsanCatchesAStackUseAfterReturnInAnEmulatedThread) {
  run_with_stack_use_after_return_check();
  std::vector<int> out(64);
  ttap::simt::launch_options one_worker;
  one_worker.max_workers = 1;
  EXPECT_DEATH((void)ttap::simt::run(one_worker, use_after_return_kernel, 64, 1, 0, out.data()),
               "stack-use-after-return");
}
#endif

}  // namespace
