// The cpu executor: one job per call. Every tensor of the call becomes part of one list of work
// items (small tensors packed together, large ones cut into fixed chunks), run by a persistent
// pool in one dispatch; chunk partials are merged in chunk order, so results are reproducible bit
// for bit whatever the thread count.
#include "kernels/cpu/cpu_executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/cpu/chunk.h"

namespace ttap {
namespace {

// Chunk partials are kept for at most this many chunks at a time (about 4 MiB of summaries); a
// call with more runs in waves, each merged in order before the next starts.
constexpr uint32_t kMaxSlotsPerWave = 2048;
// Tensors up to this many elements are packed into one work item with their neighbours (up to
// this many elements per item): each is summarized straight into its output, with no partial and
// no merge. A few hundred microseconds of work per item at most, so packs still balance.
constexpr uint64_t kPackElems = uint64_t(1) << 16;
// Below this many bytes in a call the calling thread does everything (about 50-100 us of work on
// one core): a sleeping worker takes tens of microseconds to start on a virtual machine and
// milliseconds on a busy one, so below this it rarely shortens a call and can lengthen it (the
// caller then waits for the item the late worker claimed). A training step's sample of a small
// model stays on the caller; checkpoints and large models use the pool.
constexpr uint64_t kInlineBytes = uint64_t(2) << 20;
// How long the caller spins, once its own claims are done, for the items workers still run before
// it sleeps: the wait is at most one item, usually a few microseconds, and sleeping would add a
// wake-up (tens of microseconds on a virtual machine) to every call that goes to the pool.
constexpr auto kCallerSpin = std::chrono::microseconds(50);

// One unit of work. Either whole tensors [tensor, tensor + count) summarized into their outputs
// (slot < 0), or elements [begin, end) of one tensor into partial `slot`.
struct work_item {
  uint32_t tensor;
  uint32_t count;
  int32_t slot;
  uint64_t begin, end;
};

// The pool's job word: epoch (24 bits) | item count (20 bits) | next item (20 bits). Claiming an
// item is one compare-and-swap on it, so a worker that wakes late (or sleeps through a whole call)
// can never claim an item of a call it did not see published, and the caller never waits for a
// worker that has not claimed anything.
constexpr int kIndexBits = 20;
constexpr uint64_t kIndexMask = (uint64_t(1) << kIndexBits) - 1;
constexpr uint32_t kMaxItemsPerJob = uint32_t(kIndexMask);
constexpr uint64_t job_next(uint64_t word) { return word & kIndexMask; }
constexpr uint64_t job_count(uint64_t word) { return (word >> kIndexBits) & kIndexMask; }
constexpr uint64_t job_epoch(uint64_t word) { return word >> (2 * kIndexBits); }

// A hint to the core that this is a spin-wait loop (frees the sibling hyperthread's resources).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

struct cpu_executor::impl {
  cpu_executor_options options;
  int num_threads = 1;
  bool use_avx512 = false;

  // Owned by the call in progress (serialized by call_mutex); grown, never shrunk, so a steady
  // stream of samples allocates nothing.
  std::mutex call_mutex;
  std::vector<work_item> items;
  std::vector<summary> slots;
  std::vector<uint32_t> slot_tensor;  // which tensor each partial of the wave belongs to
  std::span<const tensor_view> tensors;
  summary *out = nullptr;
  size_t out_stride = sizeof(summary);

  std::vector<std::thread> workers;
  std::atomic<uint64_t> job{0};
  std::atomic<uint32_t> completed{0};
  std::atomic<bool> stopping{false};

  summary &output(size_t t) const {
    return *reinterpret_cast<summary *>(reinterpret_cast<unsigned char *>(out) + t * out_stride);
  }

  void summarize_range(const tensor_view &t, uint64_t begin, uint64_t end, summary &s) const {
    summary_clear(s);
    if (use_avx512) {
      cpu::summarize_chunk_avx512(t, begin, end, s);
    } else {
      cpu::summarize_chunk_portable(t, begin, end, s);
    }
    if (options.fingerprint || t.fingerprint) cpu::add_fingerprint(t, begin, end, s);
  }

  void run_item(const work_item &w) {
    if (w.slot >= 0) {
      summarize_range(tensors[w.tensor], w.begin, w.end, slots[size_t(w.slot)]);
      return;
    }
    for (uint32_t t = w.tensor; t < w.tensor + w.count; ++t) {
      summarize_range(tensors[t], 0, tensors[t].numel, output(t));
    }
  }

  // Claims and runs items of the published job until none is left; returns the job word last seen.
  uint64_t run_claims() {
    uint64_t word = job.load(std::memory_order_acquire);
    while (job_next(word) < job_count(word)) {
      if (job.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
        run_item(items[job_next(word)]);
        if (completed.fetch_add(1, std::memory_order_acq_rel) + 1 == job_count(word)) {
          completed.notify_one();
        }
        word = job.load(std::memory_order_acquire);
      }
    }
    return word;
  }

  void worker_loop() {
    for (;;) {
      uint64_t seen = run_claims();
      if (stopping.load(std::memory_order_acquire)) return;
      job.wait(seen, std::memory_order_acquire);
      if (stopping.load(std::memory_order_acquire)) return;
    }
  }

