// A due ttap_step in steady state allocates nothing on the training thread: this binary replaces
// operator new/delete and malloc and counts what the calling thread allocates over 10,000 due steps
// after a warm-up (issue 12: a heap allocation there is freed on the collector thread, so glibc
// hands the memory back to the kernel and the next step page-faults it in again).
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "tests/runtime/store_query.h"
#include "tests/temp_dir.h"
#include "ttap/ttap.h"

// glibc's own entry points, which the replacements below call.
extern "C" {
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void __libc_free(void *ptr);
}

namespace {

// Per thread, so the collector's and the executor pool's allocations are not counted: only the
// thread that calls ttap_step is held to zero. constinit: no TLS wrapper, no allocation to reach
// it.
constinit thread_local bool t_counting = false;
constinit thread_local uint64_t t_allocations = 0;

inline void count_allocation() {
  if (t_counting) ++t_allocations;
}

// Allocations the calling thread makes while `body` runs.
template <class Body>
uint64_t allocations_during(Body &&body) {
  t_allocations = 0;
  t_counting = true;
  body();
  t_counting = false;
  return t_allocations;
}

}  // namespace

extern "C" {
void *malloc(size_t size) {
  count_allocation();
  return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
  count_allocation();
  return __libc_calloc(count, size);
}
void *realloc(void *ptr, size_t size) {
  count_allocation();
  return __libc_realloc(ptr, size);
}
void *memalign(size_t alignment, size_t size) {
  count_allocation();
  return __libc_memalign(alignment, size);
}
void *aligned_alloc(size_t alignment, size_t size) {
  count_allocation();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void **out, size_t alignment, size_t size) {
  count_allocation();
  void *p = __libc_memalign(alignment, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void free(void *ptr) { __libc_free(ptr); }
}

// operator new in every form goes through the counted malloc; delete through free.
void *operator new(size_t size) {
  if (void *p = malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void *operator new[](size_t size) { return operator new(size); }
void *operator new(size_t size, const std::nothrow_t &) noexcept { return malloc(size ? size : 1); }
void *operator new[](size_t size, const std::nothrow_t &) noexcept {
  return malloc(size ? size : 1);
}
void *operator new(size_t size, std::align_val_t alignment) {
  if (void *p = aligned_alloc(size_t(alignment), size ? size : 1)) return p;
  throw std::bad_alloc();
}
void *operator new[](size_t size, std::align_val_t alignment) {
  return operator new(size, alignment);
}
void operator delete(void *p) noexcept { free(p); }
void operator delete[](void *p) noexcept { free(p); }
void operator delete(void *p, size_t) noexcept { free(p); }
void operator delete[](void *p, size_t) noexcept { free(p); }
void operator delete(void *p, std::align_val_t) noexcept { free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { free(p); }
void operator delete(void *p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void *p, size_t, std::align_val_t) noexcept { free(p); }

namespace {

using ttap::testing::query_one;
using ttap::testing::temp_dir;

constexpr int kWarmupSteps = 200;
constexpr int kCountedSteps = 10'000;
// The collector is drained after every step (as a trainer's own pace lets it catch up), so the
// queue never fills, every counted step is a sample that is taken, and the record buffer the step
// needs is always back: the count does not depend on how far the collector thread lagged in the
// warm-up. (With more samples in flight than buffers were ever made, a step makes one more: the
// collector keeps up to four, see collector.h.)
constexpr int kFlushEvery = 1;

// The counting itself works: a vector's growth on this thread is seen.
TEST(StepAllocations, CounterSeesThisThreadsAllocations) {
  const uint64_t seen = allocations_during([] {
    std::vector<int> *v = new std::vector<int>(1000);
    delete v;
    void *p = std::malloc(100);
    std::free(p);
  });
  EXPECT_EQ(seen, 3u);
}

constexpr const char *kObservedNames[] = {"model.block0.attention.output",
                                          "model.block0.mlp.hidden.activation"};

struct host_tensors {
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint16_t>> bf16;
  // Activations passed to ttap_observe before each step (as the demo trainer does), with names
  // long enough that a std::string of them would be on the heap.
  std::vector<std::vector<float>> observed;
};

// Runs warm-up then the counted steps (ttap_flush included in the count: it runs on the training
// thread too); returns the allocations seen and checks that every step was sampled.
uint64_t allocations_over_due_steps(const std::string &options, const host_tensors &tensors,
                                    const temp_dir &dir, int counted_steps) {
  ttap_session *s = nullptr;
  EXPECT_EQ(ttap_open(dir.path.c_str(), options.c_str(), &s), TTAP_OK) << ttap_last_error();
  if (!s) return UINT64_MAX;
  int32_t handle;
  int k = 0;
  for (const auto &t : tensors.f32) {
    EXPECT_EQ(ttap_watch(s, ("f32." + std::to_string(k++)).c_str(), t.data(), TTAP_F32, t.size(),
                         TTAP_GRAD, &handle),
              TTAP_OK);
  }
  for (const auto &t : tensors.bf16) {
    EXPECT_EQ(ttap_watch(s, ("bf16." + std::to_string(k++)).c_str(), t.data(), TTAP_BF16, t.size(),
                         TTAP_PARAM, &handle),
              TTAP_OK);
  }
  int64_t step = 0;
  auto run_steps = [&](int steps) {
    for (int i = 0; i < steps; ++i, ++step) {
      for (size_t a = 0; a < tensors.observed.size(); ++a) {
        const std::vector<float> &t = tensors.observed[a];
        if (ttap_observe(s, kObservedNames[a], t.data(), TTAP_F32, t.size(), TTAP_ACTIVATION, step,
                         nullptr) != TTAP_OK)
          ADD_FAILURE() << ttap_last_error();
      }
      if (ttap_step(s, step, nullptr) != TTAP_OK) ADD_FAILURE() << ttap_last_error();
      if (step % kFlushEvery == kFlushEvery - 1 && ttap_flush(s) != TTAP_OK)
        ADD_FAILURE() << ttap_last_error();
    }
  };
  run_steps(kWarmupSteps);
  const uint64_t seen = allocations_during([&] { run_steps(counted_steps); });
  EXPECT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();
  // Every step was due and sampled: the allocation count is over real samples.
  EXPECT_EQ(query_one(dir.path, "select samples_taken from run_counters"),
            std::to_string((kWarmupSteps + counted_steps) * (1 + tensors.observed.size())));
  EXPECT_EQ(query_one(dir.path, "select records_dropped from run_counters"), "0");
  return seen;
}

host_tensors small_tensors(int f32_count, int bf16_count, size_t numel) {
  host_tensors t;
  for (int i = 0; i < f32_count; ++i) {
    t.f32.emplace_back(numel);
    for (size_t j = 0; j < numel; ++j) t.f32.back()[j] = float(j % 97) * 0.01f - 0.3f;
  }
  for (int i = 0; i < bf16_count; ++i) t.bf16.emplace_back(numel, uint16_t(0x3f80));  // 1.0
  return t;
}

// Small host tensors, cpu backend, every step due: the caller-thread path (executor inline).
TEST(StepAllocations, DueHostStepsAllocateNothingOnTheTrainingThread) {
  temp_dir dir;
  const host_tensors tensors = small_tensors(12, 4, 1000);
  const uint64_t seen = allocations_over_due_steps("backend=cpu,every=1,budget=0,flush_ms=100000",
                                                   tensors, dir, kCountedSteps);
  EXPECT_EQ(seen, 0u) << "heap allocations on the training thread over " << kCountedSteps
                      << " due steps";
}

// Tensors large enough for the executor's pool and its chunked path (partials merged in order).
TEST(StepAllocations, DueStepsOnTheExecutorPoolAllocateNothing) {
  temp_dir dir;
  host_tensors tensors = small_tensors(4, 0, 1000);
  tensors.f32.emplace_back(size_t(3) << 19, 0.5f);  // 1.5 M elements: two chunks, pool dispatch
  const uint64_t seen = allocations_over_due_steps("backend=cpu,every=1,budget=0,flush_ms=100000",
                                                   tensors, dir, 1000);
  EXPECT_EQ(seen, 0u) << "heap allocations on the training thread over 1000 due steps";
}

// The demo trainer's shape: watched parameters and gradients, two activations observed per step.
TEST(StepAllocations, DueStepsWithObservedActivationsAllocateNothing) {
  temp_dir dir;
  host_tensors tensors = small_tensors(8, 0, 1000);
  tensors.observed.emplace_back(2000, 0.25f);
  tensors.observed.emplace_back(500, -1.0f);
  const uint64_t seen = allocations_over_due_steps("backend=cpu,every=1,budget=0,flush_ms=100000",
                                                   tensors, dir, 2000);
  EXPECT_EQ(seen, 0u) << "heap allocations on the training thread over 2000 due steps with two "
                         "ttap_observe calls each";
}

}  // namespace
