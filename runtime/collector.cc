// The collector thread's loop: drain the queue into an in-order backlog, wait on a device sample
// by polling (never blocking the training thread), then detectors and the sinks; flush them at
// once after a non-finite alert, otherwise every flush interval. In a group, samples go through
// the group stage (group_stage.cc) on this thread: the training thread never waits for another
// rank.
#include "runtime/collector.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "runtime/clock.h"
#include "runtime/log.h"

namespace ttap {
namespace {

// How often the collector polls a device sample's event while one is in flight.
constexpr auto kDevicePollInterval = std::chrono::microseconds(200);
// In a group, how often an idle collector looks whether its trainer passed a group step without a
// sample (the other ranks wait for it to say so).
constexpr auto kGroupPollInterval = std::chrono::milliseconds(1);

// The collector is a batch thread: woken by a post, it should run on an idle core or when the
// training thread's time slice ends, never preempt the training thread in the middle of the call
// that woke it. As a normal thread, a post's wake-up on a busy two-core machine switched the
// training thread out in pthread_cond_signal about once per post, and the training thread then
// waited, inside ttap_step or ttap_observe, for the collector's whole round. SCHED_BATCH keeps the
// thread's fair share of CPU (same nice weight) and only gives up wake-up preemption.
void become_batch_thread() {
#ifdef SCHED_BATCH
  sched_param param{};
  param.sched_priority = 0;
  if (sched_setscheduler(0, SCHED_BATCH, &param) != 0)  // 0: this thread (Linux)
    warn_once("collector-batch",
              "the collector thread stays a normal thread (SCHED_BATCH: %s); its wake-ups may "
              "preempt the training thread",
              std::strerror(errno));
#endif
}

}  // namespace

struct collector::item {
  enum kind_t { tensor, sample, scalar, action, dump, flush, group, layout } kind;
  explicit item(kind_t k) : kind(k) {}
  tensor_info tensor_value;
  posted_sample sample_value;
  scalar_record scalar_value;
  action_record action_value;
  std::unique_ptr<dump_contents> dump_value;
  std::unique_ptr<group_reducer> group_value;
  group_info group_info_value;
  group_layout layout_value;
  // flush: the waiting thread's completion flag, under m_mutex.
  bool *flush_done = nullptr;
};

collector::collector(const session_config &config, std::unique_ptr<sink> sinks, sample_ring *ring,
                     pipeline_counters *counters)
    : m_config(config),
      m_sinks(std::move(sinks)),
      m_ring(ring),
      m_counters(counters),
      m_detectors(make_detectors(config.detectors)),
      m_group(config.rank, counters,
              [this](std::vector<sample_record> &records, const group_sample *group) {
                handle_records(records, group);
              }) {
  m_last_commit_ns = monotonic_ns();
  m_queue.reserve(kInitialQueueCapacity);
  m_thread = std::thread([this] { run(); });
}

collector::~collector() {
  std::string ignored;
  close(&ignored);
}

bool collector::has_room(size_t records) const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_queue.size() < kMaxQueuedItems && m_queued_records + records <= kMaxQueuedRecords;
}

bool collector::post_tensor(const tensor_info &t) {
  // Registrations are never dropped: every later record refers to them.
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_stopping) return false;
    was_empty = m_queue.empty();
    m_queue.emplace_back(item::tensor).tensor_value = t;
  }
  wake_collector(was_empty);
  return true;
}

void collector::take_spare_records(std::vector<sample_record> *spare, size_t records) {
  if (!spare->empty()) return;
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_spare_records.empty()) return;
  // Watch-list samples and ttap_observe's one-tensor samples share the pool: the exact size first.
  size_t best = 0;
  for (size_t k = 0; k < m_spare_records.size(); ++k) {
    if (m_spare_records[k].size() == records) {
      best = k;
      break;
    }
    if (m_spare_records[k].capacity() > m_spare_records[best].capacity()) best = k;
  }
  std::swap(*spare, m_spare_records[best]);
  m_spare_records.erase(m_spare_records.begin() + ptrdiff_t(best));
}

