// The group round as a stage between the collector and the sinks: a group's samples go through the
// round, rank 0 hands the merged sample on; outside a group a rank's samples pass on as its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "runtime/group/group_reducer.h"
#include "runtime/record.h"

namespace ttap {

struct posted_sample;
struct pipeline_counters;

// The watch list of a group session, as the stage needs it to name the merged summaries of a group
// sample even when this rank had no sample of its own there.
struct group_layout {
  uint64_t hash = 0;
  std::vector<int32_t> tensor_ids;  // in sample order
  std::vector<tensor_role> roles;
};

// The collector thread owns it, except stride() and announce(), which the training thread calls.
class group_stage {
 public:
  // Where records go next: the detectors and the sinks. `group` is set for a merged group sample.
  using deliver_fn =
      std::function<void(std::vector<sample_record> &records, const group_sample *group)>;

  // `rank` labels the records of merged samples; `counters` (samples left out) outlives the stage.
  group_stage(int32_t rank, pipeline_counters *counters, deliver_fn deliver);

  // Training thread. announce(): a reducer is on its way to the collector, whose stride the
  // sampler follows from its next step on. stride(): the agreed stride, 0 when not in a group.
  // Lock-free.
  void announce(int64_t stride) { m_stride.store(stride, std::memory_order_relaxed); }
  int64_t stride() const { return m_stride.load(std::memory_order_relaxed); }

  // Collector thread from here on. start() takes over the reducer (ttap_set_group); add_layout()
  // remembers a watch list, which names the tensors of later group samples.
  void start(std::unique_ptr<group_reducer> reducer);
  void add_layout(group_layout layout);
  bool in_group() const { return bool(m_reducer); }
  bool active() const { return m_reducer && m_reducer->active(); }
  bool writer() const { return m_writer; }  // rank 0 of the group: stores the merged samples

  // A sample the trainer took on the group's grid, `records` in sample order (`complete`: none of
  // its tensors is missing). Runs the rounds up to its step and proposes it; when the group is off
  // its records pass on as this rank's own.
  void on_sample(const posted_sample &s, std::vector<sample_record> &records, bool complete);
  // No group sample pending: tells the group this rank has got to step `reached`.
  void settle(int64_t reached);
  // Session close (collective in a group): rounds go on, this rank bringing nothing past
  // `last_step`, until the group has ended; then the reducer is freed on this thread.
  void close(int64_t last_step);

 private:
  group_round round_with(const group_proposal &p, double time);
  void deliver_merged(group_round &r, double time);

  int32_t m_rank;
  pipeline_counters *m_counters;
  deliver_fn m_deliver;
  std::unique_ptr<group_reducer> m_reducer;
  bool m_writer = false;
  std::vector<group_layout> m_layouts;  // the latest watch lists, newest last
  double m_last_step_seconds = 0;
  int64_t m_last_desired_stride = 1;
  std::atomic<int64_t> m_stride{0};
};

}  // namespace ttap
