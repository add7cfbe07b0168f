// The collector on its own, with a sink that records what it is handed: items reach the sinks in
// the order they were posted (a device sample still in flight holds back the samples after it),
// records of a sample in sample order whatever order they were posted in, ttap_flush's barrier,
// the host-record buffers handed back to the training thread, and the bounded queue.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/backends/device.h"
#include "runtime/collector.h"
#include "runtime/sample_ring.h"

namespace ttap {
namespace {

// Everything handed to it, as one line per call, under a lock (read on the test's thread).
class recording_sink final : public sink {
 public:
  struct shared {
    std::mutex mutex;
    std::vector<std::string> log;
    int flushes = 0;
  };
  explicit recording_sink(std::shared_ptr<shared> state) : m_state(std::move(state)) {}
  const char *name() const override { return "recording"; }
  void on_tensor(const tensor_info &t) override { add("tensor " + t.name); }
  void on_records(std::span<const sample_record> records, const group_sample *) override {
    std::string line = "records";
    for (const sample_record &r : records) {
      char field[64];
      std::snprintf(field, sizeof field, " %lld:%d:%llu", (long long)r.step, int(r.tensor_id),
                    (unsigned long long)r.stats.count);
      line += field;
    }
    add(line);
  }
  void on_scalar(const scalar_record &s) override { add("scalar " + s.name); }
  void flush(const run_counters &, bool now) override {
    std::lock_guard<std::mutex> lock(m_state->mutex);
    if (now) ++m_state->flushes;
  }

 private:
  void add(std::string line) {
    std::lock_guard<std::mutex> lock(m_state->mutex);
    m_state->log.push_back(std::move(line));
  }
  std::shared_ptr<shared> m_state;
};

session_config test_config() {
  session_config c;
  c.flush_ms = 100000;  // only explicit flushes (alerts are not logged by the recording sink)
  return c;
}

tensor_info tensor_named(int32_t id, const std::string &name) {
  tensor_info t;
  t.id = id;
  t.name = name;
  return t;
}

// A host-only sample of `ids` at `step`, posted with its records in `order` (indices in sample
// order); each record's count says which tensor it summarized.
posted_sample host_sample(int64_t step, const std::vector<int32_t> &ids,
                          const std::vector<uint32_t> &order) {
  posted_sample s;
  s.step = step;
  s.sample_size = uint32_t(ids.size());
  for (uint32_t index : order) {
    sample_record r;
    r.step = step;
    r.tensor_id = ids[index];
    r.index_in_sample = index;
    r.sample_size = s.sample_size;
    r.stats.count = uint64_t(100 + ids[index]);
    s.host.push_back(r);
  }
  return s;
}

struct collector_fixture {
  std::shared_ptr<recording_sink::shared> state = std::make_shared<recording_sink::shared>();
  pipeline_counters counters;
  std::unique_ptr<collector> c;