bool collector::post_sample(posted_sample &&s) {
  const size_t records = s.records();
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_stopping) return false;
    // A sample holding a ring slot is always accepted (has_room was checked before the submit);
    // otherwise a full queue drops it.
    if (s.slot < 0 &&
        (m_queue.size() >= kMaxQueuedItems || m_queued_records + records > kMaxQueuedRecords)) {
      return false;
    }
    m_queued_records += records;
    was_empty = m_queue.empty();
    m_queue.emplace_back(item::sample).sample_value = std::move(s);
  }
  wake_collector(was_empty);
  return true;
}

void collector::start_group(std::unique_ptr<group_reducer> reducer, const group_info &info) {
  // The training thread samples on the group's grid from its next step on.
  m_group.announce(reducer->stride());
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_stopping) return;
    was_empty = m_queue.empty();
    item &it = m_queue.emplace_back(item::group);
    it.group_value = std::move(reducer);
    it.group_info_value = info;
  }
  wake_collector(was_empty);
}

void collector::post_layout(group_layout layout) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_stopping) return;
    was_empty = m_queue.empty();
    m_queue.emplace_back(item::layout).layout_value = std::move(layout);
  }
  wake_collector(was_empty);
}

bool collector::post_scalar(const scalar_record &s) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_stopping || m_queue.size() >= kMaxQueuedItems) return false;
    was_empty = m_queue.empty();
    m_queue.emplace_back(item::scalar).scalar_value = s;
  }
  wake_collector(was_empty);
  return true;
}

void collector::post_action(const action_record &a) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_stopping) return;
    was_empty = m_queue.empty();
    m_queue.emplace_back(item::action).action_value = a;
  }
  wake_collector(was_empty);
}

void collector::post_dump(dump_contents &&d) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_stopping) return;
    was_empty = m_queue.empty();
    m_queue.emplace_back(item::dump).dump_value = std::make_unique<dump_contents>(std::move(d));
  }
  wake_collector(was_empty);
}

// After the post's lock is released: a collector woken while the poster still held the mutex would
// block on it at once, and on a small machine each of those hand-offs is a context switch of the
// training thread. Only a post into an empty queue wakes it: the collector drains the whole queue
// and looks at it again (under the mutex) before it waits, so later posts are seen anyway.
void collector::wake_collector(bool queue_was_empty) {
  if (queue_was_empty) m_wake.notify_one();
}

bool collector::flush(std::string *error) {
  bool done = false;
  {
    std::unique_lock<std::mutex> lock(m_mutex);
    if (m_thread.joinable()) {
      m_queue.emplace_back(item::flush).flush_done = &done;
      m_wake.notify_one();
      m_flushed.wait(lock, [&] { return done; });
    }
  }
  return m_sinks->healthy(error);
}

bool collector::close(std::string *error) {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_thread.joinable()) {
      m_stopping = true;
      m_wake.notify_all();
    }
  }
  if (m_thread.joinable()) m_thread.join();
  return m_sinks->healthy(error);
}

void collector::commit(bool force) {
  int64_t now = monotonic_ns();
  if (!m_dirty) return;
  if (!force && now - m_last_commit_ns < int64_t(m_config.flush_ms * 1e6)) return;
  run_counters c;
  c.samples_taken = m_counters->samples_taken.load();
  c.samples_skipped = m_counters->samples_skipped.load();
  c.records_dropped = m_counters->records_dropped.load();
  c.overhead_seconds = double(m_counters->overhead_ns.load()) * 1e-9;
  c.device_seconds = double(m_counters->device_ns.load()) * 1e-9;
  c.step_seconds = double(m_counters->step_ns.load()) * 1e-9;
  m_sinks->count(c);
  m_sinks->flush(c, force);
  m_last_commit_ns = now;
  m_dirty = false;
}

