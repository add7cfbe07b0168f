// The emulated device: the SIMT emulator's streams, events and memory behind the device interface.
// "Device" memory is host memory, so copies in both directions are plain memcpys on the stream.
// Device time is modeled (emulated_device_model) and reported through timing events.
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "kernels/simt/stream.h"
#include "runtime/backends/device.h"
#include "runtime/backends/error_buffer.h"

namespace ttap {
namespace {

thread_local device_error_buffer t_last_error;

simt::stream *as_stream(stream_handle s) { return static_cast<simt::stream *>(s); }
simt::stream &stream_ref(stream_handle s) { return s ? *as_stream(s) : simt::default_stream(); }

device_status from_simt(const simt::status &st) {
  if (st.ok()) return device_status::ok;
  if (st.code() == simt::errc::not_ready) return device_status::not_ready;
  t_last_error.set(st.to_string());
  return device_status::error;
}

// Modeled device time per stream: each launch advances its stream's clock when it has run,
// and a timing event takes the clock's value at its place in the stream. Shared with the stream
// callbacks, which may run after the device object is gone.
struct modeled_clock {
  emulated_device_model model;
  std::mutex mutex;
  std::unordered_map<const void *, double> seconds;  // by stream (null: the default stream)
};

// An event handle: the emulator's event, plus the modeled time of its latest record when it is a
// timing event.
struct emulated_event {
  simt::event marker;
  std::shared_ptr<std::atomic<double>> modeled_at;  // null for a plain event
};

emulated_event *as_event(event_handle e) { return static_cast<emulated_event *>(e); }

// A launch's params struct, kept for the modeled clock's callback that runs after the kernel.
struct params_copy {
  alignas(16) unsigned char bytes[256];
};

class emulated_device final : public device {
 public:
  explicit emulated_device(const emulated_device_model &model)
      : m_clock(std::make_shared<modeled_clock>()) {
    m_clock->model = model;
  }

  const char *name() const override { return "emulated"; }
  std::string description() const override { return "SIMT emulator on the host CPU"; }
  // The emulator runs one block per worker thread at a time; a few blocks per worker keep them busy
  // while others wait at barriers.
  int multiprocessors() const override { return 8; }
  // Two blocks per worker keep one busy while the other waits at a barrier, whatever the kernel.
  int blocks_per_multiprocessor(const kernel_family &) override { return 2; }

  device_status alloc(void **ptr, size_t bytes) override {
    *ptr = simt::device_malloc(bytes);
    if (!*ptr && bytes) {
      t_last_error.set("out of memory allocating " + std::to_string(bytes) + " bytes");
      return device_status::error;
    }
    return device_status::ok;
  }
  void free(void *ptr) override { simt::device_free(ptr); }
  device_status alloc_pinned(void **ptr, size_t bytes) override { return alloc(ptr, bytes); }
  void free_pinned(void *ptr) override { simt::device_free(ptr); }

  device_status copy_to_device(void *dst, const void *src, size_t bytes, stream_handle s) override {
    stream_ref(s).memcpy_async(dst, src, bytes);
    return device_status::ok;
  }
  device_status copy_to_host(void *dst, const void *src, size_t bytes, stream_handle s) override {
    stream_ref(s).memcpy_async(dst, src, bytes);
    return device_status::ok;
  }
  device_status memset(void *dst, int value, size_t bytes, stream_handle s) override {
    stream_ref(s).memset_async(dst, value, bytes);
    return device_status::ok;
  }
  device_status launch(const kernel_family &kernel, const void *params, int grid,
                       stream_handle s) override {
    if (!kernel.emulated_launch) {
      t_last_error.set(std::string(kernel.name) + ": no emulated launch");
      return device_status::error;
    }
    if (kernel.params_bytes > sizeof(params_copy::bytes)) {
      t_last_error.set(std::string(kernel.name) + ": params struct larger than the emulated " +
                       "device keeps (" + std::to_string(sizeof(params_copy::bytes)) + " bytes)");
      return device_status::error;
    }
    params_copy copy;
    std::memcpy(copy.bytes, params, kernel.params_bytes);
    kernel.emulated_launch(params, grid, s);
    // After the kernel, in stream order, so the tables the params point to are in place.
    stream_ref(s).host_func_async([clock = m_clock, bytes_read = kernel.bytes_read, copy, s] {
      const double bytes = bytes_read ? bytes_read(copy.bytes) : 0;
      std::lock_guard<std::mutex> lock(clock->mutex);
      clock->seconds[s] += clock->model.launch_seconds + bytes / (clock->model.gbps * 1e9);
    });
    return from_simt(stream_ref(s).error());
  }

  device_status use_on_this_thread() override { return device_status::ok; }
  device_status create_stream(stream_handle *stream) override {
    *stream = new simt::stream();
    return device_status::ok;
  }
  void destroy_stream(stream_handle stream) override { delete as_stream(stream); }

  device_status create_event(event_handle *event) override {
    *event = new emulated_event();
    return device_status::ok;
  }
  device_status create_timing_event(event_handle *event) override {
    auto *e = new emulated_event();
    e->modeled_at = std::make_shared<std::atomic<double>>(0.0);
    *event = e;
    return device_status::ok;
  }
  void destroy_event(event_handle event) override { delete as_event(event); }
  device_status record_event(event_handle event, stream_handle s) override {
    emulated_event *e = as_event(event);
    if (e->modeled_at) {
      stream_ref(s).host_func_async([clock = m_clock, at = e->modeled_at, s] {
        std::lock_guard<std::mutex> lock(clock->mutex);
        at->store(clock->seconds[s]);
      });
    }
    e->marker.record(as_stream(s));
    return device_status::ok;
  }
  device_status query_event(event_handle event) override {
    return from_simt(as_event(event)->marker.query());
  }
  device_status elapsed_seconds(event_handle start, event_handle end, double *seconds) override {
    emulated_event *a = as_event(start), *b = as_event(end);
    if (!a->modeled_at || !b->modeled_at) {
      t_last_error.set("elapsed_seconds: not a timing event");
      return device_status::error;
    }
    for (emulated_event *e : {a, b}) {
      device_status st = from_simt(e->marker.query());
      if (st != device_status::ok) return st;
    }
    *seconds = b->modeled_at->load() - a->modeled_at->load();
    return device_status::ok;
  }
  device_status synchronize(stream_handle s) override {
    return from_simt(stream_ref(s).synchronize());
  }
  bool is_device_pointer(const void *) const override { return true; }
  std::string last_error() const override { return t_last_error.get(); }

 private:
  std::shared_ptr<modeled_clock> m_clock;
};

}  // namespace

std::unique_ptr<device> make_emulated_device(const emulated_device_model &model) {
  return std::make_unique<emulated_device>(model);
}

}  // namespace ttap
