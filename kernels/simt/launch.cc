// Kernel launches of the SIMT emulator: options and their scoping, CUDA's launch limits, per-kernel
// attributes, and the worker pool whose OS threads run the blocks of a grid in parallel, one block
// per thread at a time.
#include "kernels/simt/launch.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/simt/block_runner.h"
#include "kernels/simt/fiber.h"

namespace ttap::simt {

const char *errc_name(errc code) {
  switch (code) {
    case errc::ok:
      return "ok";
    case errc::not_ready:
      return "not_ready";
    case errc::invalid_configuration:
      return "invalid_configuration";
    case errc::invalid_value:
      return "invalid_value";
    case errc::barrier_divergence:
      return "barrier_divergence";
    case errc::warp_misuse:
      return "warp_misuse";
    case errc::deadlock:
      return "deadlock";
    case errc::trap:
      return "trap";
    case errc::exception:
      return "exception";
    case errc::sentinel:
      break;
  }
  return "unknown";
}

std::string status::to_string() const {
  if (ok()) return "ok";
  return std::string(errc_name(m_code)) + ": " + m_message;
}

namespace {

std::mutex g_defaults_mutex;
launch_options g_defaults;
thread_local const launch_options *t_scoped = nullptr;

// The thread's last launch error, kept as a code and a fixed buffer rather than a status (which
// holds a std::string): a trivially destructible thread_local survives glibc's teardown of the
// main thread's thread-local storage, so an error recorded from an atexit handler (the hooks'
// session close) never writes into freed memory.
struct last_error_slot {
  errc code;  // errc::ok (zero) until the first error
  char message[1024];

  void set(const status &s) {
    code = s.code();
    const size_t n = std::min(s.message().size(), sizeof(message) - 1);
    std::memcpy(message, s.message().data(), n);
    message[n] = '\0';
  }
  status get() const { return code == errc::ok ? status() : status(code, message); }
};
static_assert(std::is_trivially_destructible_v<last_error_slot>);
thread_local last_error_slot t_last_error;

std::mutex g_attributes_mutex;
std::map<uintptr_t, size_t> g_max_dynamic_shared;  // kernel address -> opted-in limit

std::string dims(const unsigned d[3]) {
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "(" + std::to_string(...).
  std::string s = "(";
  s += std::to_string(d[0]);
  s += ",";
  s += std::to_string(d[1]);
  s += ",";
  s += std::to_string(d[2]);
  return s + ")";
}

// The OS threads that run blocks. A grid is a job with an atomic "next block" counter; every worker
// that joins it claims blocks until none are left (or one failed), so blocks of one grid run in
// parallel and grids of different streams share the pool. Bookkeeping other than the claim counter
// is under one mutex: it changes only per worker per grid, never per block.
class worker_pool {
 public:
  static worker_pool &instance() {
    // Never destroyed: workers are parked on the condition variable when the process exits.
    static worker_pool *pool = new worker_pool();
    return *pool;
  }

  status run(const detail::launch_base &launch) {
    auto job = std::make_shared<grid_job>();
    job->launch = &launch;
    job->total = uint64_t(launch.grid[0]) * launch.grid[1] * launch.grid[2];
    job->max_workers = launch.options.max_workers ? launch.options.max_workers : ~0u;
    std::unique_lock<std::mutex> lock(m_mutex);
    start_workers();
    m_jobs.push_back(job);
    m_work.notify_all();
    job->done_cv.wait(lock, [&] { return job->done; });
    return job->error;
  }

 private:
  struct grid_job {
    const detail::launch_base *launch = nullptr;
    uint64_t total = 0;
    std::atomic<uint64_t> next{0};
    std::atomic<bool> failed{false};
    unsigned max_workers = 0;
    // Under the pool mutex:
    unsigned joined = 0;
    unsigned active = 0;
    bool done = false;
    status error;
    uint64_t error_block = ~uint64_t(0);
    std::condition_variable done_cv;

    bool exhausted() const {
      return failed.load(std::memory_order_relaxed) ||
             next.load(std::memory_order_relaxed) >= total;
    }
  };

  // A small pool: the emulator is for tests, and more threads than cores only adds switching.
  void start_workers() {
    if (!m_threads.empty()) return;
    unsigned n = std::clamp(std::thread::hardware_concurrency(), 1u, 16u);
    for (unsigned i = 0; i < n; ++i) m_threads.emplace_back([this] { worker_main(); });
    for (auto &t : m_threads) t.detach();
  }