  // Runs items[0, n): on the pool when `parallel`, else on this thread alone.
  void run_job(uint32_t n, bool parallel) {
    if (!parallel || workers.empty()) {
      for (uint32_t k = 0; k < n; ++k) run_item(items[k]);
      return;
    }
    completed.store(0, std::memory_order_relaxed);
    const uint64_t epoch = job_epoch(job.load(std::memory_order_relaxed)) + 1;
    job.store((epoch << (2 * kIndexBits)) | (uint64_t(n) << kIndexBits),
              std::memory_order_release);
    job.notify_all();
    run_claims();
    wait_for_completed(n);
  }

  void wait_for_completed(uint32_t n) {
    const auto spin_until = std::chrono::steady_clock::now() + kCallerSpin;
    for (int polls = 1; completed.load(std::memory_order_acquire) < n; ++polls) {
      if (polls % 64 == 0 && std::chrono::steady_clock::now() > spin_until) break;
      cpu_relax();
    }
    for (uint32_t done = completed.load(std::memory_order_acquire); done < n;
         done = completed.load(std::memory_order_acquire)) {
      completed.wait(done, std::memory_order_acquire);
    }
  }
};

cpu_executor::cpu_executor(cpu_executor_options options) : m_impl(std::make_unique<impl>()) {
  m_impl->options = options;
  int hw = int(std::thread::hardware_concurrency());
  m_impl->num_threads = options.threads > 0 ? options.threads : std::max(hw, 1);
  m_impl->use_avx512 = options.allow_simd && cpu::avx512_supported();
  for (int i = 1; i < m_impl->num_threads; ++i) {
    m_impl->workers.emplace_back([this] { m_impl->worker_loop(); });
  }
}

cpu_executor::~cpu_executor() {
  m_impl->stopping.store(true, std::memory_order_release);
  // A new epoch with no items: every sleeping worker wakes, sees `stopping` and returns.
  const uint64_t epoch = job_epoch(m_impl->job.load(std::memory_order_relaxed)) + 1;
  m_impl->job.store(epoch << (2 * kIndexBits), std::memory_order_release);
  m_impl->job.notify_all();
  for (auto &w : m_impl->workers) w.join();
}

int cpu_executor::threads() const { return m_impl->num_threads; }

const char *cpu_executor::isa() const { return m_impl->use_avx512 ? "avx512" : "portable"; }

summary cpu_executor::summarize(const tensor_view &tensor) {
  summary s;
  summarize(std::span<const tensor_view>(&tensor, 1), &s, sizeof s);
  return s;
}

void cpu_executor::summarize(std::span<const tensor_view> tensors, std::span<summary> out) {
  if (tensors.size() != out.size()) {
    throw std::invalid_argument("cpu_executor::summarize: tensors and out differ in size");
  }
  summarize(tensors, out.data(), sizeof(summary));
}

void cpu_executor::summarize(std::span<const tensor_view> tensors, summary *out,
                             size_t out_stride) {
  if (tensors.empty()) return;
  if (!out || out_stride < sizeof(summary)) {
    throw std::invalid_argument("cpu_executor::summarize: no room for the summaries");
  }
  impl &m = *m_impl;
  std::lock_guard<std::mutex> call_lock(m.call_mutex);
  m.tensors = tensors;
  m.out = out;
  m.out_stride = out_stride;

  uint64_t total_bytes = 0;
  for (const auto &t : tensors) total_bytes += t.numel * uint64_t(dtype_size(t.type));
  const bool parallel = total_bytes > kInlineBytes;

  // Builds the item list tensor by tensor; a wave is run (and its partials merged in chunk order)
  // whenever the partials or the items would overflow, and once at the end.
  m.items.clear();
  uint32_t slots_used = 0;
  auto run_wave = [&] {
    m.run_job(uint32_t(m.items.size()), parallel);
    for (uint32_t k = 0; k < slots_used; ++k) summary_merge(m.output(m.slot_tensor[k]), m.slots[k]);
    m.items.clear();
    slots_used = 0;
  };
  const bool fingerprint_all = m.options.fingerprint;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const uint64_t n = tensors[t].numel;
    if (n <= kChunkElems) {
      // Whole tensor, straight into its output: join the previous pack when there is room.
      work_item *last = m.items.empty() ? nullptr : &m.items.back();
      if (last && last->slot < 0 && last->tensor + last->count == t &&
          last->end + n <= kPackElems) {
        ++last->count;
        last->end += n;  // a pack's `end` is its element total
      } else {
        if (m.items.size() == kMaxItemsPerJob) run_wave();
        m.items.push_back({uint32_t(t), 1, -1, 0, n});
      }
      continue;
    }
    summary_clear(m.output(t));
    if (fingerprint_all || tensors[t].fingerprint) m.output(t).has_fingerprint = 1;
    for (uint64_t begin = 0; begin < n; begin += kChunkElems) {
      if (slots_used == kMaxSlotsPerWave || m.items.size() == kMaxItemsPerJob) run_wave();
      if (m.slots.size() <= slots_used) {
        m.slots.resize(slots_used + 1);
        m.slot_tensor.resize(slots_used + 1);
      }
      m.slot_tensor[slots_used] = uint32_t(t);
      m.items.push_back({uint32_t(t), 1, int32_t(slots_used), begin, std::min(n, begin + kChunkElems)});
      ++slots_used;
    }
  }
  if (!m.items.empty()) run_wave();
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (fingerprint_all || tensors[t].fingerprint) m.output(t).has_fingerprint = 1;
  }
  m.tensors = {};
  m.out = nullptr;
}

}  // namespace ttap
