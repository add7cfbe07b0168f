// CUPTI injection: InitializeInjection (the CUDA driver calls it when CUDA_INJECTION64_PATH names
// this library) subscribes to CUPTI, collects kernel activity records and turns them into per-step
// scalars through kernel_aggregator (steps come from the collective hooks or the NVTX step range).
// CUPTI is loaded with dlopen at that moment, so a program without CUDA never loads it. It shares:
// when another tool holds CUPTI ("multiple subscribers not supported") it steps back and says so
// once. Every failure is one log line and no kernel timing; the program goes on untouched.
#include <cupti.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "collectors/inject/hook_runtime.h"
#include "collectors/inject/kernel_aggregator.h"
#include "runtime/log.h"

#ifndef TTAP_CUPTI_LIBRARY
#define TTAP_CUPTI_LIBRARY "libcupti.so"
#endif

namespace ttap::inject {
namespace {

struct cupti_api {
  decltype(&cuptiSubscribe_v2) subscribe_v2 = nullptr;
  decltype(&cuptiSubscribe) subscribe = nullptr;
  decltype(&cuptiActivityRegisterCallbacks) register_callbacks = nullptr;
  decltype(&cuptiActivityEnable) enable = nullptr;
  decltype(&cuptiActivityGetNextRecord) next_record = nullptr;
  decltype(&cuptiActivityFlushAll) flush_all = nullptr;
  decltype(&cuptiGetTimestamp) timestamp = nullptr;
  decltype(&cuptiGetResultString) result_string = nullptr;
  decltype(&cuptiGetVersion) version = nullptr;
  decltype(&cuptiUnsubscribe) unsubscribe = nullptr;
};

cupti_api g_cupti;

// CUPTI hands over activity buffers from its own thread, which may still run while the process
// exits: the aggregator is never destroyed.
struct locked_aggregator {
  std::mutex mutex;
  kernel_aggregator kernels;
};

locked_aggregator &aggregator() {
  static auto *aggregator = new locked_aggregator;
  return *aggregator;
}
std::atomic<int> g_outstanding_buffers{0};
std::atomic<bool> g_started{false};

// Activity buffers in flight at once: CUPTI drops records rather than let memory grow past this.
constexpr size_t kBufferBytes = size_t(1) << 20;
constexpr int kMaxOutstandingBuffers = 32;

std::string result_text(CUptiResult r) {
  const char *s = nullptr;
  if (g_cupti.result_string && g_cupti.result_string(r, &s) == CUPTI_SUCCESS && s) return s;
  return "CUPTI error " + std::to_string(int(r));
}

using scalar_list = std::vector<std::tuple<std::string, double, int64_t>>;

void store_all(const scalar_list &scalars) {
  for (const auto &[name, value, step] : scalars) store_scalar(name, value, step);
}

kernel_aggregator::scalar_sink collect_into(scalar_list &out) {
  return [&out](const std::string &n, double v, int64_t s) { out.emplace_back(n, v, s); };
}

void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records) {
  *max_records = 0;
  *size = 0;
  *buffer = nullptr;
  if (g_outstanding_buffers.fetch_add(1) >= kMaxOutstandingBuffers) {
    g_outstanding_buffers.fetch_sub(1);
    return;
  }
  *buffer = static_cast<uint8_t *>(std::aligned_alloc(8, kBufferBytes));
  if (*buffer)
    *size = kBufferBytes;
  else
    g_outstanding_buffers.fetch_sub(1);
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t *buffer, size_t, size_t valid) {
  scalar_list ready;
  {
    locked_aggregator &locked = aggregator();
    std::lock_guard<std::mutex> lock(locked.mutex);
    CUpti_Activity *record = nullptr;
    while (g_cupti.next_record(buffer, valid, &record) == CUPTI_SUCCESS) {
      if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL &&
          record->kind != CUPTI_ACTIVITY_KIND_KERNEL)
        continue;
      const auto *k = reinterpret_cast<const CUpti_ActivityKernel10 *>(record);
      locked.kernels.add_kernel(k->name, k->start, k->end);
    }
    locked.kernels.emit_ready(collect_into(ready));
  }
  std::free(buffer);
  g_outstanding_buffers.fetch_sub(1);
  store_all(ready);
}

uint64_t now_ns() {
  uint64_t t = 0;
  if (g_cupti.timestamp) g_cupti.timestamp(&t);
  return t;
}

void on_step(int64_t step) {
  scalar_list ready;
  {
    locked_aggregator &locked = aggregator();
    std::lock_guard<std::mutex> lock(locked.mutex);
    locked.kernels.step_began(step, now_ns());
    locked.kernels.emit_ready(collect_into(ready));
  }
  store_all(ready);
}

