// The sample ring's slots: workspace management and the launch sequence of one device sample (see
// the header).
#include "runtime/sample_ring.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "kernels/fused_stats.h"

namespace ttap {
namespace {

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Device workspace layout of one slot: [result slab | chunk counters] (cleared by the launch's one
// memset) | descriptor table | work items | chunk partials.
struct workspace_layout {
  size_t slab, counters, clear_bytes, descs, items, partials, total;

  workspace_layout(size_t tensors, size_t work_items) {
    slab = 0;
    counters = round_up(tensors * sizeof(summary), 16);
    clear_bytes = round_up(counters + tensors * sizeof(unsigned int), 16);
    descs = clear_bytes;
    items = round_up(descs + tensors * sizeof(tensor_desc), 16);
    partials = round_up(items + work_items * sizeof(work_item), 16);
    total = partials + work_items * sizeof(chunk_partial);
  }
};

}  // namespace

struct sample_ring::slot {
  enum state_t : int { free, in_flight, ready };
  // Written with release by the side handing the slot over, read with acquire by the other.
  std::atomic<int> state{free};
  void *device_mem = nullptr;
  size_t device_bytes = 0;
  unsigned char *pinned = nullptr;  // staging table + items, then the result slab
  size_t pinned_bytes = 0;
  // Timing events around the sample's device work (uploads, memset, launch, result copy); `done`
  // also tells when the results are in host memory.
  event_handle started = nullptr;
  event_handle done = nullptr;
  double device_seconds = -1;  // once ready: the device time between the two, < 0 if unknown
  std::vector<device_tensor> uploaded;  // what the device table holds now
  std::vector<tensor_desc> descs;
  std::vector<work_item> items;
  summary *results = nullptr;  // in pinned memory
  size_t num_tensors = 0;
};

sample_ring::sample_ring(device &dev, int slots)
    : m_device(dev),
      m_max_grid(size_t(std::max(dev.multiprocessors(), 1)) *
                 size_t(std::max(dev.blocks_per_multiprocessor(fused_stats_family), 1))) {
  for (int i = 0; i < std::max(slots, 1); ++i) m_slots.push_back(new slot);
}

sample_ring::~sample_ring() {
  for (slot *s : m_slots) {
    while (s->state.load() == slot::in_flight &&
           m_device.query_event(s->done) == device_status::not_ready) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (s->device_mem) m_device.free(s->device_mem);
    if (s->pinned) m_device.free_pinned(s->pinned);
    if (s->started) m_device.destroy_event(s->started);
    if (s->done) m_device.destroy_event(s->done);
    delete s;
  }
}

bool sample_ring::fail(const char *what) {
  std::string message = std::string(what) + ": " + m_device.last_error();
  std::lock_guard<std::mutex> lock(m_error_mutex);
  m_last_error = std::move(message);
  return false;
}

std::string sample_ring::last_error() const {
  std::lock_guard<std::mutex> lock(m_error_mutex);
  return m_last_error;
}

int sample_ring::failed(const char *what) {
  fail(what);
  return kFailed;
}

static bool same_tensors(std::span<const device_tensor> a, std::span<const device_tensor> b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].data != b[i].data || a[i].type != b[i].type || a[i].numel != b[i].numel ||
        a[i].fingerprint != b[i].fingerprint) {
      return false;
    }
  }
  return true;
}

// Sizes the slot for `tensors` and, when they changed, rebuilds and uploads the tables.
bool sample_ring::prepare(slot &s, std::span<const device_tensor> tensors, stream_handle stream) {
  bool upload = !same_tensors(tensors, s.uploaded);
  if (upload) {
    s.descs.clear();
    s.items.clear();
    uint64_t first_chunk = 0;
    for (size_t t = 0; t < tensors.size(); ++t) {
      const device_tensor &dt = tensors[t];
      tensor_desc d{};
      d.data = dt.data;
      d.numel = dt.numel;
      d.first_chunk = first_chunk;
      d.num_chunks = uint32_t((dt.numel + kFusedStatsChunkElems - 1) / kFusedStatsChunkElems);
      d.out_slot = uint32_t(t);
      d.type = uint8_t(dt.type);
      d.flags = dt.fingerprint ? kTensorFingerprint : 0;
      for (uint32_t c = 0; c < d.num_chunks; ++c) s.items.push_back({uint32_t(t), c});
      first_chunk += d.num_chunks;
      s.descs.push_back(d);
    }
  }
  workspace_layout layout(tensors.size(), s.items.size());
  size_t staging = s.descs.size() * sizeof(tensor_desc) + s.items.size() * sizeof(work_item);
  size_t pinned_needed = round_up(staging, 16) + tensors.size() * sizeof(summary);
  // Grow only: a slot keeps the largest workspace it has needed.
  if (layout.total > s.device_bytes) {
    if (s.device_mem) m_device.free(s.device_mem);
    s.device_mem = nullptr;
    s.device_bytes = 0;
    if (m_device.alloc(&s.device_mem, layout.total) != device_status::ok)
      return fail("alloc workspace");
    s.device_bytes = layout.total;
    upload = true;  // a new allocation holds no table
  }
  if (pinned_needed > s.pinned_bytes) {
    if (s.pinned) m_device.free_pinned(s.pinned);
    s.pinned = nullptr;
    s.pinned_bytes = 0;
    if (m_device.alloc_pinned(reinterpret_cast<void **>(&s.pinned), pinned_needed) !=
        device_status::ok) {
      return fail("alloc pinned slab");
    }
    s.pinned_bytes = pinned_needed;
  }
  s.num_tensors = tensors.size();
  s.results = reinterpret_cast<summary *>(s.pinned + round_up(staging, 16));
  if (upload) {
    auto *base = static_cast<unsigned char *>(s.device_mem);
    std::memcpy(s.pinned, s.descs.data(), s.descs.size() * sizeof(tensor_desc));
    std::memcpy(s.pinned + s.descs.size() * sizeof(tensor_desc), s.items.data(),
                s.items.size() * sizeof(work_item));
    if (!s.descs.empty() &&
        m_device.copy_to_device(base + layout.descs, s.pinned, s.descs.size() * sizeof(tensor_desc),
                                stream) != device_status::ok) {
      return fail("upload descriptor table");
    }
    if (!s.items.empty() &&
        m_device.copy_to_device(base + layout.items,
                                s.pinned + s.descs.size() * sizeof(tensor_desc),
                                s.items.size() * sizeof(work_item), stream) != device_status::ok) {
      return fail("upload work items");
    }
    s.uploaded.assign(tensors.begin(), tensors.end());
    ++m_uploads;
  }
  return true;
}