void collector::handle_records(std::vector<sample_record> &records, const group_sample *group) {
  m_alerts.clear();
  for (const sample_record &r : records) {
    if (r.tensor_id < 0 || size_t(r.tensor_id) >= m_tensors.size()) continue;
    for (auto &d : m_detectors) d->on_sample(m_tensors[size_t(r.tensor_id)], r, m_alerts);
  }
  if (group) {
    for (auto &d : m_group_detectors) d->on_group_sample(*group, m_tensors, m_alerts);
  }
  m_sinks->on_records(records, group);
  m_dirty = true;
  hand_alerts();
}

void collector::hand_alerts() {
  bool nonfinite = false;
  for (const alert &a : m_alerts) {
    m_sinks->on_alert(a);
    nonfinite =
        nonfinite || a.type == alert_type::nonfinite || a.type == alert_type::nonfinite_source;
  }
  // The process may be about to die: a non-finite alert is flushed (stored) at once.
  if (nonfinite) commit(true);
}

void collector::hand_on(const posted_sample &s, std::vector<sample_record> &records,
                        bool complete) {
  if (s.group && m_group.in_group())
    m_group.on_sample(s, records, complete);
  else
    handle_records(records);
}

void collector::process(item &it) {
  switch (it.kind) {
    case item::group:
      m_group.start(std::move(it.group_value));
      if (m_group.writer()) m_group_detectors = make_group_detectors(m_config.detectors);
      m_sinks->on_group(it.group_info_value);
      m_dirty = true;
      break;
    case item::layout:
      m_group.add_layout(std::move(it.layout_value));
      break;
    case item::tensor:
      if (size_t(it.tensor_value.id) >= m_tensors.size())
        m_tensors.resize(size_t(it.tensor_value.id) + 1);
      m_tensors[size_t(it.tensor_value.id)] = it.tensor_value;
      m_sinks->on_tensor(it.tensor_value);
      m_dirty = true;
      break;
    case item::sample: {
      posted_sample &s = it.sample_value;
      if (s.slot < 0 && host_records_complete(s)) {
        // Host tensors only, every record present and in order: no reassembly, and the buffer
        // goes back to the training thread afterwards.
        hand_on(s, s.host, true);
        recycle(std::move(s.host));
        break;
      }
      std::vector<sample_record> records(s.sample_size);
      std::vector<bool> present(s.sample_size, false);
      for (sample_record &r : s.host) {
        if (r.index_in_sample < s.sample_size) {
          present[r.index_in_sample] = true;
          records[r.index_in_sample] = std::move(r);
        }
      }
      if (s.slot >= 0) {
        auto results = m_ring->results(s.slot);
        const auto device_ids = s.list->device_ids();
        const auto device_index = s.list->device_index();
        for (size_t k = 0; k < results.size() && k < device_ids.size(); ++k) {
          uint32_t index = device_index[k];
          if (index >= s.sample_size) continue;
          sample_record &r = records[index];
          r.rank = m_config.rank;
          r.step = s.step;
          r.time = s.time;
          r.tensor_id = device_ids[k];
          r.index_in_sample = index;
          r.sample_size = s.sample_size;
          r.stats = results[k];
          present[index] = true;
        }
        // Counted even when the device could not time it (as 0 s): the training thread waits for
        // the first sample's count before it takes a second.
        const double device_seconds = m_ring->device_seconds(s.slot);
        if (device_seconds > 0) m_counters->device_ns += int64_t(device_seconds * 1e9);
        ++m_counters->device_samples;
        m_ring->release(s.slot);
      }
      // Records whose device part failed are left out (counted as dropped).
      std::vector<sample_record> in_order;
      in_order.reserve(records.size());
      for (size_t i = 0; i < records.size(); ++i) {
        if (present[i]) in_order.push_back(std::move(records[i]));
      }
      m_counters->records_dropped += records.size() - in_order.size();
      hand_on(s, in_order, in_order.size() == records.size());
      break;
    }
    case item::scalar:
      m_alerts.clear();
      for (auto &d : m_detectors) d->on_scalar(it.scalar_value, m_alerts);
      m_sinks->on_scalar(it.scalar_value);
      m_dirty = true;
      hand_alerts();
      break;
    case item::action:
      m_sinks->on_action(it.action_value);
      m_dirty = true;
      break;
    case item::dump:
      m_sinks->on_dump(*it.dump_value);  // written by the response sink, which hands on its action
      m_dirty = true;
      break;
    case item::flush:
      m_dirty = true;  // the counters are written at every flush
      commit(true);
      {
        std::lock_guard<std::mutex> lock(m_mutex);
        *it.flush_done = true;
      }
      m_flushed.notify_all();
      break;
  }
}