void on_exit() {
  g_cupti.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  scalar_list ready;
  {
    locked_aggregator &locked = aggregator();
    std::lock_guard<std::mutex> lock(locked.mutex);
    locked.kernels.finish(now_ns(), collect_into(ready));
    if (locked.kernels.late_kernels() > 0)
      TTAP_INFO("hooks: %llu kernel records arrived after their step was stored",
                (unsigned long long)locked.kernels.late_kernels());
  }
  store_all(ready);
}

void CUPTIAPI ignore_callback(void *, CUpti_CallbackDomain, CUpti_CallbackId, const void *) {}

// Loads CUPTI and starts kernel activity collection; false after logging the one line why not.
bool start_kernel_timing() {
  // The CUPTI of the program's CUDA when the loader finds one, else the one found at build time.
  void *lib = dlopen("libcupti.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib) lib = dlopen(TTAP_CUPTI_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    warn_once("cupti", "hooks: no kernel timing: cannot load CUPTI (%s)", dlerror());
    return false;
  }
  auto resolve = [lib](auto &fn, const char *name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    return fn != nullptr;
  };
  resolve(g_cupti.subscribe_v2, "cuptiSubscribe_v2");  // CUPTI 12.6 and newer
  resolve(g_cupti.result_string, "cuptiGetResultString");
  if (!resolve(g_cupti.subscribe, "cuptiSubscribe") ||
      !resolve(g_cupti.unsubscribe, "cuptiUnsubscribe") ||
      !resolve(g_cupti.register_callbacks, "cuptiActivityRegisterCallbacks") ||
      !resolve(g_cupti.enable, "cuptiActivityEnable") ||
      !resolve(g_cupti.next_record, "cuptiActivityGetNextRecord") ||
      !resolve(g_cupti.flush_all, "cuptiActivityFlushAll") ||
      !resolve(g_cupti.timestamp, "cuptiGetTimestamp") ||
      !resolve(g_cupti.version, "cuptiGetVersion")) {
    warn_once("cupti", "hooks: no kernel timing: this CUPTI lacks the activity API");
    return false;
  }
  // Kernel records are read with the layout of the CUPTI this was built against; an older CUPTI
  // writes an older layout.
  uint32_t version = 0;
  if (g_cupti.version(&version) != CUPTI_SUCCESS || version < CUPTI_API_VERSION) {
    warn_once("cupti", "hooks: no kernel timing: CUPTI API version %u is older than %u", version,
              unsigned(CUPTI_API_VERSION));
    return false;
  }
  // Subscribing is how CUPTI tells us whether another tool holds it: then we step back rather
  // than take the activity buffers from under it.
  CUpti_SubscriberHandle subscriber = nullptr;
  char holder[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN + 1] = {};
  CUptiResult r;
  if (g_cupti.subscribe_v2) {
    CUpti_SubscriberParams params{};
    params.structSize = CUpti_SubscriberParams_STRUCT_SIZE;
    params.subscriberName = "tensortap";
    params.oldSubscriberName = holder;
    params.oldSubscriberSize = sizeof holder - 1;
    r = g_cupti.subscribe_v2(&subscriber, ignore_callback, nullptr, &params);
  } else {
    r = g_cupti.subscribe(&subscriber, ignore_callback, nullptr);
  }
  if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
    warn_once("cupti", "hooks: no kernel timing: another profiler holds CUPTI (%s); stepping back",
              holder[0] ? holder : "unnamed");
    return false;
  }
  if (r != CUPTI_SUCCESS) {
    warn_once("cupti", "hooks: no kernel timing: CUPTI subscribe failed: %s",
              result_text(r).c_str());
    return false;
  }
  r = g_cupti.register_callbacks(buffer_requested, buffer_completed);
  if (r == CUPTI_SUCCESS) r = g_cupti.enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  if (r != CUPTI_SUCCESS) {
    g_cupti.unsubscribe(subscriber);
    warn_once("cupti", "hooks: no kernel timing: CUPTI activity collection failed: %s",
              result_text(r).c_str());
    return false;
  }
  set_step_listener(on_step);
  set_exit_listener(on_exit);
  TTAP_INFO("hooks: kernel timing on (CUPTI %u)", version);
  return true;
}

}  // namespace
}  // namespace ttap::inject

// The CUDA driver's injection entry point. Always reports success: a failure here must not change
// how the program's CUDA behaves.
extern "C" __attribute__((visibility("default"))) int InitializeInjection(void) {
  using init_fn = int (*)();
  if (!ttap::inject::hooks_active()) {
    auto primary = reinterpret_cast<init_fn>(dlsym(RTLD_DEFAULT, "InitializeInjection"));
    if (primary) return primary();
    return 1;
  }
  // Once per process, however many times the driver or a second copy calls it.
  if (!ttap::inject::g_started.exchange(true)) ttap::inject::start_kernel_timing();
  return 1;
}
