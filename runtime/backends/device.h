// The device abstraction the sample ring and the runtime use: memory, asynchronous copies, events
// and kernel launches, on a real GPU (cuda) or on the SIMT emulator (emulated). It knows no kernel:
// each kernel family brings its launch on every backend (kernels/kernel_family.h). Plain C++: no
// CUDA header leaks past this file.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "kernels/kernel_family.h"

namespace ttap {

enum class device_status {
  ok = 0,
  not_ready,  // an event that has not completed yet (not an error)
  no_device,  // no usable device (no GPU, driver too old, ...)
  error,      // a failed call; last_error() says which and why
};

// A stream is the backend's own handle (cudaStream_t, or the emulator's stream); null is the
// default stream. An event is created by the device and polled without blocking.
using stream_handle = void *;
using event_handle = void *;

class device {
 public:
  virtual ~device() = default;

  virtual const char *name() const = 0;         // "cuda" or "emulated"
  virtual std::string description() const = 0;  // model and architecture, for banners
  virtual int multiprocessors() const = 0;      // sizes the persistent grid
  // Blocks of `kernel` resident at once on one multiprocessor (>= 1): a persistent grid is
  // multiprocessors() times this. May block (an occupancy query); ask once, on a thread this device
  // is current on (the one that made it, or after use_on_this_thread()).
  virtual int blocks_per_multiprocessor(const kernel_family &kernel) = 0;

  // Device memory and pinned host memory. Allocation may block (it is done once, or when a
  // workspace grows), nothing below does.
  virtual device_status alloc(void **ptr, size_t bytes) = 0;
  virtual void free(void *ptr) = 0;
  virtual device_status alloc_pinned(void **ptr, size_t bytes) = 0;
  virtual void free_pinned(void *ptr) = 0;

  // Asynchronous, ordered on `stream`; return at once.
  virtual device_status copy_to_device(void *dst, const void *src, size_t bytes,
                                       stream_handle stream) = 0;
  virtual device_status copy_to_host(void *dst, const void *src, size_t bytes,
                                     stream_handle stream) = 0;
  virtual device_status memset(void *dst, int value, size_t bytes, stream_handle stream) = 0;
  // Enqueues `kernel` on `grid` blocks with `params` (its params struct, copied before this
  // returns). An error when the family has no launch for this backend.
  virtual device_status launch(const kernel_family &kernel, const void *params, int grid,
                               stream_handle stream) = 0;

  // Makes this device current on the calling thread (CUDA's current device is per thread): a
  // thread other than the trainer's that allocates or creates streams calls it first.
  virtual device_status use_on_this_thread() = 0;

  // A stream of the backend's own, for work that must not queue behind the trainer's (the group
  // collectives of a GPU job). Creating one may block; it is done once per session.
  virtual device_status create_stream(stream_handle *stream) = 0;
  virtual void destroy_stream(stream_handle stream) = 0;

  virtual device_status create_event(event_handle *event) = 0;
  // An event that also records when the device reached it (cudaEventCreate with timing): for
  // measuring tensortap's own device time. Recorded, queried and destroyed like any event.
  virtual device_status create_timing_event(event_handle *event) = 0;
  virtual void destroy_event(event_handle event) = 0;
  virtual device_status record_event(event_handle event, stream_handle stream) = 0;
  // ok when every operation before the record has finished, not_ready before, error when one
  // failed.
  virtual device_status query_event(event_handle event) = 0;
  // Device seconds between two completed timing events recorded on one stream
  // (cudaEventElapsedTime). Never blocks: not_ready while either has not completed.
  virtual device_status elapsed_seconds(event_handle start, event_handle end, double *seconds) = 0;
  // Blocks until `stream` is idle: for tests and shutdown only, never on the sampling path.
  virtual device_status synchronize(stream_handle stream) = 0;

  // Whether the device can read `ptr` as its memory (a cudaMalloc'd or managed pointer on a GPU;
  // anything on the emulated device, whose memory is host memory). Never blocks on the device.
  virtual bool is_device_pointer(const void *ptr) const = 0;

  // The detailed message of the last failed call on this thread.
  virtual std::string last_error() const = 0;
};

// How the emulated device models the device time its timing events report: each launch costs a
// fixed launch time plus the bytes it reads (kernel_family::bytes_read) at `gbps` GB/s. The
// emulator's own speed says nothing about a GPU's, so the model stands in for it wherever device
// time is counted.
struct emulated_device_model {
  double gbps = 2000;            // modeled read bandwidth, 1e9 bytes per second
  double launch_seconds = 5e-6;  // modeled fixed cost of one launch
};

// The SIMT emulator: always available.
std::unique_ptr<device> make_emulated_device(const emulated_device_model &model = {});

// What the CUDA driver and runtime report (`ttap selftest` lists it). Never fails: without a usable
// driver, `error` holds its message and the lists are empty.
struct cuda_inventory {
  int driver_version = 0;   // cudaDriverGetVersion: 13000 = 13.0; 0 when unknown
  int runtime_version = 0;  // the CUDA runtime this tensortap was built with
  std::string error;        // why no device could be listed ("" when the query worked)
  struct gpu {
    int ordinal = 0;
    std::string name;
    int major = 0, minor = 0;  // compute capability
    size_t memory_bytes = 0;
    int multiprocessors = 0;
    double peak_bytes_per_second = 0;  // memory clock x bus width x 2 (double data rate)
  };
  std::vector<gpu> gpus;
};
cuda_inventory query_cuda_inventory();

// A real GPU, or null with the reason in *why_not (no driver, no device, driver too old, or a build
// without CUDA). Never crashes on a machine without a GPU.
std::unique_ptr<device> make_cuda_device(std::string *why_not);

}  // namespace ttap
