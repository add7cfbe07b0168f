// The cuda device: the CUDA runtime behind the device interface. Every call is checked, its message
// recorded for last_error() and the sticky error cleared, so one failure never poisons later calls.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>

#include "runtime/backends/device.h"
#include "runtime/backends/error_buffer.h"

namespace ttap {
namespace {

thread_local device_error_buffer t_last_error;

// Checks a CUDA runtime call: on failure records "call: message", clears the error and returns
// device_status::error from the enclosing function.
#define TTAP_CUDA_CHECK(call)                                                      \
  do {                                                                             \
    cudaError_t ttap_err_ = (call);                                                \
    if (ttap_err_ != cudaSuccess) {                                                \
      t_last_error.set(std::string(#call) + ": " + cudaGetErrorString(ttap_err_)); \
      cudaGetLastError();                                                          \
      return device_status::error;                                                 \
    }                                                                              \
  } while (0)

cudaStream_t as_stream(stream_handle s) { return static_cast<cudaStream_t>(s); }

class cuda_device final : public device {
 public:
  // `ordinal` is the calling thread's current device.
  cuda_device(int ordinal, const cudaDeviceProp &prop) : m_ordinal(ordinal), m_prop(prop) {}

  const char *name() const override { return "cuda"; }
  std::string description() const override {
    return std::string(m_prop.name) + " (sm_" + std::to_string(m_prop.major) +
           std::to_string(m_prop.minor) + ", device " + std::to_string(m_ordinal) + ")";
  }
  int multiprocessors() const override { return m_prop.multiProcessorCount; }
  int blocks_per_multiprocessor(const kernel_family &kernel) override {
    if (!kernel.cuda_blocks_per_multiprocessor) return 1;
    return std::max(kernel.cuda_blocks_per_multiprocessor(), 1);
  }

  device_status alloc(void **ptr, size_t bytes) override {
    TTAP_CUDA_CHECK(cudaMalloc(ptr, bytes));
    return device_status::ok;
  }
  void free(void *ptr) override { cudaFree(ptr); }
  device_status alloc_pinned(void **ptr, size_t bytes) override {
    TTAP_CUDA_CHECK(cudaMallocHost(ptr, bytes));
    return device_status::ok;
  }
  void free_pinned(void *ptr) override { cudaFreeHost(ptr); }

  device_status copy_to_device(void *dst, const void *src, size_t bytes, stream_handle s) override {
    TTAP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, as_stream(s)));
    return device_status::ok;
  }
  device_status copy_to_host(void *dst, const void *src, size_t bytes, stream_handle s) override {
    TTAP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, as_stream(s)));
    return device_status::ok;
  }
  device_status memset(void *dst, int value, size_t bytes, stream_handle s) override {
    TTAP_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, as_stream(s)));
    return device_status::ok;
  }
  device_status launch(const kernel_family &kernel, const void *params, int grid,
                       stream_handle s) override {
    if (!kernel.cuda_launch) {
      t_last_error.set(std::string(kernel.name) + ": no cuda launch in this build");
      return device_status::error;
    }
    TTAP_CUDA_CHECK(cudaError_t(kernel.cuda_launch(params, grid, s)));
    return device_status::ok;
  }

  device_status use_on_this_thread() override {
    TTAP_CUDA_CHECK(cudaSetDevice(m_ordinal));
    return device_status::ok;
  }
  device_status create_stream(stream_handle *stream) override {
    cudaStream_t s = nullptr;
    // Non-blocking: it must not synchronize with the legacy default stream the trainer may use.
    TTAP_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *stream = s;
    return device_status::ok;
  }
  void destroy_stream(stream_handle stream) override { cudaStreamDestroy(as_stream(stream)); }

  device_status create_event(event_handle *event) override {
    cudaEvent_t e = nullptr;
    TTAP_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    *event = e;
    return device_status::ok;
  }
  device_status create_timing_event(event_handle *event) override {
    cudaEvent_t e = nullptr;
    TTAP_CUDA_CHECK(cudaEventCreate(&e));
    *event = e;
    return device_status::ok;
  }
  void destroy_event(event_handle event) override {
    cudaEventDestroy(static_cast<cudaEvent_t>(event));
  }
  device_status record_event(event_handle event, stream_handle s) override {
    TTAP_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), as_stream(s)));
    return device_status::ok;
  }
  device_status query_event(event_handle event) override {
    cudaError_t err = cudaEventQuery(static_cast<cudaEvent_t>(event));
    if (err == cudaErrorNotReady) return device_status::not_ready;
    TTAP_CUDA_CHECK(err);
    return device_status::ok;
  }
  device_status elapsed_seconds(event_handle start, event_handle end, double *seconds) override {
    float ms = 0;
    cudaError_t err =
        cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end));
    if (err == cudaErrorNotReady) return device_status::not_ready;
    TTAP_CUDA_CHECK(err);
    *seconds = double(ms) * 1e-3;
    return device_status::ok;
  }
  device_status synchronize(stream_handle s) override {
    TTAP_CUDA_CHECK(cudaStreamSynchronize(as_stream(s)));
    return device_status::ok;
  }
  bool is_device_pointer(const void *ptr) const override {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
      cudaGetLastError();  // an unregistered host pointer is not an error worth keeping
      return false;
    }
    return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
  }
  std::string last_error() const override { return t_last_error.get(); }

 private:
  int m_ordinal;
  cudaDeviceProp m_prop;
};

}  // namespace

std::unique_ptr<device> make_cuda_device(std::string *why_not) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why_not) *why_not = std::string("no CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();
    return nullptr;
  }
  if (count == 0) {
    if (why_not) *why_not = "no CUDA device: the driver reports none";
    return nullptr;
  }
  int ordinal = 0;
  cudaGetDevice(&ordinal);
  cudaDeviceProp prop{};
  err = cudaGetDeviceProperties(&prop, ordinal);
  if (err != cudaSuccess) {
    if (why_not) *why_not = std::string("no CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();
    return nullptr;
  }
  if (prop.major < 8) {
    if (why_not) {
      *why_not = std::string("no supported CUDA device: ") + prop.name + " is sm_" +
                 std::to_string(prop.major) + std::to_string(prop.minor) +
                 ", tensortap needs sm_80 or newer";
    }
    return nullptr;
  }
  return std::make_unique<cuda_device>(ordinal, prop);
}

cuda_inventory query_cuda_inventory() {
  cuda_inventory inventory;
  cudaRuntimeGetVersion(&inventory.runtime_version);
  cudaDriverGetVersion(&inventory.driver_version);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    inventory.error = cudaGetErrorString(err);
    cudaGetLastError();
    return inventory;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
      inventory.error = cudaGetErrorString(cudaGetLastError());
      continue;
    }
    cuda_inventory::gpu g;
    g.ordinal = d;
    g.name = prop.name;
    g.major = prop.major;
    g.minor = prop.minor;
    g.memory_bytes = prop.totalGlobalMem;
    g.multiprocessors = prop.multiProcessorCount;
    int clock_khz = 0, bus_bits = 0;
    if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, d) == cudaSuccess &&
        cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, d) == cudaSuccess) {
      g.peak_bytes_per_second = 2.0 * clock_khz * 1e3 * bus_bits / 8;
    }
    cudaGetLastError();
    inventory.gpus.push_back(g);
  }
  return inventory;
}

}  // namespace ttap
