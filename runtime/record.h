// The records that flow from the sampling path to the collector thread and on to detectors and
// sinks: one per tensor per sample, one per logged scalar, one per alert. Plain C++.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/summary.h"

namespace ttap {

// Values match ttap_kind in the public C API.
enum class tensor_kind : uint8_t { grad = 0, param = 1, activation = 2, other = 3, collective = 4 };

const char *tensor_kind_name(tensor_kind k);  // "grad", "param", "activation", "other", ...

// A watched (or observed) tensor as the store and detectors know it. Ids are dense, per session,
// assigned in registration order and never reused; the store keeps one row per id.
struct tensor_info {
  int32_t id = -1;
  std::string name;
  tensor_kind kind = tensor_kind::other;
  dtype type = dtype::f32;
  uint64_t numel = 0;
};

// One tensor in one sample.
struct sample_record {
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;  // wall clock, seconds since the Unix epoch, when the sample was taken
  int32_t tensor_id = -1;
  uint32_t index_in_sample = 0;  // order of this tensor within its sample (watch order)
  uint32_t sample_size = 0;      // tensors in the sample
  summary stats;
};

struct scalar_record {
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  std::string name;
  double value = 0;
};

// The last four are raised by the group detectors, on rank 0 of a group only.
enum class alert_type : uint8_t {
  nonfinite,
  spike,
  vanishing,
  fp8_range,
  loss_spike,
  nonfinite_source,
  divergence,
  outlier_rank,
  straggler,
};
inline constexpr alert_type kLastAlertType = alert_type::straggler;
const char *alert_type_name(alert_type t);  // "nonfinite", "spike", ...

struct alert {
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  int32_t tensor_id = -1;  // -1 for alerts about scalars (loss_spike)
  std::string tensor;      // tensor or scalar name
  alert_type type = alert_type::nonfinite;
  std::string message;  // one line, no trailing newline, without the "ttap: step N: " prefix
};

// What tensortap did about an anomaly (a response policy: on_nonfinite / on_spike): skipped the
// optimizer step, wrote a forensic dump, or ended the process. One row of the store's actions.
enum class action_kind : uint8_t { skip, dump, abort };
inline constexpr action_kind kLastActionKind = action_kind::abort;
const char *action_kind_name(action_kind k);  // "skip", "dump", "abort"

struct action_record {
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  action_kind action = action_kind::skip;
  std::string reason;  // what triggered it: "nonfinite", "spike"
  std::string detail;  // one line: the tensors, a dump's directory, or why a dump failed
};

// What a tensor is to the ranks of a group (ttap_set_group), which decides how they are compared:
// replicated tensors must be bit-identical on every rank (fingerprints are computed and compared),
// contributions differ by design but should have comparable norms (outlier ranks), sharded tensors
// are parts of one whole and are only checked for non-finite values.
enum class tensor_role : uint8_t { contribution = 0, replicated = 1, sharded = 2 };

// One rank's part of one tensor in a group sample (from the group's all-gather).
struct rank_tensor_record {
  double sum_sq = 0;  // scaled as in summary (sum_sq * 2^sum_sq_exp2)
  int32_t sum_sq_exp2 = 0;
  double l2 = 0;  // summary_finalize's l2 of that rank's part
  uint64_t nonfinite = 0;
  bool has_fingerprint = false;
  uint64_t fingerprint = 0;
};

// One rank of a group as seen in one group sample.
struct group_rank_record {
  int32_t rank = 0;         // the rank's label: its RANK (config rank), else its group rank
  bool present = false;     // false: it had no sample at this step (skipped); no cells then
  double step_seconds = 0;  // its mean time per step since its previous sample (0: unknown)
};

// One sample of a group, as rank 0 of the group assembles it after the collectives: the merged
// summaries go on as ordinary sample_records; this is the per-rank part for the group detectors
// and the store's per-rank tables.
struct group_sample {
  int64_t step = 0;
  double time = 0;
  std::vector<group_rank_record> ranks;   // by group rank
  std::vector<int32_t> tensor_ids;        // the writer's tensor ids, in sample order
  std::vector<tensor_role> roles;         // by position in the sample
  std::vector<rank_tensor_record> cells;  // [position * ranks.size() + group rank]

  const rank_tensor_record &cell(size_t position, size_t group_rank) const {
    return cells[position * ranks.size() + group_rank];
  }
};

}  // namespace ttap