  void worker_main() {
    detail::install_stack_overflow_handler();
    detail::block_runner runner;
    std::unique_lock<std::mutex> lock(m_mutex);
    for (;;) {
      std::shared_ptr<grid_job> job;
      m_work.wait(lock, [&] {
        for (auto &j : m_jobs) {
          if (j->joined < j->max_workers && !j->exhausted()) {
            job = j;
            return true;
          }
        }
        return false;
      });
      ++job->joined;
      ++job->active;
      lock.unlock();
      for (;;) {
        if (job->failed.load(std::memory_order_relaxed)) break;
        uint64_t b = job->next.fetch_add(1, std::memory_order_relaxed);
        if (b >= job->total) break;
        status s;
        try {
          s = runner.run(*job->launch, b);
        } catch (const std::bad_alloc &) {
          s = status(errc::invalid_value,
                     "kernel " + job->launch->name + ": out of memory for fiber stacks");
        }
        if (!s.ok()) {
          std::lock_guard<std::mutex> error_lock(m_mutex);
          // Of several failing blocks, report the lowest, so a message does not depend on timing.
          if (b < job->error_block) {
            job->error_block = b;
            job->error = s;
          }
          job->failed.store(true, std::memory_order_relaxed);
        }
      }
      lock.lock();
      --job->active;
      std::erase_if(m_jobs, [](const std::shared_ptr<grid_job> &j) { return j->exhausted(); });
      if (job->active == 0 && job->exhausted()) {
        job->done = true;
        job->done_cv.notify_all();
      }
    }
  }

  std::mutex m_mutex;
  std::condition_variable m_work;
  std::deque<std::shared_ptr<grid_job>> m_jobs;
  std::vector<std::thread> m_threads;
};

}  // namespace

launch_options default_launch_options() {
  std::lock_guard<std::mutex> lock(g_defaults_mutex);
  return g_defaults;
}

void set_default_launch_options(const launch_options &options) {
  std::lock_guard<std::mutex> lock(g_defaults_mutex);
  g_defaults = options;
}

launch_options current_launch_options() { return t_scoped ? *t_scoped : default_launch_options(); }

scoped_launch_options::scoped_launch_options(const launch_options &options)
    : m_previous(t_scoped), m_options(options) {
  t_scoped = &m_options;
}

scoped_launch_options::~scoped_launch_options() { t_scoped = m_previous; }

status get_last_error() {
  status s = t_last_error.get();
  t_last_error.code = errc::ok;
  return s;
}

status peek_last_error() { return t_last_error.get(); }

namespace detail {

status validate_launch(const launch_base &launch) {
  const std::string who = launch.name.empty() ? "launch: " : "launch of " + launch.name + ": ";
  if (launch.kernel_key == 0) return status(errc::invalid_value, who + "null kernel");
  uint64_t threads = uint64_t(launch.block[0]) * launch.block[1] * launch.block[2];
  if (threads > kMaxThreadsPerBlock) {
    return status(errc::invalid_configuration,
                  who + "block " + dims(launch.block) + " has " + std::to_string(threads) +
                      " threads; a block holds at most " + std::to_string(kMaxThreadsPerBlock));
  }
  for (int d = 0; d < 3; ++d) {
    if (launch.block[d] == 0 || launch.grid[d] == 0) {
      return status(errc::invalid_configuration, who + "grid " + dims(launch.grid) + " and block " +
                                                     dims(launch.block) +
                                                     " must be at least 1 in every dimension");
    }
    if (launch.block[d] > kMaxBlockDim[d]) {
      return status(errc::invalid_configuration, who + "block " + dims(launch.block) +
                                                     " exceeds the per-dimension limit " +
                                                     dims(kMaxBlockDim));
    }
    if (launch.grid[d] > kMaxGridDim[d]) {
      return status(errc::invalid_configuration, who + "grid " + dims(launch.grid) +
                                                     " exceeds the per-dimension limit " +
                                                     dims(kMaxGridDim));
    }
  }
  size_t limit = kDefaultMaxDynamicShared;
  {
    std::lock_guard<std::mutex> lock(g_attributes_mutex);
    auto it = g_max_dynamic_shared.find(launch.kernel_key);
    if (it != g_max_dynamic_shared.end()) limit = it->second;
  }
  if (launch.dynamic_shared_bytes > limit) {
    return status(errc::invalid_configuration,
                  who + std::to_string(launch.dynamic_shared_bytes) +
                      " bytes of dynamic shared memory exceed the kernel's limit of " +
                      std::to_string(limit) +
                      " (raise it with set_max_dynamic_shared_bytes, at most " +
                      std::to_string(kMaxDynamicSharedOptIn) + ")");
  }
  return status();
}

status run_grid(const launch_base &launch) { return worker_pool::instance().run(launch); }

status set_max_dynamic_shared(uintptr_t kernel_key, size_t bytes) {
  if (kernel_key == 0)
    return status(errc::invalid_value, "set_max_dynamic_shared_bytes: null kernel");
  if (bytes > kMaxDynamicSharedOptIn) {
    return status(errc::invalid_value, "set_max_dynamic_shared_bytes: " + std::to_string(bytes) +
                                           " bytes exceed the opt-in limit of " +
                                           std::to_string(kMaxDynamicSharedOptIn));
  }
  std::lock_guard<std::mutex> lock(g_attributes_mutex);
  g_max_dynamic_shared[kernel_key] = bytes;
  return status();
}

void record_last_error(const status &s) {
  if (!s.ok()) t_last_error.set(s);
}

}  // namespace detail
}  // namespace ttap::simt