int sample_ring::submit(std::span<const device_tensor> tensors, stream_handle stream) {
  slot *chosen = nullptr;
  int index = -1;
  for (size_t i = 0; i < m_slots.size(); ++i) {
    if (m_slots[i]->state.load(std::memory_order_acquire) == slot::free) {
      chosen = m_slots[i];
      index = int(i);
      break;
    }
  }
  if (!chosen) {
    ++m_skipped;
    return kSkipped;
  }
  slot &s = *chosen;
  if (!s.started && m_device.create_timing_event(&s.started) != device_status::ok)
    return failed("create_timing_event");
  if (!s.done && m_device.create_timing_event(&s.done) != device_status::ok)
    return failed("create_timing_event");
  if (m_device.record_event(s.started, stream) != device_status::ok) return failed("record event");
  if (!prepare(s, tensors, stream)) return kFailed;

  workspace_layout layout(tensors.size(), s.items.size());
  auto *base = static_cast<unsigned char *>(s.device_mem);
  if (!tensors.empty() &&
      m_device.memset(base, 0, layout.clear_bytes, stream) != device_status::ok) {
    return failed("memset result slab");
  }
  if (!s.items.empty()) {
    fused_stats_params p{};
    p.tensors = reinterpret_cast<const tensor_desc *>(base + layout.descs);
    p.items = reinterpret_cast<const work_item *>(base + layout.items);
    p.partials = reinterpret_cast<chunk_partial *>(base + layout.partials);
    p.chunks_done = reinterpret_cast<unsigned int *>(base + layout.counters);
    p.out = reinterpret_cast<summary *>(base + layout.slab);
    p.num_tensors = uint32_t(tensors.size());
    p.num_items = uint32_t(s.items.size());
    p.chunk_elems = kFusedStatsChunkElems;
    // The persistent grid: every block the device holds at once, no more than there is work.
    int grid = int(std::min(s.items.size(), m_max_grid));
    if (m_device.launch(fused_stats_family, &p, grid, stream) != device_status::ok)
      return failed("launch");
    ++m_launches;
  }
  if (!tensors.empty() &&
      m_device.copy_to_host(s.results, base + layout.slab, tensors.size() * sizeof(summary),
                            stream) != device_status::ok) {
    return failed("copy result slab");
  }
  if (m_device.record_event(s.done, stream) != device_status::ok) return failed("record event");
  s.state.store(slot::in_flight, std::memory_order_release);
  return index;
}

device_status sample_ring::poll(int index) {
  slot &s = *m_slots.at(size_t(index));
  int state = s.state.load(std::memory_order_acquire);
  if (state == slot::ready) return device_status::ok;
  if (state == slot::free) return device_status::error;
  device_status st = m_device.query_event(s.done);
  if (st == device_status::ok) {
    double seconds = -1;
    s.device_seconds =
        m_device.elapsed_seconds(s.started, s.done, &seconds) == device_status::ok ? seconds : -1;
    // Empty tensors get no work item; their slot holds the memset's zeros, not an empty summary.
    for (size_t t = 0; t < s.num_tensors; ++t) {
      if (s.uploaded[t].numel == 0) summary_clear(s.results[t]);
    }
    s.state.store(slot::ready, std::memory_order_release);
  } else if (st == device_status::error) {
    fail("sample");
    s.state.store(slot::free, std::memory_order_release);
  }
  return st;
}

std::span<const summary> sample_ring::results(int index) const {
  const slot &s = *m_slots.at(size_t(index));
  if (s.state.load(std::memory_order_acquire) != slot::ready) return {};
  return {s.results, s.num_tensors};
}

double sample_ring::device_seconds(int index) const {
  const slot &s = *m_slots.at(size_t(index));
  if (s.state.load(std::memory_order_acquire) != slot::ready) return -1;
  return s.device_seconds;
}

void sample_ring::release(int index) {
  m_slots.at(size_t(index))->state.store(slot::free, std::memory_order_release);
}

}  // namespace ttap