bool collector::host_records_complete(const posted_sample &s) {
  if (s.host.size() != s.sample_size) return false;
  for (size_t i = 0; i < s.host.size(); ++i) {
    if (s.host[i].index_in_sample != i) return false;
  }
  return true;
}

void collector::recycle(std::vector<sample_record> &&records) {
  std::lock_guard<std::mutex> lock(m_mutex);
  // Kept within what the queue may hold anyway, so a large watch list does not pin more memory
  // than its samples in flight would take; the rest is freed here, on the collector thread.
  size_t kept = records.size();
  for (const auto &buffer : m_spare_records) kept += buffer.size();
  if (m_spare_records.size() < kMaxSpareBuffers && kept <= kMaxQueuedRecords)
    m_spare_records.push_back(std::move(records));
}

void collector::run() {
  become_batch_thread();
  std::deque<item> backlog;
  std::vector<item> drained;  // the queue taken whole; handed back empty with its capacity
  drained.reserve(kInitialQueueCapacity);
  for (;;) {
    bool stopping;
    // Read before the queue is drained: every sample of a step up to here is then in the backlog
    // (the trainer publishes a step after posting its sample), so a rank with none can say so.
    const int64_t reached = m_last_step.load(std::memory_order_acquire);
    {
      std::unique_lock<std::mutex> lock(m_mutex);
      auto wait = !backlog.empty() ? std::chrono::microseconds(kDevicePollInterval)
                  : m_group.active()
                      ? std::chrono::duration_cast<std::chrono::microseconds>(kGroupPollInterval)
                      : std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::duration<double, std::milli>(m_config.flush_ms));
      m_wake.wait_for(lock, wait, [&] { return !m_queue.empty() || m_stopping; });
      for (auto &it : m_queue) {
        if (it.kind == item::sample) {
          m_queued_records -= it.sample_value.records();
        }
      }
      std::swap(m_queue, drained);
      stopping = m_stopping;
    }
    for (auto &it : drained) backlog.push_back(std::move(it));
    drained.clear();
    while (!backlog.empty()) {
      item &it = backlog.front();
      if (it.kind == item::sample && it.sample_value.slot >= 0) {
        device_status st = m_ring->poll(it.sample_value.slot);
        if (st == device_status::not_ready) break;  // keep order: later items wait for this one
        if (st == device_status::error) {
          warn_once("device-sample", "a device sample failed (%s); its tensors are left out",
                    m_ring->last_error().c_str());
          it.sample_value.slot = -1;     // the ring freed the slot
          ++m_counters->device_samples;  // completed, untimed
        }
      }
      process(it);
      backlog.pop_front();
    }
    const bool group_sample_pending = std::any_of(backlog.begin(), backlog.end(), [](item &it) {
      return it.kind == item::sample && it.sample_value.group;
    });
    if (m_group.active() && !group_sample_pending) m_group.settle(reached);
    commit(false);
    if (stopping && backlog.empty()) {
      if (m_group.in_group()) m_group.close(m_last_step.load(std::memory_order_acquire));
      m_dirty = true;
      commit(true);
      m_sinks->close();
      return;
    }
    if (stopping) std::this_thread::sleep_for(kDevicePollInterval);
  }
}

}  // namespace ttap
