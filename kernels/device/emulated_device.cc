// The emulated device: the SIMT emulator's streams, events and memory behind the device interface.
// "Device" memory is host memory, so copies in both directions are plain memcpys on the stream.
#include <string>

#include "kernels/device/device.h"
#include "kernels/device/error_buffer.h"
#include "kernels/fused_stats.h"
#include "kernels/simt/stream.h"

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

class emulated_device final : public device {
 public:
  const char *name() const override { return "emulated"; }
  std::string description() const override { return "SIMT emulator on the host CPU"; }
  // The emulator runs one block per worker thread at a time; a few blocks per worker keep them busy
  // while others wait at barriers.
  int multiprocessors() const override { return 8; }
  // Two blocks per worker keep one busy while the other waits at a barrier.
  int fused_stats_blocks_per_multiprocessor() const override { return 2; }

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
  device_status launch_fused_stats(const fused_stats_params &params, int grid,
                                   stream_handle s) override {
    emulated_backend::launch_fused_stats(params, grid, s);
    return from_simt(stream_ref(s).error());
  }

  device_status use_on_this_thread() override { return device_status::ok; }
  device_status create_stream(stream_handle *stream) override {
    *stream = new simt::stream();
    return device_status::ok;
  }
  void destroy_stream(stream_handle stream) override { delete as_stream(stream); }

  device_status create_event(event_handle *event) override {
    *event = new simt::event();
    return device_status::ok;
  }
  void destroy_event(event_handle event) override { delete static_cast<simt::event *>(event); }
  device_status record_event(event_handle event, stream_handle s) override {
    static_cast<simt::event *>(event)->record(as_stream(s));
    return device_status::ok;
  }
  device_status query_event(event_handle event) override {
    return from_simt(static_cast<simt::event *>(event)->query());
  }
  device_status synchronize(stream_handle s) override {
    return from_simt(stream_ref(s).synchronize());
  }
  bool is_device_pointer(const void *) const override { return true; }
  std::string last_error() const override { return t_last_error.get(); }
};

}  // namespace

std::unique_ptr<device> make_emulated_device() { return std::make_unique<emulated_device>(); }

}  // namespace ttap
