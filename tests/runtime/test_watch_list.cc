// The watch list on its own: the split by executor with each tensor's index in the sample, the
// fingerprint flag (replicated tensors in a group only), what the layout hash covers, the in-place
// address patch and refill.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/watch_list.h"

namespace ttap {
namespace {

struct fixture {
  std::string names[4] = {"w", "w.grad", "emb", "emb.grad"};
  float data[4][8] = {};
  std::vector<watch_entry> entries() {
    return {{0, &names[0], dtype::f32, 8, tensor_role::replicated, data[0], false},
            {1, &names[1], dtype::f32, 8, tensor_role::contribution, data[1], true},
            {2, &names[2], dtype::bf16, 8, tensor_role::sharded, data[2], false},
            {5, &names[3], dtype::bf16, 8, tensor_role::contribution, data[3], true}};
  }
};

TEST(WatchList, SplitsByExecutorKeepingEachTensorsPlaceInTheSample) {
  fixture f;
  const auto entries = f.entries();
  const auto list = watch_list::build(entries, false);
  EXPECT_EQ(list->size(), 4u);
  EXPECT_EQ(std::vector<int32_t>(list->ids().begin(), list->ids().end()),
            (std::vector<int32_t>{0, 1, 2, 5}));
  ASSERT_EQ(list->host_views().size(), 2u);
  EXPECT_EQ(list->host_views()[0].data, f.data[0]);
  EXPECT_EQ(list->host_views()[1].type, dtype::bf16);
  EXPECT_EQ(std::vector<uint32_t>(list->host_index().begin(), list->host_index().end()),
            (std::vector<uint32_t>{0, 2}));
  ASSERT_EQ(list->device_tensors().size(), 2u);
  EXPECT_EQ(std::vector<int32_t>(list->device_ids().begin(), list->device_ids().end()),
            (std::vector<int32_t>{1, 5}));
  EXPECT_EQ(std::vector<uint32_t>(list->device_index().begin(), list->device_index().end()),
            (std::vector<uint32_t>{1, 3}));
  // Each tensor's position in its own list.
  EXPECT_EQ(list->list_position(0), 0u);
  EXPECT_EQ(list->list_position(1), 0u);
  EXPECT_EQ(list->list_position(2), 1u);
  EXPECT_EQ(list->list_position(3), 1u);
}

TEST(WatchList, FingerprintsReplicatedTensorsInAGroupOnly) {
  fixture f;
  const auto entries = f.entries();
  const auto alone = watch_list::build(entries, false);
  for (const auto &v : alone->host_views()) EXPECT_FALSE(v.fingerprint);
  for (const auto &d : alone->device_tensors()) EXPECT_FALSE(d.fingerprint);
  const auto grouped = watch_list::build(entries, true);
  EXPECT_TRUE(grouped->host_views()[0].fingerprint);   // "w": replicated
  EXPECT_FALSE(grouped->host_views()[1].fingerprint);  // "emb": sharded
  for (const auto &d : grouped->device_tensors()) EXPECT_FALSE(d.fingerprint);
}

TEST(WatchList, LayoutHashCoversNamesDtypesSizesAndRolesNotAddresses) {
  fixture f;
  auto entries = f.entries();
  const uint64_t base = watch_list::build(entries, false)->layout_hash();
  EXPECT_NE(base, watch_list::build({}, false)->layout_hash());

  auto moved = entries;
  moved[0].data = f.data[3];
  moved[1].on_device = false;
  EXPECT_EQ(watch_list::build(moved, false)->layout_hash(), base);

  auto renamed = entries;
  std::string other = "w2";
  renamed[0].name = &other;
  EXPECT_NE(watch_list::build(renamed, false)->layout_hash(), base);
  auto retyped = entries;
  retyped[2].type = dtype::f16;
  EXPECT_NE(watch_list::build(retyped, false)->layout_hash(), base);
  auto resized = entries;
  resized[3].numel = 7;
  EXPECT_NE(watch_list::build(resized, false)->layout_hash(), base);
  auto reroled = entries;
  reroled[1].role = tensor_role::replicated;
  EXPECT_NE(watch_list::build(reroled, false)->layout_hash(), base);
  auto reordered = entries;
  std::swap(reordered[0], reordered[2]);
  EXPECT_NE(watch_list::build(reordered, false)->layout_hash(), base);
}

// The hash is FNV-1a over each tensor's name (with its terminating zero), dtype, role and element
// count, as ranks of earlier versions compute it.
TEST(WatchList, LayoutHashIsFnv1aOfTheFieldsInOrder) {
  fixture f;
  const auto entries = f.entries();
  uint64_t expected = 0xcbf29ce484222325ull;
  auto mix = [&](const void *data, size_t bytes) {
    for (size_t i = 0; i < bytes; ++i) {
      expected ^= static_cast<const unsigned char *>(data)[i];
      expected *= 0x100000001b3ull;
    }
  };
  for (const watch_entry &e : entries) {
    const uint8_t fields[2] = {uint8_t(e.type), uint8_t(e.role)};
    mix(e.name->c_str(), e.name->size() + 1);
    mix(fields, 2);
    mix(&e.numel, sizeof e.numel);
  }
  EXPECT_EQ(watch_list::build(entries, true)->layout_hash(), expected);
}

TEST(WatchList, AddressPatchAndRefill) {
  fixture f;
  const auto entries = f.entries();
  const auto list = watch_list::build(entries, false);
  const uint64_t hash = list->layout_hash();
  list->move_host_tensor(list->list_position(2), f.data[0]);
  list->move_device_tensor(list->list_position(3), f.data[1]);
  EXPECT_EQ(list->host_views()[1].data, f.data[0]);
  EXPECT_EQ(list->device_tensors()[1].data, f.data[1]);
  EXPECT_EQ(list->layout_hash(), hash);
  // Refilled in place: the same as a fresh build of the new entries.
  list->refill({&entries[1], 1}, false);
  const auto fresh = watch_list::build({&entries[1], 1}, false);
  EXPECT_EQ(list->size(), 1u);
  EXPECT_TRUE(list->host_views().empty());
  EXPECT_EQ(list->device_ids()[0], 1);
  EXPECT_EQ(list->layout_hash(), fresh->layout_hash());
}

}  // namespace
}  // namespace ttap
