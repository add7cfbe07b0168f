// The watched tensors as a sample reads them: a snapshot (ids in sample order, host views, device
// descriptors, the layout hash the ranks of a group compare), rebuilt on watch, unwatch, set_role
// and a rebind that changes placement, and replaced by one pointer swap; a posted sample shares the
// snapshot it was taken from, so the collector reads its ids while the next list is being built.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_executor.h"
#include "runtime/record.h"
#include "runtime/sample_ring.h"

namespace ttap {

// One watched tensor as the session's registry describes it, in watch order.
struct watch_entry {
  int32_t id = -1;
  const std::string *name = nullptr;
  dtype type = dtype::f32;
  uint64_t numel = 0;
  tensor_role role = tensor_role::contribution;
  const void *data = nullptr;
  bool on_device = false;  // summarized by the device backend, else by the cpu executor
};

class watch_list {
 public:
  // The list of `entries` (watch order = sample order). In a group, replicated tensors are
  // fingerprinted (the ranks compare them); elsewhere fingerprints would cost time for nothing.
  static std::shared_ptr<watch_list> build(std::span<const watch_entry> entries, bool in_group);
  // The same, in place, keeping the capacity: only for a list no other thread holds.
  void refill(std::span<const watch_entry> entries, bool in_group);

  bool empty() const { return m_ids.empty(); }
  size_t size() const { return m_ids.size(); }
  std::span<const int32_t> ids() const { return m_ids; }
  std::span<const tensor_role> roles() const { return m_roles; }

  // Host tensors for the cpu executor, with each one's index in the sample.
  std::span<const tensor_view> host_views() const { return m_host_views; }
  std::span<const uint32_t> host_index() const { return m_host_index; }
  // Device tensors for the fused kernel (one launch), with their ids and indices in the sample.
  std::span<const device_tensor> device_tensors() const { return m_device_tensors; }
  std::span<const int32_t> device_ids() const { return m_device_ids; }
  std::span<const uint32_t> device_index() const { return m_device_index; }

  // FNV-1a over what the ranks of a group must agree on: names, dtypes, sizes and roles, in order.
  uint64_t layout_hash() const { return m_layout_hash; }

  // Where the tensor at `index` in the sample sits in the host or device list.
  size_t list_position(size_t index) const { return m_list_position[index]; }

  // The one part that changes in place: a tensor's address, when a rebind moves it without
  // changing its placement (gradients reallocated at every step by zero_grad(set_to_none=True)).
  // Rebuilding the list for each rebind made such a step quadratic in the number of tensors. Only
  // the session's own (serialized) calls patch addresses, between samples; what other threads read
  // of a shared list (ids, indices, roles, hash) never changes.
  void move_host_tensor(size_t position, const void *data) { m_host_views[position].data = data; }
  void move_device_tensor(size_t position, const void *data) {
    m_device_tensors[position].data = data;
  }

 private:
  std::vector<int32_t> m_ids;
  std::vector<tensor_role> m_roles;
  std::vector<size_t> m_list_position;
  std::vector<tensor_view> m_host_views;
  std::vector<uint32_t> m_host_index;
  std::vector<device_tensor> m_device_tensors;
  std::vector<int32_t> m_device_ids;
  std::vector<uint32_t> m_device_index;
  uint64_t m_layout_hash = 0;
};

}  // namespace ttap
