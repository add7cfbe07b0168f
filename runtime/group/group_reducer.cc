// One round of the group protocol (group_reducer.h): the MAX header settles the step, a change of
// the tensor set costs one repeat of it, and a data round adds the SUM reduction and the gather.
#include "runtime/group/group_reducer.h"

#include <cmath>

#include "runtime/group/group_packing.h"

namespace ttap {
namespace {

// The MAX header, before the per-tensor maxima. Values are whole numbers below 2^53 (exact in a
// double); a field a rank has nothing to say about is -Inf, the identity of MAX. Minima travel
// negated.
enum header_field : size_t {
  kNegProposal,  // -q: q = 2 * step for data at `step`, 2 * P + 1 for "nothing up to P"
  kNegClosing,   // -q of a closing rank
  kTensors,      // a rank with data: its number of tensors (max and, negated, min)
  kNegTensors,
  kLayout,  // a rank with data: its layout hash (52 bits)
  kNegLayout,
  kStride,       // the stride this rank asks for
  kNegDataRank,  // a rank with data: -(its group rank); the lowest one's replicas stand for all
  kHeaderFields
};

constexpr int64_t kMaxStrideDoublings = 20;

}  // namespace

group_reducer::group_reducer(std::unique_ptr<group_comm> comm, int32_t label, int64_t every)
    : m_comm(std::move(comm)), m_label(label), m_every(every), m_stride(every) {}

int64_t group_reducer::stride_for(int64_t every, int64_t wanted) {
  int64_t s = every;
  for (int k = 0; k < kMaxStrideDoublings && s < wanted; ++k) s *= 2;
  return s;
}

int64_t group_reducer::next_step() const {
  // The smallest multiple of the stride above m_settled (floor division: m_settled may be -1).
  int64_t q = m_settled >= 0 ? m_settled / m_stride : -1;
  return (q + 1) * m_stride;
}

bool group_reducer::agree_on_every(std::string *error) {
  double values[2] = {double(m_every), -double(m_every)};
  ++m_allreduces;
  if (!m_comm->allreduce_max(values, error)) return false;
  if (values[0] != -values[1]) {
    *error = "the ranks of the group sample at different strides (every=" +
             std::to_string(int64_t(-values[1])) + " to " + std::to_string(int64_t(values[0])) +
             "); give every rank the same every=";
    return false;
  }
  return true;
}

group_round group_reducer::stop(group_round::outcome kind, std::string message) {
  m_active = false;
  group_round r;
  r.kind = kind;
  r.message = std::move(message);
  return r;
}

bool group_reducer::max_round(const group_proposal &p, size_t tensors,
                              std::vector<double> *buffer) {
  const bool data = !p.stats.empty();
  const int64_t reach = std::max(p.step, m_settled);
  const double q = data ? 2.0 * double(p.step) : 2.0 * double(reach) + 1.0;
  const double layout = double(layout_key(p.layout_hash));
  buffer->assign(kHeaderFields + tensors * kMaxFields, -INFINITY);
  double *h = buffer->data();
  h[kNegProposal] = -q;
  if (p.closing) h[kNegClosing] = -q;
  if (data) {
    h[kTensors] = double(p.stats.size());
    h[kNegTensors] = -double(p.stats.size());
    h[kLayout] = layout;
    h[kNegLayout] = -layout;
    h[kNegDataRank] = -double(m_comm->rank());
  }
  h[kStride] = double(stride_for(m_every, p.desired_stride));
  // The maxima ride along when this rank's tensors are the agreed set; otherwise the round is
  // repeated once the new set is agreed (see run()).
  if (data && p.stats.size() == tensors)
    pack_maxima(p.stats, p.roles, std::span<double>(*buffer).subspan(kHeaderFields));
  ++m_allreduces;
  std::string error;
  if (!m_comm->allreduce_max(*buffer, &error)) {
    m_max_error = error;
    return false;
  }
  return true;
}

group_round group_reducer::run(const group_proposal &p) {
  if (!m_active) return stop(group_round::outcome::disabled, "the group is off");
  const bool data = !p.stats.empty();
  int64_t step = 0;
  uint64_t layout = 0;
  size_t representative = 0;
  for (int attempt = 0;; ++attempt) {
    if (!max_round(p, m_tensors, &m_max))
      return stop(group_round::outcome::disabled, m_comm->kind() + std::string(": ") + m_max_error);
    const double *h = m_max.data();
    const double m = -h[kNegProposal];
    const double first_close = -h[kNegClosing];  // +Inf when no rank is closing
    const int64_t agreed_stride = stride_for(m_every, int64_t(h[kStride]));
    if (m >= first_close) {
      return stop(group_round::outcome::ended, "a rank closed its session after step " +
                                                   std::to_string(int64_t((first_close - 1) / 2)) +
                                                   ": the group has ended");
    }
    if (std::fmod(m, 2.0) != 0.0) {
      // Nobody has data up to step (m - 1) / 2: settled.
      m_settled = int64_t((m - 1) / 2);
      m_stride = agreed_stride;
      group_round r;
      r.kind = group_round::outcome::settled;
      return r;
    }
    step = int64_t(m / 2);
    if (step != next_step())
      return stop(group_round::outcome::disabled, "the ranks disagree on the next group step (" +
                                                      std::to_string(step) + " vs " +
                                                      std::to_string(next_step()) + ")");
    if (h[kTensors] != -h[kNegTensors] || h[kLayout] != -h[kNegLayout]) {
      return stop(group_round::outcome::disabled,
                  "the ranks watch different tensors at step " + std::to_string(step) + " (" +
                      std::to_string(int64_t(-h[kNegTensors])) + " to " +
                      std::to_string(int64_t(h[kTensors])) +
                      " tensors, or other names, dtypes, sizes or roles)");
    }
    const size_t tensors = size_t(h[kTensors]);
    layout = uint64_t(h[kLayout]);
    representative = size_t(-h[kNegDataRank]);
    if (tensors == m_tensors) {
      m_stride = agreed_stride;
      break;
    }
    // A new tensor set, the same on every rank with data: agreed now, the round is repeated with
    // the maxima sized for it.
    if (attempt > 0)
      return stop(group_round::outcome::disabled, "the tensor set changed during a round");
    m_tensors = tensors;
  }

  const size_t world = size_t(m_comm->size());
  m_sum.resize(m_tensors * kSumFields);
  const bool is_representative = data && size_t(m_comm->rank()) == representative;
  pack_sums(data ? p.stats : std::span<const summary>(), p.roles, is_representative, m_sum);
  ++m_allreduces;
  std::string error;
  if (!m_comm->allreduce_sum(m_sum, &error))
    return stop(group_round::outcome::disabled, m_comm->kind() + std::string(": ") + error);

  gathered_rank_header header{};
  header.step = data ? step : -1;
  header.step_seconds = p.step_seconds;
  header.label = m_label;
  header.present = data ? 1 : 0;
  const size_t bytes = gathered_bytes(m_tensors);
  m_mine.resize(bytes);
  m_gathered.resize(bytes * world);
  pack_gathered(header, data ? p.stats : std::span<const summary>(), m_mine);
  ++m_allgathers;
  if (!m_comm->allgather(m_mine, m_gathered, &error))
    return stop(group_round::outcome::disabled, m_comm->kind() + std::string(": ") + error);

  group_round r;
  r.kind = group_round::outcome::data;
  r.step = step;
  r.included = data;
  r.layout_key = layout;
  unpack_group(m_sum, std::span<const double>(m_max).subspan(kHeaderFields), m_gathered, world,
               m_tensors, representative, &r.merged, &r.ranks, &r.cells);
  m_settled = step;
  return r;
}

}  // namespace ttap
