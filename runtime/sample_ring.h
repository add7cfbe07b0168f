// The sample ring: the slots of device samples in flight, each with its device workspace and pinned
// result slab, and the skip policy when every slot is busy. It builds the fused summary kernel's
// descriptor table and work list and turns one sample into at most one memset, one kernel launch
// and one asynchronous copy, followed by an event to poll. It never waits.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "kernels/summary.h"
#include "runtime/backends/device.h"

namespace ttap {

// A tensor in device memory (or, for the emulated device, host memory standing in for it).
struct device_tensor {
  const void *data;
  dtype type;
  uint64_t numel;
  bool fingerprint = false;
};

// Thread safety: submit() from one thread (the training thread), poll()/results()/release() from
// one other thread (the collector) or the same one. A slot belongs to exactly one side at a time:
// free slots to submit(), in-flight and ready ones to the poller; the hand-over is an atomic state.
class sample_ring {
 public:
  // Samples that may be in flight at once. Each slot owns its workspace and pinned slab, so a slot
  // is reused only after its event says the device is done with it.
  static constexpr int kDefaultSlots = 2;

  explicit sample_ring(device &dev, int slots = kDefaultSlots);
  // Blocks until the device is done with every slot (shutdown only), then frees everything.
  ~sample_ring();
  sample_ring(const sample_ring &) = delete;
  sample_ring &operator=(const sample_ring &) = delete;

  static constexpr int kSkipped = -1;  // every slot still in flight: sample skipped (counted)
  static constexpr int kFailed = -2;   // a device call failed: last_error() says which

  // Enqueues one sample of `tensors` on `stream` and returns at once with the slot that will hold
  // the results, or kSkipped / kFailed. A slot's descriptor table is uploaded only when the tensors
  // (pointers, sizes, dtypes, flags) differ from that slot's last sample; the workspace grows only
  // when a larger tensor set needs it.
  int submit(std::span<const device_tensor> tensors, stream_handle stream);

  // Non-blocking: ok once the slot's results are in host memory, not_ready before, error if the
  // device reported a failure.
  device_status poll(int slot);

  // The summaries of a slot that polled ok, in submit order. Valid until release(slot).
  std::span<const summary> results(int slot) const;

  // The device time of a slot that polled ok, in seconds: from before its uploads to the end of the
  // result copy, as the device's timing events report it (modeled on the emulated device). < 0 when
  // the device could not time it. Valid until release(slot).
  double device_seconds(int slot) const;

  // Hands the slot back for reuse.
  void release(int slot);

  uint64_t launches() const { return m_launches.load(std::memory_order_relaxed); }
  uint64_t table_uploads() const { return m_uploads.load(std::memory_order_relaxed); }
  uint64_t skipped() const { return m_skipped.load(std::memory_order_relaxed); }
  // The message of the last failure (submit or poll).
  std::string last_error() const;

 private:
  struct slot;
  bool prepare(slot &s, std::span<const device_tensor> tensors, stream_handle stream);
  bool fail(const char *what);   // records the device's message; returns false
  int failed(const char *what);  // the same, returning kFailed

  device &m_device;
  // Every block of the fused kernel the device holds at once: the persistent grid's upper bound,
  // asked once (an occupancy query may block).
  size_t m_max_grid;
  std::vector<slot *> m_slots;
  std::atomic<uint64_t> m_launches{0}, m_uploads{0}, m_skipped{0};
  mutable std::mutex m_error_mutex;  // guards m_last_error only, never held across a device call
  std::string m_last_error;
};

}  // namespace ttap
