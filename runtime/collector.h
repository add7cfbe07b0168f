// The collector thread: takes samples off the training thread through a bounded queue, waits for
// device samples by polling their events, assembles records, runs the detectors and hands records,
// scalars and alerts to the sinks (runtime/sinks/), flushing them in batches. The training thread
// only ever posts (never waits, never blocks on I/O).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/config.h"
#include "runtime/detectors/detector.h"
#include "runtime/group/group_reducer.h"
#include "runtime/group_stage.h"
#include "runtime/response/forensic_dump.h"
#include "runtime/sample_ring.h"
#include "runtime/sinks/sink.h"
#include "runtime/watch_list.h"

namespace ttap {

// One sample as posted by the training thread: host tensors already summarized, device tensors
// pending in a ring slot (slot < 0: none). Records are re-assembled in watch order.
struct posted_sample {
  int64_t step = 0;
  double time = 0;
  uint32_t sample_size = 0;
  std::vector<sample_record> host;  // index_in_sample set
  int slot = -1;                    // ring slot holding the device part
  // The watch list the device part was taken from (its device ids and indices name the slot's
  // results, in slot order); set with the slot.
  std::shared_ptr<const watch_list> list;
  // In a group: a watch-list sample (ttap_step) goes to the group's reduction; ttap_observe
  // samples stay this rank's own.
  bool group = false;
  uint64_t layout_hash = 0;    // of the watch list it was taken from
  double step_seconds = 0;     // the sampler's mean step time since its previous sample
  int64_t desired_stride = 1;  // the stride this rank asks the group for

  // Records it will hand the collector: the host ones and the device part's, while it has one.
  size_t records() const { return host.size() + (slot >= 0 ? list->device_ids().size() : 0); }
};

// Counters the training thread updates (atomics: it never takes the collector's lock for them).
struct pipeline_counters {
  std::atomic<uint64_t> samples_taken{0};
  std::atomic<uint64_t> samples_skipped{0};
  std::atomic<uint64_t> records_dropped{0};
  std::atomic<int64_t> overhead_ns{0};
  std::atomic<int64_t> step_ns{0};
  // Device time of the samples the collector has seen complete (the ring's timing events), and
  // how many: the training thread reads both to count device time in the budget.
  std::atomic<int64_t> device_ns{0};
  std::atomic<uint64_t> device_samples{0};
};

class collector {
 public:
  // Bounds of the queue between the training thread and the collector: about 35 MB of summaries.
  static constexpr size_t kMaxQueuedRecords = 16384;
  static constexpr size_t kMaxQueuedItems = 4096;
  // Items the queue holds without growing (a trainer posting more between two drains grows it
  // once).
  static constexpr size_t kInitialQueueCapacity = 64;

  // The collector owns the sinks; the sample ring (may be null) is shared with the training thread,
  // which only submits. `counters` outlives the collector.
  collector(const session_config &config, std::unique_ptr<sink> sinks, sample_ring *ring,
            pipeline_counters *counters);
  ~collector();

  // All post functions are non-blocking and return false when the queue is full (the caller counts
  // the drop). A posted device sample's slot is released by the collector.
  bool post_tensor(const tensor_info &t);
  bool post_sample(posted_sample &&s);
  // A host-record buffer the collector is done with, for the training thread's next sample of
  // `records` host tensors instead of allocating and zeroing one: one of exactly that size when it
  // has one (resize() then neither allocates nor writes), else its largest; `spare` is left alone
  // when it already holds a buffer or the collector has none. Takes the queue lock briefly, as a
  // post does; never waits for the collector.
  void take_spare_records(std::vector<sample_record> *spare, size_t records);
  bool post_scalar(const scalar_record &s);
  // What a response policy did at ttap_verdict (a skip), and a forensic dump it gathered (the
  // response sink writes it): at most a few per step and dump_max dumps per session, so never
  // dropped; processed after every sample posted before them.
  void post_action(const action_record &a);
  void post_dump(dump_contents &&d);
  // Whether `records` more records fit right now (checked before submitting device work, so a full
  // queue never strands a ring slot).
  bool has_room(size_t records) const;

  // Groups (ttap_set_group). start_group hands the reducer to the collector thread (it runs every
  // round from then on); post_layout announces a watch list before its samples. Neither is ever
  // dropped.
  void start_group(std::unique_ptr<group_reducer> reducer, const group_info &info);
  void post_layout(group_layout layout);
  // The training thread's step, published after the sample of that step (if any) was posted: a
  // rank with no sample at a group step tells the group so from it. Lock-free.
  void note_step(int64_t step) { m_last_step.store(step, std::memory_order_release); }
  // The group's agreed stride (0: not in a group), read by the training thread's sampler.
  int64_t group_stride() const { return m_group.stride(); }

  // Blocks until everything posted before the call is processed and flushed. False when a sink
  // (the store) has failed (the message in *error).
  bool flush(std::string *error);
  // Flushes, writes the counters, commits and stops the thread.
  bool close(std::string *error);

 private:
  struct item;
  void run();
  void process(item &it);
  void handle_records(std::vector<sample_record> &records, const group_sample *group = nullptr);
  // A sample's records, in order: into the group stage for a group sample, else to handle_records.
  void hand_on(const posted_sample &s, std::vector<sample_record> &records, bool complete);
  static bool host_records_complete(const posted_sample &s);
  void wake_collector(bool queue_was_empty);  // called by a post, after it unlocked m_mutex
  void recycle(std::vector<sample_record> &&records);  // into m_spare_records, when there is room
  void commit(bool force);
  void hand_alerts();

  session_config m_config;
  std::unique_ptr<sink> m_sinks;
  sample_ring *m_ring;
  pipeline_counters *m_counters;
  std::vector<std::unique_ptr<detector>> m_detectors;
  std::vector<std::unique_ptr<group_detector>> m_group_detectors;

  mutable std::mutex m_mutex;
  // Two condition variables, so that a post's notify_one always reaches the collector and never a
  // thread waiting in flush().
  std::condition_variable m_wake;     // the collector waits on it
  std::condition_variable m_flushed;  // flush() callers wait on it
  // Filled by the training thread, swapped out whole by the collector (which hands back its
  // emptied vector), so posting reuses capacity and allocates nothing in steady state.
  std::vector<item> m_queue;
  size_t m_queued_records = 0;
  bool m_stopping = false;

  // Collector-thread state.
  std::vector<tensor_info> m_tensors;  // by id
  std::vector<alert> m_alerts;         // scratch
  // Host-record buffers handed back to the training thread (guarded by m_mutex): a due step in
  // steady state reuses one, already sized, instead of allocating and zeroing ~2 KB per tensor.
  static constexpr size_t kMaxSpareBuffers = 8;
  std::vector<std::vector<sample_record>> m_spare_records;
  int64_t m_last_commit_ns = 0;
  bool m_dirty = false;  // handed to the sinks since their last flush

  // The group round between this collector and the sinks (collector thread, but its stride), and
  // the trainer's latest step, which tells the group how far this rank has got.
  group_stage m_group;
  std::atomic<int64_t> m_last_step{-1};

  std::thread m_thread;
};

}  // namespace ttap
