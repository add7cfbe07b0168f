// The block scheduler of the SIMT emulator: fibers for the threads of a block, __syncthreads and
// warp collectives as barriers with CUDA's mask semantics, and the stall analysis that turns a
// block no thread of which can proceed into an error naming the barriers and threads involved.
#include "kernels/simt/block_runner.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <thread>

#include "kernels/simt/tsan.h"

namespace ttap::simt::detail {
namespace {

thread_local block_runner *t_runner = nullptr;

// What a lane reads from a lane that does not take part in the collective (outside the mask,
// exited, or past the end of a partial warp): undefined on a GPU; all ones here (NaN as a float, -1
// as an int), so a kernel that uses such a value gets a visibly wrong result.
constexpr uint64_t kPoison = ~uint64_t(0);
constexpr unsigned kWarpSize = 32;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = kTsan;
#endif

const char *kind_name(warp_kind kind) {
  switch (kind) {
    case warp_kind::sync:
      return "__syncwarp";
    case warp_kind::shfl_idx:
      return "__shfl_sync";
    case warp_kind::shfl_up:
      return "__shfl_up_sync";
    case warp_kind::shfl_down:
      return "__shfl_down_sync";
    case warp_kind::shfl_xor:
      return "__shfl_xor_sync";
    case warp_kind::ballot:
      return "__ballot_sync";
    case warp_kind::any:
      return "__any_sync";
    case warp_kind::all:
      return "__all_sync";
    case warp_kind::match_any:
      return "__match_any_sync";
    case warp_kind::match_all:
      return "__match_all_sync";
    case warp_kind::reduce_add:
      return "__reduce_add_sync";
    case warp_kind::reduce_min_u:
    case warp_kind::reduce_min_s:
      return "__reduce_min_sync";
    case warp_kind::reduce_max_u:
    case warp_kind::reduce_max_s:
      return "__reduce_max_sync";
    case warp_kind::reduce_and:
      return "__reduce_and_sync";
    case warp_kind::reduce_or:
      return "__reduce_or_sync";
    case warp_kind::reduce_xor:
      return "__reduce_xor_sync";
  }
  return "warp collective";
}

const char *kind_name(barrier_kind kind) {
  switch (kind) {
    case barrier_kind::sync:
      return "__syncthreads()";
    case barrier_kind::count:
      return "__syncthreads_count()";
    case barrier_kind::all:
      return "__syncthreads_and()";
    case barrier_kind::any:
      return "__syncthreads_or()";
  }
  return "barrier";
}

bool is_shuffle(warp_kind kind) {
  return kind == warp_kind::shfl_idx || kind == warp_kind::shfl_up ||
         kind == warp_kind::shfl_down || kind == warp_kind::shfl_xor;
}

std::string site_string(call_site site) {
  return std::string(site.file ? site.file : "?") + ":" + std::to_string(site.line);
}

bool same_site(call_site a, call_site b) {
  return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

std::string hex(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

uint64_t truncate(uint64_t v, unsigned bytes) {
  return bytes >= 8 ? v : v & ((uint64_t(1) << (8 * bytes)) - 1);
}

[[noreturn]] void not_in_kernel(const char *what, call_site site) {
  std::fprintf(stderr, "ttap simt: %s called at %s outside an emulated kernel\n", what,
               site_string(site).c_str());
  std::abort();
}

}  // namespace

block_runner::block_runner() {
  // Dynamic shared memory: one buffer of the largest size a launch may ask for, allocated once and
  // 128-byte aligned like the GPU's.
  m_shared_storage.reset(new unsigned char[kMaxDynamicSharedOptIn + 128]);
  auto base = reinterpret_cast<uintptr_t>(m_shared_storage.get());
  m_ids.dynamic_shared = reinterpret_cast<unsigned char *>((base + 127) / 128 * 128);
#if TTAP_SIMT_TSAN
  m_scheduler.tsan_fiber = __tsan_get_current_fiber();
#endif
}

block_runner::~block_runner() {
  for (lane &l : m_lanes) release_context(l.ctx);
#if TTAP_SIMT_TSAN
  for (lane &l : m_lanes) __tsan_destroy_fiber(l.ctx.tsan_fiber);
#endif
}

void block_runner::prepare(const launch_base &launch, uint64_t block_linear) {
  m_launch = &launch;
  m_count = launch.block[0] * launch.block[1] * launch.block[2];
  size_t stack_bytes = launch.options.stack_bytes;
  if (stack_bytes == 0) stack_bytes = launch_options::kDefaultStackBytes * (kSanitized ? 4 : 1);
  void *first_stack = m_stacks.capacity() ? m_stacks.top(0) : nullptr;
  m_stacks.reserve(m_count, stack_bytes);
  // What ASan keeps for a fiber between blocks belongs to its stack: new stacks start afresh.
  if (m_stacks.top(0) != first_stack) {
    for (lane &l : m_lanes) release_context(l.ctx);
  }
  // Lanes are only ever added (here, while no fiber runs, so moving them is safe), which lets each
  // lane slot keep its TSan fiber from block to block.
  if (m_lanes.size() < m_count) {
    [[maybe_unused]] size_t old = m_lanes.size();
    m_lanes.resize(m_count);
#if TTAP_SIMT_TSAN
    for (size_t i = old; i < m_lanes.size(); ++i) {
      m_lanes[i].ctx.tsan_fiber = __tsan_create_fiber(0);
      __tsan_set_fiber_name(m_lanes[i].ctx.tsan_fiber, "ttap simt thread");
    }
#endif
  }

  const unsigned *g = launch.grid;
  for (int d = 0; d < 3; ++d) {
    m_ids.block_dim[d] = launch.block[d];
    m_ids.grid_dim[d] = g[d];
  }
  m_ids.block_idx[0] = unsigned(block_linear % g[0]);
  m_ids.block_idx[1] = unsigned(block_linear / g[0] % g[1]);
  m_ids.block_idx[2] = unsigned(block_linear / (uint64_t(g[0]) * g[1]));

  size_t bytes = launch.dynamic_shared_bytes;
  m_ids.dynamic_shared_bytes = bytes;
  if (launch.options.poison_dynamic_shared) std::memset(m_ids.dynamic_shared, 0xff, bytes);

  const unsigned bx = launch.block[0], by = launch.block[1];
  for (unsigned i = 0; i < m_count; ++i) {
    lane &l = m_lanes[i];
    l.thread_idx[0] = i % bx;
    l.thread_idx[1] = i / bx % by;
    l.thread_idx[2] = i / (bx * by);
    l.linear = i;
    l.state = lane_state::runnable;
    l.barrier_gen = 0;
    make_context(l.ctx, m_stacks.top(i), m_stacks.stack_bytes(), &lane_main, &l);
  }
  m_runnable = m_count;
  m_exited = m_at_barrier = m_at_warp = 0;
  m_barrier_gen = 0;
  m_failed = false;
  m_error = status();
}

status block_runner::run(const launch_base &launch, uint64_t block_linear) {
  prepare(launch, block_linear);
  t_runner = this;
  t_block = &m_ids;
  // Everything this OS thread saw before (the launch's arguments, the previous block's use of the
  // same static shared memory) happens before the new block's threads start.
  tsan_acquire(&m_block_exit_sync);
  tsan_release(&m_block_start_sync);

  const bool reverse = launch.options.order == thread_order::reverse;
  status result;
  for (;;) {
    for (unsigned k = 0; k < m_count && !m_failed; ++k) {
      unsigned i = reverse ? m_count - 1 - k : k;
      lane &l = m_lanes[i];
      if (l.state != lane_state::runnable) continue;
      m_current = i;
      t_thread_idx = l.thread_idx;
      switch_context(m_scheduler, l.ctx);
    }
    if (m_failed) {
      tsan_acquire(&m_fail_sync);
      result = m_error;
      break;
    }
    if (m_runnable > 0) continue;
    if (m_exited == m_count) break;
    result = resolve_stall();
    if (!result.ok()) break;
  }

#if TTAP_SIMT_TSAN
  // Abandoned fibers never reach their exit: order what they did before whatever follows (the host
  // freeing the launch, the next block reusing their stacks) as an exit would, then replace them,
  // because their TSan shadow stacks still hold the frames they were in.
  if (!result.ok()) {
    for (unsigned i = 0; i < m_count; ++i) {
      if (m_lanes[i].state == lane_state::exited) continue;
      __tsan_switch_to_fiber(m_lanes[i].ctx.tsan_fiber, 1);
      __tsan_release(&m_block_exit_sync);
      __tsan_switch_to_fiber(m_scheduler.tsan_fiber, 1);
      __tsan_destroy_fiber(m_lanes[i].ctx.tsan_fiber);
      m_lanes[i].ctx.tsan_fiber = __tsan_create_fiber(0);
      __tsan_set_fiber_name(m_lanes[i].ctx.tsan_fiber, "ttap simt thread");
    }
  }
#endif
  tsan_acquire(&m_block_exit_sync);
  t_runner = nullptr;
  t_block = nullptr;
  t_thread_idx = nullptr;
  m_launch = nullptr;
  return result;
}

TTAP_SIMT_FIBER_ENTRY void block_runner::lane_main(void *arg) {
  lane &self = *static_cast<lane *>(arg);
  block_runner *r = t_runner;
  tsan_acquire(&r->m_block_start_sync);
  // A kernel that throws fails its block. The failure is recorded in the handler, but the fiber is
  // abandoned outside it and outside this lambda: a fiber left inside a catch block would leave the
  // OS thread's C++ exception state claiming a live exception, and strings alive in this frame
  // would leak.
  const bool threw = [&] {
    try {
      r->m_launch->invoke();
      return false;
    } catch (const std::exception &e) {
      r->record_failure(errc::exception,
                        r->where() + ": " + r->thread_name(self) + " threw " + e.what());
    } catch (...) {
      r->record_failure(errc::exception, r->where() + ": " + r->thread_name(self) +
                                             " threw an exception not derived from std::exception");
    }
    return true;
  }();
  if (threw) r->abandon_failed_fiber();
  r->on_lane_exit(self);
  tsan_release(&r->m_block_exit_sync);
  r->switch_to_scheduler(self, leave_kind::finish);
  std::abort();  // an exited fiber is never resumed
}

TTAP_SIMT_FIBER_ENTRY void block_runner::switch_to_scheduler(lane &self, leave_kind how) {
  switch_context(self.ctx, m_scheduler, how);
}

void block_runner::set_state(lane &l, lane_state state) {
  auto counter = [this](lane_state s) -> unsigned & {
    switch (s) {
      case lane_state::runnable:
        return m_runnable;
      case lane_state::at_barrier:
        return m_at_barrier;
      case lane_state::at_warp:
        return m_at_warp;
      case lane_state::exited:
        break;
    }
    return m_exited;
  };
  --counter(l.state);
  ++counter(state);
  l.state = state;
}

void block_runner::record_failure(errc code, std::string message) {
  m_error = status(code, std::move(message));
  m_failed = true;
}

void block_runner::abandon_failed_fiber() {
  // The scheduler reads the message this fiber built.
  tsan_release(&m_fail_sync);
  switch_to_scheduler(m_lanes[m_current], leave_kind::abandon);
  std::abort();  // a failed block's fibers are abandoned, never resumed
}

int block_runner::barrier(barrier_kind kind, int predicate, call_site site) {
  lane &self = m_lanes[m_current];
  self.barrier = kind;
  self.predicate = predicate;
  self.site = site;
  self.barrier_gen = m_barrier_gen;
  set_state(self, lane_state::at_barrier);
  // Two sync objects by generation parity: a thread that runs on to the next barrier releases into
  // the other one, so threads still leaving this barrier do not acquire its later writes.
  tsan_release(&m_barrier_sync[self.barrier_gen & 1]);
  switch_to_scheduler(self);
  tsan_acquire(&m_barrier_sync[self.barrier_gen & 1]);
  return self.barrier_result;
}

warp_reply block_runner::warp(const warp_request &req, call_site site) {
  lane &self = m_lanes[m_current];
  const unsigned warp = self.linear / kWarpSize, me = self.linear % kWarpSize;
  // Messages are built only on the error paths: this function runs once per lane per collective.
  auto call = [&] {
    return std::string(kind_name(req.kind)) + "(mask " + hex(req.mask) + ") at " +
           site_string(site);
  };
  if (!((req.mask >> me) & 1u)) {
    fail(errc::warp_misuse, [&] {
      return where() + ": " + thread_name(self) + " (lane " + std::to_string(me) + ") calls " +
             call() + " with a mask that does not name its own lane";
    });
  }
  if (is_shuffle(req.kind) &&
      (req.width < 1 || req.width > int(kWarpSize) || (req.width & (req.width - 1)) != 0)) {
    fail(errc::warp_misuse, [&] {
      return where() + ": " + thread_name(self) + " calls " + call() + " with width " +
             std::to_string(req.width) + "; the width must be a power of two from 1 to 32";
    });
  }
  if (strict_exits() && m_exited > 0) {
    for (unsigned j = 0; j < kWarpSize; ++j) {
      unsigned idx = warp * kWarpSize + j;
      if (!((req.mask >> j) & 1u) || idx >= m_count) continue;
      if (m_lanes[idx].state == lane_state::exited) {
        fail(errc::barrier_divergence, [&] {
          return where() + ": " + thread_name(self) + " calls " + call() + ", but lane " +
                 std::to_string(j) + " named in the mask (" + thread_name(m_lanes[idx]) +
                 ") has exited and will never arrive (exited_threads::report)";
        });
      }
    }
  }
  self.req = req;
  self.site = site;
  set_state(self, lane_state::at_warp);
  if (req.kind == warp_kind::sync) tsan_release(&self.sync_object);
  // The lane that completes the collective carries on without a switch; the others resume when the
  // scheduler's pass reaches them.
  if (!try_complete_warp_op(warp, req.mask, req.kind)) switch_to_scheduler(self);
  return self.reply;
}

bool block_runner::try_complete_warp_op(unsigned warp, unsigned mask, warp_kind kind) {
  for (unsigned j = 0; j < kWarpSize; ++j) {
    unsigned idx = warp * kWarpSize + j;
    if (!((mask >> j) & 1u) || idx >= m_count) continue;
    const lane &l = m_lanes[idx];
    if (l.state == lane_state::exited && !strict_exits()) continue;
    if (l.state != lane_state::at_warp || l.req.kind != kind || l.req.mask != mask) return false;
  }
  complete_warp_op(warp, mask);
  return true;
}

void block_runner::complete_warp_op(unsigned warp, unsigned mask) {
  // Participants: lanes named in the mask that exist and wait here (exited ones only count as
  // arrived).
  unsigned participants = 0;
  lane *lanes[kWarpSize] = {};
  for (unsigned j = 0; j < kWarpSize; ++j) {
    unsigned idx = warp * kWarpSize + j;
    if (!((mask >> j) & 1u) || idx >= m_count) continue;
    if (m_lanes[idx].state != lane_state::at_warp) continue;
    participants |= 1u << j;
    lanes[j] = &m_lanes[idx];
  }
  auto value_of = [&](unsigned j, unsigned bytes) {
    return ((participants >> j) & 1u) ? truncate(lanes[j]->req.value, bytes)
                                      : truncate(kPoison, bytes);
  };
  unsigned ballot = 0;
  for (unsigned j = 0; j < kWarpSize; ++j) {
    if (((participants >> j) & 1u) && lanes[j]->req.value != 0) ballot |= 1u << j;
  }

  for (unsigned i = 0; i < kWarpSize; ++i) {
    if (!((participants >> i) & 1u)) continue;
    lane &l = *lanes[i];
    const warp_request &r = l.req;
    const unsigned bytes = r.value_bytes;
    const uint64_t own = truncate(r.value, bytes);
    warp_reply reply{0, 0};
    // Shuffle source lanes follow PTX shfl.sync: width splits the warp into segments; up/down/xor
    // that leave the segment (xor: past its end) return the lane's own value.
    const int width = r.width;
    const int seg_start = int(i) & ~(width - 1);
    const int seg_end = seg_start + width;  // exclusive
    int src = -1;
    switch (r.kind) {
      case warp_kind::sync:
        break;
      case warp_kind::shfl_idx:
        src = seg_start + (r.arg & (width - 1));
        break;
      case warp_kind::shfl_up:
        src = int(i) - int(unsigned(r.arg));
        break;
      case warp_kind::shfl_down:
        src = int(i) + r.arg;
        break;
      case warp_kind::shfl_xor:
        src = int(i) ^ (r.arg & 31);
        break;
      case warp_kind::ballot:
        reply.value = ballot;
        break;
      case warp_kind::any:
        reply.value = ballot != 0;
        break;
      case warp_kind::all:
        reply.value = ballot == participants;
        break;
      case warp_kind::match_any:
        for (unsigned j = 0; j < kWarpSize; ++j) {
          if (((participants >> j) & 1u) && value_of(j, bytes) == own) reply.value |= 1u << j;
        }
        break;
      case warp_kind::match_all: {
        bool all_equal = true;
        for (unsigned j = 0; j < kWarpSize; ++j) {
          if (((participants >> j) & 1u) && value_of(j, bytes) != own) all_equal = false;
        }
        reply.value = all_equal ? participants : 0;
        reply.predicate = all_equal;
        break;
      }
      default: {
        // 32-bit reductions: unsigned, or signed for the int overloads of min and max.
        uint32_t acc = 0;
        bool first = true;
        for (unsigned j = 0; j < kWarpSize; ++j) {
          if (!((participants >> j) & 1u)) continue;
          uint32_t v = uint32_t(lanes[j]->req.value);
          if (first) {
            acc = v;
            first = false;
            continue;
          }
          switch (r.kind) {
            case warp_kind::reduce_add:
              acc += v;
              break;
            case warp_kind::reduce_min_u:
              acc = std::min(acc, v);
              break;
            case warp_kind::reduce_max_u:
              acc = std::max(acc, v);
              break;
            case warp_kind::reduce_min_s:
              acc = uint32_t(std::min(int32_t(acc), int32_t(v)));
              break;
            case warp_kind::reduce_max_s:
              acc = uint32_t(std::max(int32_t(acc), int32_t(v)));
              break;
            case warp_kind::reduce_and:
              acc &= v;
              break;
            case warp_kind::reduce_or:
              acc |= v;
              break;
            case warp_kind::reduce_xor:
              acc ^= v;
              break;
            default:
              break;
          }
        }
        reply.value = acc;
        break;
      }
    }
    if (is_shuffle(r.kind)) {
      bool outside = r.kind == warp_kind::shfl_up ? src < seg_start : src >= seg_end;
      if (r.kind == warp_kind::shfl_up && unsigned(r.arg) >= kWarpSize) outside = true;
      reply.value = outside ? own : value_of(unsigned(src), bytes);
    }
    l.reply = reply;
    set_state(l, lane_state::runnable);
  }

#if TTAP_SIMT_TSAN
  // __syncwarp orders memory among its lanes: every participant acquires every participant's
  // arrival. Done now, on each participant's TSan fiber in turn, because once they run on one of
  // them may reach its next __syncwarp and release writes that must not be ordered yet.
  if (lanes[std::countr_zero(participants)]->req.kind == warp_kind::sync) {
    for (unsigned i = 0; i < kWarpSize; ++i) {
      if (!((participants >> i) & 1u)) continue;
      __tsan_switch_to_fiber(lanes[i]->ctx.tsan_fiber, 1);
      for (unsigned j = 0; j < kWarpSize; ++j) {
        if ((participants >> j) & 1u) __tsan_acquire(&lanes[j]->sync_object);
      }
    }
    __tsan_switch_to_fiber(m_lanes[m_current].ctx.tsan_fiber, 1);
  }
#endif
}

void block_runner::on_lane_exit(lane &self) {
  set_state(self, lane_state::exited);
  const unsigned warp = self.linear / kWarpSize, me = self.linear % kWarpSize;
  for (unsigned j = 0; j < kWarpSize; ++j) {
    unsigned idx = warp * kWarpSize + j;
    if (idx >= m_count) break;
    lane &other = m_lanes[idx];
    if (other.state != lane_state::at_warp || !((other.req.mask >> me) & 1u)) continue;
    if (strict_exits()) {
      fail(errc::barrier_divergence, [&] {
        return where() + ": " + thread_name(self) + " (lane " + std::to_string(me) +
               ") exited while lane " + std::to_string(j) + " (" + thread_name(other) +
               ") waits for it at " + kind_name(other.req.kind) + "(mask " + hex(other.req.mask) +
               ") at " + site_string(other.site) + " (exited_threads::report)";
      });
    }
    try_complete_warp_op(warp, other.req.mask, other.req.kind);
  }
}

status block_runner::resolve_stall() {
  if (m_at_warp > 0) return deadlock_error();

  // Every live thread waits at a block barrier: they must all wait at the same one.
  struct site_group {
    call_site site;
    barrier_kind kind;
    unsigned count;
    const lane *first;
  };
  std::vector<site_group> groups;
  const lane *first_exited = nullptr;
  for (unsigned i = 0; i < m_count; ++i) {
    const lane &l = m_lanes[i];
    if (l.state == lane_state::exited) {
      if (!first_exited) first_exited = &l;
      continue;
    }
    auto it = std::find_if(groups.begin(), groups.end(), [&](const site_group &g) {
      return g.kind == l.barrier && same_site(g.site, l.site);
    });
    if (it == groups.end()) {
      groups.push_back({l.site, l.barrier, 1, &l});
    } else {
      ++it->count;
    }
  }
  auto group_text = [&](const site_group &g) {
    return std::to_string(g.count) + (g.count == 1 ? " thread" : " threads") + " at " +
           kind_name(g.kind) + " at " + site_string(g.site) + " (first: " + thread_name(*g.first) +
           ")";
  };
  if (groups.size() > 1) {
    std::string msg = where() +
                      ": barrier divergence: the threads of the block wait at different "
                      "barriers: ";
    for (size_t k = 0; k < groups.size(); ++k) msg += (k ? ", " : "") + group_text(groups[k]);
    if (m_exited) msg += ", and " + std::to_string(m_exited) + " exited";
    return status(errc::barrier_divergence, msg);
  }
  if (m_exited > 0 && strict_exits()) {
    return status(errc::barrier_divergence,
                  where() + ": barrier divergence: " + group_text(groups[0]) + ", but " +
                      std::to_string(m_exited) +
                      " threads of the block exited without reaching it" +
                      " (first: " + thread_name(*first_exited) +
                      "); a barrier must be reached by every thread of the block "
                      "(exited_threads::arrive accepts this, as GPUs do)");
  }

  unsigned true_count = 0;
  for (unsigned i = 0; i < m_count; ++i) {
    if (m_lanes[i].state == lane_state::at_barrier && m_lanes[i].predicate) ++true_count;
  }
  const unsigned waiting = m_at_barrier;
  int result = 0;
  switch (groups[0].kind) {
    case barrier_kind::sync:
      break;
    case barrier_kind::count:
      result = int(true_count);
      break;
    case barrier_kind::all:
      result = true_count == waiting;
      break;
    case barrier_kind::any:
      result = true_count > 0;
      break;
  }
  for (unsigned i = 0; i < m_count; ++i) {
    lane &l = m_lanes[i];
    if (l.state != lane_state::at_barrier) continue;
    l.barrier_result = result;
    set_state(l, lane_state::runnable);
  }
  ++m_barrier_gen;
  return status();
}

status block_runner::deadlock_error() const {
  const lane *waiter = nullptr;
  for (unsigned i = 0; i < m_count && !waiter; ++i) {
    if (m_lanes[i].state == lane_state::at_warp) waiter = &m_lanes[i];
  }
  const unsigned warp = waiter->linear / kWarpSize;
  std::string msg = where() + ": deadlock: no thread of the block can proceed; " +
                    thread_name(*waiter) + " (lane " + std::to_string(waiter->linear % kWarpSize) +
                    ") waits at " + kind_name(waiter->req.kind) + "(mask " + hex(waiter->req.mask) +
                    ") at " + site_string(waiter->site);
  unsigned missing = 0;
  for (unsigned j = 0; j < kWarpSize; ++j) {
    unsigned idx = warp * kWarpSize + j;
    if (!((waiter->req.mask >> j) & 1u) || idx >= m_count) continue;
    const lane &l = m_lanes[idx];
    if (l.state == lane_state::exited && !strict_exits()) continue;
    if (l.state == lane_state::at_warp && l.req.kind == waiter->req.kind &&
        l.req.mask == waiter->req.mask) {
      continue;
    }
    if (missing++ == 0) {
      msg += " for lane " + std::to_string(j) + " (" + thread_name(l) +
             "), which never arrives: it " + describe_wait(l);
    }
  }
  if (missing > 1)
    msg += "; " + std::to_string(missing - 1) + " more lanes of the mask are missing";
  return status(errc::deadlock, msg);
}

std::string block_runner::describe_wait(const lane &l) const {
  switch (l.state) {
    case lane_state::at_barrier:
      return std::string("waits at ") + kind_name(l.barrier) + " at " + site_string(l.site);
    case lane_state::at_warp:
      return std::string("waits at ") + kind_name(l.req.kind) + "(mask " + hex(l.req.mask) +
             ") at " + site_string(l.site);
    case lane_state::exited:
      return "has exited";
    case lane_state::runnable:
      break;
  }
  return "is running";
}

unsigned block_runner::active_mask() const {
  const lane &self = m_lanes[m_current];
  const unsigned warp = self.linear / kWarpSize;
  unsigned mask = 0;
  for (unsigned j = 0; j < kWarpSize; ++j) {
    unsigned idx = warp * kWarpSize + j;
    if (idx < m_count && m_lanes[idx].state != lane_state::exited) mask |= 1u << j;
  }
  return mask;
}

void block_runner::yield() { switch_to_scheduler(m_lanes[m_current]); }

void block_runner::fail_trap(call_site site) {
  fail(errc::trap, [&] {
    return where() + ": " + thread_name(m_lanes[m_current]) + " called __trap() at " +
           site_string(site);
  });
}

std::string block_runner::where() const {
  std::string s = m_launch->name.empty() ? "" : "kernel " + m_launch->name + ", ";
  s += "block (" + std::to_string(m_ids.block_idx[0]) + ",";
  s += std::to_string(m_ids.block_idx[1]) + ",";
  s += std::to_string(m_ids.block_idx[2]) + ")";
  return s;
}

std::string block_runner::thread_name(const lane &l) const {
  return "thread (" + std::to_string(l.thread_idx[0]) + "," + std::to_string(l.thread_idx[1]) +
         "," + std::to_string(l.thread_idx[2]) + ")";
}

// Device-side entry points (device_runtime.h).

int block_barrier(barrier_kind kind, int predicate, call_site site) {
  block_runner *r = t_runner;
  if (!r) not_in_kernel(kind_name(kind), site);
  return r->barrier(kind, predicate, site);
}

warp_reply warp_collective(const warp_request &req, call_site site) {
  block_runner *r = t_runner;
  if (!r) not_in_kernel(kind_name(req.kind), site);
  return r->warp(req, site);
}

unsigned active_mask() {
  block_runner *r = t_runner;
  if (!r) not_in_kernel("__activemask()", call_site());
  return r->active_mask();
}

void yield(unsigned nanoseconds) {
  block_runner *r = t_runner;
  if (!r) not_in_kernel("__nanosleep()", call_site());
  // Sleeping helps only a thread that waits for the world outside its block (the host, another
  // block); while other threads of the block can run, switching to them is the better wait.
  if (r->runnable_count() <= 1 && nanoseconds > 0) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min(nanoseconds, 1000000u)));
  }
  r->yield();
}

void trap(call_site site) {
  block_runner *r = t_runner;
  if (!r) not_in_kernel("__trap()", site);
  r->fail_trap(site);
}

void memory_fence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

long long clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace ttap::simt::detail
