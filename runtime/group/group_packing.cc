// Packing and unpacking of the group buffers. The layouts are documented in group_packing.h; the
// merge rules are summary_merge's, applied across ranks.
#include "runtime/group/group_packing.h"

#include <cmath>
#include <cstring>

namespace ttap {

namespace {

bool is_replicated(std::span<const tensor_role> roles, size_t t) {
  return t < roles.size() && roles[t] == tensor_role::replicated;
}

}  // namespace

void pack_sums(std::span<const summary> local, std::span<const tensor_role> roles,
               bool representative, std::span<double> out) {
  if (local.empty()) {
    std::fill(out.begin(), out.end(), 0.0);
    return;
  }
  for (size_t t = 0; t < local.size(); ++t) {
    const summary &s = local[t];
    double *f = out.data() + t * kSumFields;
    if (!representative && is_replicated(roles, t)) {
      std::fill(f, f + kSumFields, 0.0);
      continue;
    }
    f[0] = double(s.count);
    f[1] = double(s.nan);
    f[2] = double(s.pos_inf);
    f[3] = double(s.neg_inf);
    f[4] = double(s.zero);
    f[5] = double(s.subnormal);
    f[6] = s.sum;
    f[7] = s.sum_abs;
    for (int i = 0; i < kExpHistBins; ++i) f[8 + i] = double(s.exp_hist[i]);
  }
}

void pack_maxima(std::span<const summary> local, std::span<const tensor_role> roles,
                 std::span<double> out) {
  if (local.empty()) {
    std::fill(out.begin(), out.end(), -INFINITY);
    return;
  }
  for (size_t t = 0; t < local.size(); ++t) {
    double *f = out.data() + t * kMaxFields;
    f[0] = local[t].max;
    f[1] = -local[t].min;
    f[2] = local[t].abs_max;
    // Counts below 2^53: exact as doubles.
    f[3] = double(local[t].nan);
    f[4] = double(local[t].pos_inf);
    f[5] = double(local[t].neg_inf);
    f[6] = is_replicated(roles, t) ? 1.0 : 0.0;
  }
}

void pack_gathered(const gathered_rank_header &header, std::span<const summary> local,
                   std::span<std::byte> out) {
  std::memset(out.data(), 0, out.size());
  std::memcpy(out.data(), &header, sizeof header);
  std::byte *p = out.data() + sizeof header;
  for (const summary &s : local) {
    gathered_tensor g{};
    g.sum_sq = s.sum_sq;
    g.sum_sq_exp2 = s.sum_sq_exp2;
    g.has_fingerprint = s.has_fingerprint ? 1 : 0;
    g.nonfinite = s.nan + s.pos_inf + s.neg_inf;
    g.fingerprint = s.has_fingerprint ? s.fingerprint : 0;
    std::memcpy(p, &g, sizeof g);
    p += sizeof g;
  }
}

double l2_of(double sum_sq, int32_t sum_sq_exp2) {
  // summary_finalize's arithmetic: the root of the scaled value, then half the scale.
  int half = sum_sq_exp2 / 2;
  return ldexp(sqrt(ldexp(sum_sq, sum_sq_exp2 - 2 * half)), half);
}

void unpack_group(std::span<const double> sums, std::span<const double> maxima,
                  std::span<const std::byte> gathered, size_t world, size_t tensors,
                  size_t representative, std::vector<summary> *merged,
                  std::vector<group_rank_record> *ranks, std::vector<rank_tensor_record> *cells) {
  const size_t stride = gathered_bytes(tensors);
  ranks->assign(world, group_rank_record{});
  cells->assign(world * tensors, rank_tensor_record{});
  for (size_t r = 0; r < world; ++r) {
    const std::byte *p = gathered.data() + r * stride;
    gathered_rank_header h;
    std::memcpy(&h, p, sizeof h);
    (*ranks)[r].rank = h.label;
    (*ranks)[r].present = h.present != 0;
    (*ranks)[r].step_seconds = h.step_seconds;
    if (!h.present) continue;
    p += sizeof h;
    for (size_t t = 0; t < tensors; ++t, p += sizeof(gathered_tensor)) {
      gathered_tensor g;
      std::memcpy(&g, p, sizeof g);
      rank_tensor_record &c = (*cells)[t * world + r];
      c.sum_sq = g.sum_sq;
      c.sum_sq_exp2 = g.sum_sq_exp2;
      c.l2 = l2_of(g.sum_sq, g.sum_sq_exp2);
      c.nonfinite = g.nonfinite;
      c.has_fingerprint = g.has_fingerprint != 0;
      c.fingerprint = g.fingerprint;
    }
  }
  merged->resize(tensors);
  for (size_t t = 0; t < tensors; ++t) {
    summary &s = (*merged)[t];
    summary_clear(s);
    const double *f = sums.data() + t * kSumFields;
    // The sums of counts are whole numbers below 2^53: the conversion is exact.
    s.count = uint64_t(f[0]);
    s.nan = uint64_t(f[1]);
    s.pos_inf = uint64_t(f[2]);
    s.neg_inf = uint64_t(f[3]);
    s.zero = uint64_t(f[4]);
    s.subnormal = uint64_t(f[5]);
    s.sum = f[6];
    s.sum_abs = f[7];
    for (int i = 0; i < kExpHistBins; ++i) s.exp_hist[i] = uint64_t(f[8 + i]);
    const double *m = maxima.data() + t * kMaxFields;
    s.max = m[0];
    s.min = -m[1];
    s.abs_max = m[2];
    if (m[6] > 0) {
      // Replicated: the sums above are the representative's alone (pack_sums); the non-finite
      // counts are the largest of any replica's, so a NaN on another replica still counts.
      s.nan = uint64_t(m[3]);
      s.pos_inf = uint64_t(m[4]);
      s.neg_inf = uint64_t(m[5]);
      if (representative < world && (*ranks)[representative].present) {
        const rank_tensor_record &c = (*cells)[t * world + representative];
        s.sum_sq = c.sum_sq;
        s.sum_sq_exp2 = c.sum_sq_exp2;
      }
      continue;
    }
    for (size_t r = 0; r < world; ++r) {
      if (!(*ranks)[r].present) continue;
      const rank_tensor_record &c = (*cells)[t * world + r];
      add_scaled_sum_sq(s.sum_sq, s.sum_sq_exp2, c.sum_sq, c.sum_sq_exp2);
    }
  }
}

}  // namespace ttap
