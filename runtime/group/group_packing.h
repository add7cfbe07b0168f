// How one sample's summaries travel between the ranks of a group: the SUM-type fields of every
// tensor in one buffer of doubles, the MAX-type fields in another, and a small per-rank record of
// each tensor for the all-gather; and how rank 0 turns what comes back into merged summaries and
// per-rank rows. Pure functions, shared by every communicator (MPI, NCCL, single process).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/summary.h"
#include "runtime/record.h"

namespace ttap {

// SUM buffer, per tensor: count, nan, pos_inf, neg_inf, zero, subnormal, sum, sum_abs, then the
// 255 histogram bins. Counts travel as doubles (one buffer, one reduction): exact while a
// tensor's count summed over the group stays below 2^53 (2^40 elements on each of 8192 ranks).
// sum_sq is not here: each rank's carries its own power-of-two scale (fp64 data), so it goes
// through the all-gather and is merged on the host in rank order, which also makes it
// reproducible whatever the reduction algorithm.
inline constexpr size_t kSumFields = 8 + size_t(kExpHistBins);
// MAX buffer, per tensor: max, -min, abs_max (over finite values; -Inf when there is none), then
// nan, pos_inf, neg_inf and 1 for a replicated tensor: what the merge of a replicated tensor takes
// from every replica (see unpack_group), and how a rank without data of its own learns the roles.
inline constexpr size_t kMaxFields = 7;

// What every rank sends about itself in the all-gather: this header, then one gathered_tensor per
// tensor of the sample. Plain bytes: the ranks of a job share one ABI.
struct gathered_rank_header {
  int64_t step;         // the sample's step; -1 when the rank has no sample here
  double step_seconds;  // mean time per step since the rank's previous sample (0: unknown)
  int32_t label;        // the rank's label (group_rank_record::rank)
  uint32_t present;     // 1 when the rank contributed its summaries
};
struct gathered_tensor {
  double sum_sq;
  int32_t sum_sq_exp2;
  uint32_t has_fingerprint;
  uint64_t nonfinite;
  uint64_t fingerprint;
};
static_assert(sizeof(gathered_rank_header) == 24 && sizeof(gathered_tensor) == 32,
              "the gathered records are a wire format");

inline size_t gathered_bytes(size_t tensors) {
  return sizeof(gathered_rank_header) + tensors * sizeof(gathered_tensor);
}

// Writes the fields of `local` (one summary per tensor, in sample order; `roles` by the same
// position, or empty: every tensor a contribution); an empty `local` (a rank without a sample)
// writes the identity of each reduction: zeros, and -Inf for the maxima. pack_sums writes a
// replicated tensor's sums only on the `representative` rank (zeros elsewhere), so that the group's
// sum is one replica's, not the replica's times the number of ranks.
void pack_sums(std::span<const summary> local, std::span<const tensor_role> roles,
               bool representative, std::span<double> out);
void pack_maxima(std::span<const summary> local, std::span<const tensor_role> roles,
                 std::span<double> out);
void pack_gathered(const gathered_rank_header &header, std::span<const summary> local,
                   std::span<std::byte> out);

// From the reduced buffers and the gathered records of `world` ranks: the merged summary of each
// of `tensors` tensors, and the per-rank rows. `representative`: the group rank whose replica
// stands for every replicated tensor (the lowest with data). The merge, by role:
// - contribution and sharded (parts of one whole): the summary of the parts concatenated: counts,
//   sums and histogram summed over every present rank, sum_sq merged in rank order, min/max/abs_max
//   over all of them;
// - replicated (copies of one tensor): one replica's summary, the representative's (count, zero,
//   subnormal, histogram, sum, sum_abs, sum_sq: summed over the ranks they would be the replica's
//   times their number, an l2 sqrt(world) too large), except nan, pos_inf, neg_inf (the largest on
//   any replica) and min, max, abs_max (over every replica), so that a replica that differs is
//   never hidden by the one chosen. Identical replicas give exactly the representative's summary.
// No merged summary has a fingerprint (the per-rank rows have them).
void unpack_group(std::span<const double> sums, std::span<const double> maxima,
                  std::span<const std::byte> gathered, size_t world, size_t tensors,
                  size_t representative, std::vector<summary> *merged,
                  std::vector<group_rank_record> *ranks, std::vector<rank_tensor_record> *cells);

// summary_finalize's l2 of a scaled sum of squares.
double l2_of(double sum_sq, int32_t sum_sq_exp2);

}  // namespace ttap