  explicit collector_fixture(sample_ring *ring = nullptr) {
    c = std::make_unique<collector>(test_config(), std::make_unique<recording_sink>(state), ring,
                                    &counters);
  }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(state->mutex);
    return state->log;
  }
};

TEST(Collector, HandsItemsToTheSinksInPostOrderAndRecordsInSampleOrder) {
  collector_fixture f;
  ASSERT_TRUE(f.c->post_tensor(tensor_named(0, "a")));
  ASSERT_TRUE(f.c->post_tensor(tensor_named(1, "b")));
  ASSERT_TRUE(f.c->post_tensor(tensor_named(2, "c")));
  ASSERT_TRUE(f.c->post_sample(host_sample(0, {0, 1, 2}, {0, 1, 2})));
  scalar_record loss;
  loss.name = "loss";
  ASSERT_TRUE(f.c->post_scalar(loss));
  // Posted out of order (as a sample split between executors would be): reassembled.
  ASSERT_TRUE(f.c->post_sample(host_sample(1, {0, 1, 2}, {2, 0, 1})));
  std::string error;
  ASSERT_TRUE(f.c->flush(&error)) << error;
  const std::vector<std::string> expected = {"tensor a",    "tensor b",
                                             "tensor c",    "records 0:0:100 0:1:101 0:2:102",
                                             "scalar loss", "records 1:0:100 1:1:101 1:2:102"};
  EXPECT_EQ(f.log(), expected);
  EXPECT_TRUE(f.c->close(&error));
}

TEST(Collector, FlushReturnsOnlyAfterEverythingPostedBeforeItReachedTheSinks) {
  collector_fixture f;
  ASSERT_TRUE(f.c->post_tensor(tensor_named(0, "a")));
  std::string error;
  for (int64_t step = 0; step < 50; ++step) {
    ASSERT_TRUE(f.c->post_sample(host_sample(step, {0}, {0})));
    ASSERT_TRUE(f.c->flush(&error)) << error;
    const auto log = f.log();
    ASSERT_EQ(log.size(), size_t(step) + 2);
    EXPECT_EQ(log.back(), "records " + std::to_string(step) + ":0:100");
  }
  {
    std::lock_guard<std::mutex> lock(f.state->mutex);
    EXPECT_GE(f.state->flushes, 50) << "each ttap_flush flushes the sinks at once";
  }
  EXPECT_TRUE(f.c->close(&error));
}

TEST(Collector, HandsFinishedHostBuffersBackToTheTrainingThread) {
  collector_fixture f;
  ASSERT_TRUE(f.c->post_tensor(tensor_named(0, "a")));
  ASSERT_TRUE(f.c->post_tensor(tensor_named(1, "b")));
  std::string error;
  ASSERT_TRUE(f.c->post_sample(host_sample(0, {0, 1}, {0, 1})));
  ASSERT_TRUE(f.c->flush(&error));
  std::vector<sample_record> spare;
  f.c->take_spare_records(&spare, 2);
  // The buffer of the finished sample, still sized (the next sample of two neither allocates nor
  // zeroes it).
  EXPECT_EQ(spare.size(), 2u);
  // A training thread that holds a buffer gets none.
  std::vector<sample_record> held(1);
  f.c->take_spare_records(&held, 2);
  EXPECT_EQ(held.size(), 1u);
  EXPECT_TRUE(f.c->close(&error));
}

TEST(Collector, AFullQueueDropsHostSamplesAndSaysSo) {
  collector_fixture f;
  ASSERT_TRUE(f.c->post_tensor(tensor_named(0, "a")));
  // One sample over the queue's record bound is refused outright (the caller counts the drop).
  std::vector<int32_t> ids(collector::kMaxQueuedRecords + 1, 0);
  std::vector<uint32_t> order(ids.size());
  for (uint32_t k = 0; k < order.size(); ++k) order[k] = k;
  EXPECT_FALSE(f.c->post_sample(host_sample(0, ids, order)));
  EXPECT_FALSE(f.c->has_room(collector::kMaxQueuedRecords + 1));
  EXPECT_TRUE(f.c->has_room(1));
  std::string error;
  EXPECT_TRUE(f.c->close(&error));
  EXPECT_EQ(f.log(), std::vector<std::string>{"tensor a"});
}

TEST(Collector, ADeviceSampleInFlightHoldsBackTheSamplesPostedAfterIt) {
  std::unique_ptr<device> dev = make_emulated_device();
  ASSERT_TRUE(dev);
  sample_ring ring(*dev, 2);
  collector_fixture f(&ring);
  ASSERT_TRUE(f.c->post_tensor(tensor_named(0, "on_device")));
  ASSERT_TRUE(f.c->post_tensor(tensor_named(1, "on_host")));
  // Step 0: tensor 0 on the (emulated) device, 4,096 elements; tensor 1 from the host.
  std::vector<float> data(4096, 1.0f);
  const watch_entry entries[2] = {
      {0, nullptr, dtype::f32, data.size(), tensor_role::contribution, data.data(), true},
      {1, nullptr, dtype::f32, 1, tensor_role::contribution, data.data(), false}};
  std::shared_ptr<const watch_list> list = watch_list::build(entries, false);
  const int slot = ring.submit(list->device_tensors(), nullptr);
  ASSERT_GE(slot, 0);
  posted_sample device_sample = host_sample(0, {0, 1}, {1});
  device_sample.slot = slot;
  device_sample.list = list;
  ASSERT_TRUE(f.c->post_sample(std::move(device_sample)));
  // Step 1, host only, posted while step 0's device part may still run: stored after it.
  ASSERT_TRUE(f.c->post_sample(host_sample(1, {1}, {0})));
  std::string error;
  ASSERT_TRUE(f.c->flush(&error)) << error;
  const std::vector<std::string> expected = {"tensor on_device", "tensor on_host",
                                             "records 0:0:4096 0:1:101", "records 1:1:101"};
  EXPECT_EQ(f.log(), expected);
  EXPECT_TRUE(f.c->close(&error));
}

}  // namespace
}  // namespace ttap
