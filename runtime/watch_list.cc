// Building a watch list: the entries split by executor (host views for the cpu executor, device
// descriptors for the fused kernel), each with its index in the sample, and the layout hash.
#include "runtime/watch_list.h"

namespace ttap {

std::shared_ptr<watch_list> watch_list::build(std::span<const watch_entry> entries, bool in_group) {
  auto list = std::make_shared<watch_list>();
  list->refill(entries, in_group);
  return list;
}

void watch_list::refill(std::span<const watch_entry> entries, bool in_group) {
  watch_list &l = *this;
  l.m_ids.clear();
  l.m_roles.clear();
  l.m_list_position.clear();
  l.m_host_views.clear();
  l.m_host_index.clear();
  l.m_device_tensors.clear();
  l.m_device_ids.clear();
  l.m_device_index.clear();
  l.m_ids.reserve(entries.size());
  l.m_roles.reserve(entries.size());
  l.m_list_position.reserve(entries.size());
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix = [&](const void *data, size_t bytes) {
    for (size_t i = 0; i < bytes; ++i) {
      hash ^= static_cast<const unsigned char *>(data)[i];
      hash *= 0x100000001b3ull;
    }
  };
  for (const watch_entry &e : entries) {
    const uint32_t index = uint32_t(l.m_ids.size());
    l.m_ids.push_back(e.id);
    l.m_roles.push_back(e.role);
    const bool fingerprint = in_group && e.role == tensor_role::replicated;
    if (e.on_device) {
      l.m_list_position.push_back(l.m_device_tensors.size());
      l.m_device_tensors.push_back({e.data, e.type, e.numel, fingerprint});
      l.m_device_ids.push_back(e.id);
      l.m_device_index.push_back(index);
    } else {
      l.m_list_position.push_back(l.m_host_views.size());
      l.m_host_views.push_back({e.data, e.type, e.numel, fingerprint});
      l.m_host_index.push_back(index);
    }
    const uint8_t fields[2] = {uint8_t(e.type), uint8_t(e.role)};
    static const std::string unnamed;
    const std::string &name = e.name ? *e.name : unnamed;
    mix(name.c_str(), name.size() + 1);
    mix(fields, sizeof fields);
    mix(&e.numel, sizeof e.numel);
  }
  l.m_layout_hash = hash;
}

}  // namespace ttap
