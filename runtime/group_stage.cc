// The group stage: proposes each group sample in the group's round, stores rank 0's merged samples
// through the collector's detectors and sinks, and settles the steps this rank has no sample for.
#include "runtime/group_stage.h"

#include "runtime/clock.h"
#include "runtime/collector.h"
#include "runtime/log.h"

namespace ttap {
namespace {

// Watch lists remembered for naming group samples (a list changes rarely; samples of an older one
// may still be in flight).
constexpr size_t kMaxLayouts = 8;

}  // namespace

group_stage::group_stage(int32_t rank, pipeline_counters *counters, deliver_fn deliver)
    : m_rank(rank), m_counters(counters), m_deliver(std::move(deliver)) {}

void group_stage::start(std::unique_ptr<group_reducer> reducer) {
  m_reducer = std::move(reducer);
  m_writer = m_reducer->comm().rank() == 0;
}

void group_stage::add_layout(group_layout layout) {
  const uint64_t hash = layout.hash;
  std::erase_if(m_layouts, [&](const group_layout &l) { return l.hash == hash; });
  m_layouts.push_back(std::move(layout));
  if (m_layouts.size() > kMaxLayouts) m_layouts.erase(m_layouts.begin());
}

group_round group_stage::round_with(const group_proposal &p, double time) {
  // No write lock is held here: each rank writes its own store file, and the store holds the lock
  // only inside commit() (runtime/store/store.h), so no rank waits in a collective holding one.
  group_round r = m_reducer->run(p);
  // A group that is off hands the sampler back its own cadence.
  m_stride.store(m_reducer->active() ? m_reducer->stride() : 0, std::memory_order_relaxed);
  switch (r.kind) {
    case group_round::outcome::data:
      if (m_writer) deliver_merged(r, r.included ? time : wall_seconds());
      break;
    case group_round::outcome::settled:
      break;
    case group_round::outcome::ended:
      // Expected when this rank closes too; otherwise a rank left early.
      if (!p.closing)
        warn_once("group-ended", "group: %s; each rank stores its own samples from here",
                  r.message.c_str());
      break;
    case group_round::outcome::disabled:
      warn_once("group-disabled",
                "group: %s: the cross-rank reduction is off; each rank stores its own samples "
                "from here",
                r.message.c_str());
      break;
  }
  return r;
}

void group_stage::deliver_merged(group_round &r, double time) {
  const group_layout *layout = nullptr;
  for (auto it = m_layouts.rbegin(); it != m_layouts.rend() && !layout; ++it)
    if (layout_key(it->hash) == r.layout_key) layout = &*it;
  if (!layout || layout->tensor_ids.size() != r.merged.size()) {
    warn_once("group-layout",
              "group: a sample of step %lld names tensors this rank does not "
              "watch: not stored",
              (long long)r.step);
    return;
  }
  const size_t n = r.merged.size();
  std::vector<sample_record> records(n);
  for (size_t k = 0; k < n; ++k) {
    sample_record &rec = records[k];
    rec.rank = m_rank;
    rec.step = r.step;
    rec.time = time;
    rec.tensor_id = layout->tensor_ids[k];
    rec.index_in_sample = uint32_t(k);
    rec.sample_size = uint32_t(n);
    rec.stats = r.merged[k];
  }
  group_sample g;
  g.step = r.step;
  g.time = time;
  g.ranks = std::move(r.ranks);
  g.tensor_ids = layout->tensor_ids;
  g.roles = layout->roles;
  g.cells = std::move(r.cells);
  m_deliver(records, &g);
}

void group_stage::on_sample(const posted_sample &s, std::vector<sample_record> &records,
                            bool complete) {
  m_last_step_seconds = s.step_seconds;
  m_last_desired_stride = s.desired_stride;
  std::vector<summary> stats;
  while (active()) {
    const int64_t next = m_reducer->next_step();
    if (!complete || s.step < next) {
      // Not this rank's to contribute (its device part failed), or no group step any more (the
      // stride grew after the sampler decided): left out; the rounds settle the step without it.
      ++m_counters->samples_skipped;
      return;
    }
    if (s.step > next) {
      // Group steps before this sample that this rank has nothing for: say so first.
      group_proposal idle;
      idle.step = s.step - 1;
      idle.step_seconds = s.step_seconds;
      idle.desired_stride = s.desired_stride;
      round_with(idle, s.time);
      continue;
    }
    if (stats.empty()) {
      stats.reserve(records.size());
      for (const sample_record &r : records) stats.push_back(r.stats);
    }
    group_proposal p;
    p.stats = stats;
    for (const group_layout &l : m_layouts)
      if (l.hash == s.layout_hash && l.roles.size() == stats.size()) p.roles = l.roles;
    p.step = s.step;
    p.layout_hash = s.layout_hash;
    p.step_seconds = s.step_seconds;
    p.desired_stride = s.desired_stride;
    const group_round r = round_with(p, s.time);
    if (r.kind == group_round::outcome::data && r.included) return;
  }
  // The group is off (the ranks disagreed, or it ended): this rank's samples are its own again.
  m_deliver(records, nullptr);
}

void group_stage::settle(int64_t reached) {
  while (active() && m_reducer->next_step() <= reached) {
    group_proposal idle;
    idle.step = reached;
    idle.step_seconds = m_last_step_seconds;
    idle.desired_stride = m_last_desired_stride;
    round_with(idle, 0);
  }
}

void group_stage::close(int64_t last_step) {
  // Every rank closes (ttap_close is collective in a group): rounds go on, this rank contributing
  // nothing, until every step up to the first closing rank's last one is settled.
  while (active()) {
    group_proposal closing;
    closing.closing = true;
    closing.step = last_step;
    closing.step_seconds = m_last_step_seconds;
    closing.desired_stride = m_last_desired_stride;
    round_with(closing, 0);
  }
  m_reducer.reset();  // frees the telemetry communicator on the thread that used it
  m_stride.store(0, std::memory_order_relaxed);
}

}  // namespace ttap
