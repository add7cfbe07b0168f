// The cross-rank reduction of a group: one round per group step, the same on every rank. A round
// is one MAX all-reduce (a fixed header that settles which step the round is for, plus the MAX-type
// fields), then, when some rank has data at that step, one SUM all-reduce and one all-gather:
// two reductions and one gather per sample. Works over any group_comm.
//
// Agreement rule (why every rank calls the same collectives in the same order): group steps are
// the multiples of the group stride S above the last settled step L, and a rank proposes data only
// for the next one; a rank without a sample there (skipped: every ring slot in flight, queue full,
// or its sampler was behind) says how far it has got instead ("nothing up to step P"). The MAX of
// the proposals tells every rank the same thing: data at the next group step (who has it joins,
// the others are absent), or nothing up to some step, which then is settled. S is the largest
// stride any rank asks for (budget, interval), re-agreed at every round and applied to the steps
// after it; strides are `every` times a power of two, so a larger one keeps a subset of the steps.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/group/group_comm.h"
#include "runtime/record.h"

namespace ttap {

// What this rank brings to a round.
struct group_proposal {
  // Data: this rank's summaries at `step` (== next_step()), in sample order. Empty: no data;
  // then `step` is how far this rank has got (every step up to it is done here), >= next_step()
  // unless closing.
  std::span<const summary> stats;
  // Data: each tensor's role, by the same position (part of the layout hash, so the same on every
  // rank with data); it decides how the tensor is merged (unpack_group). Empty: contributions.
  std::span<const tensor_role> roles;
  int64_t step = 0;
  uint64_t layout_hash = 0;  // data: the tensors of the sample (names, dtypes, sizes, roles)
  double step_seconds = 0;   // data: mean time per step since this rank's previous sample
  int64_t desired_stride = 1;
  bool closing = false;  // the session is closing: `step` is its last step
};

struct group_round {
  enum class outcome {
    settled,   // no data: every step up to settled() is done
    data,      // a group sample at `step`
    ended,     // a rank closed its session: the group is over (everyone agrees)
    disabled,  // the ranks disagree (tensor sets, steps) or a collective failed: the group is off
  } kind = outcome::settled;
  int64_t step = 0;
  bool included = false;        // data: this rank's summaries are in it
  uint64_t layout_key = 0;      // data: layout_key() of the tensor set every rank with data sent
  std::vector<summary> merged;  // data: per tensor, in sample order
  std::vector<group_rank_record> ranks;   // data: by group rank
  std::vector<rank_tensor_record> cells;  // data: [tensor * world + group rank]
  std::string message;                    // ended / disabled: why
};

// The part of a layout hash the ranks compare (what a double holds exactly).
inline uint64_t layout_key(uint64_t layout_hash) { return layout_hash & ((uint64_t(1) << 52) - 1); }

// Not thread-safe: the collector thread owns it once the group is set up.
class group_reducer {
 public:
  // `label`: how this rank is named in per-rank rows and alerts. `every`: the base stride, the same
  // on every rank (checked by agree_on_every()).
  group_reducer(std::unique_ptr<group_comm> comm, int32_t label, int64_t every);

  // Collective, at set-up: checks that every rank has the same `every`. False with *error when
  // they differ or the communicator fails (the same answer on every rank).
  bool agree_on_every(std::string *error);

  // Runs one round with this proposal; blocks until every rank of the group has proposed.
  group_round run(const group_proposal &p);

  const group_comm &comm() const { return *m_comm; }
  bool active() const { return m_active; }
  int64_t stride() const { return m_stride; }
  int64_t settled() const { return m_settled; }
  // The next group step: the smallest multiple of the stride above the settled step.
  int64_t next_step() const;
  // The stride a rank may ask for: `every` times the smallest power of two reaching `wanted`.
  static int64_t stride_for(int64_t every, int64_t wanted);

  uint64_t allreduces() const { return m_allreduces; }
  uint64_t allgathers() const { return m_allgathers; }

 private:
  bool max_round(const group_proposal &p, size_t tensors, std::vector<double> *buffer);
  group_round stop(group_round::outcome kind, std::string message);

  std::unique_ptr<group_comm> m_comm;
  int32_t m_label;
  int64_t m_every;
  int64_t m_stride;
  int64_t m_settled = -1;  // every step up to here is decided (-1: none yet)
  size_t m_tensors = 0;    // the agreed number of tensors per sample (sizes the MAX buffer)
  bool m_active = true;
  uint64_t m_allreduces = 0, m_allgathers = 0;
  std::vector<double> m_max, m_sum;
  std::vector<std::byte> m_mine, m_gathered;
  std::string m_max_error;
};

}  // namespace ttap
