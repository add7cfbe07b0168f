// The block scheduler of the SIMT emulator (internal): runs the threads of one block as fibers on
// the calling OS thread, implements __syncthreads and the warp collectives as barriers, and reports
// barrier divergence, warp-mask misuse and deadlock as errors instead of hanging.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/simt/device_runtime.h"
#include "kernels/simt/fiber.h"
#include "kernels/simt/launch.h"
#include "kernels/simt/status.h"

namespace ttap::simt::detail {

// One per worker OS thread; runs one block at a time and keeps its fiber stacks and shared memory
// buffer from block to block.
//
// Scheduling: a pass runs every runnable thread in launch order (forward or reverse), each until it
// blocks at a barrier or warp collective, or exits. Warp collectives complete as soon as the last
// lane named in the mask arrives. When a pass leaves nothing runnable, the block is stalled: if all
// live threads wait at the same __syncthreads the barrier opens, otherwise the stall is an error
// (divergence, exited threads under exited_threads::report, or deadlock) and the block is
// abandoned.
class block_runner {
 public:
  block_runner();
  ~block_runner();
  block_runner(const block_runner &) = delete;
  block_runner &operator=(const block_runner &) = delete;

  // Runs block `block_linear` (x fastest) of `launch` to completion on this OS thread.
  status run(const launch_base &launch, uint64_t block_linear);

  // Device-side entry points, called on a fiber of this runner through device_runtime.h.
  int barrier(barrier_kind kind, int predicate, call_site site);
  warp_reply warp(const warp_request &req, call_site site);
  unsigned active_mask() const;
  void yield();
  unsigned runnable_count() const { return m_runnable; }
  // Ends the block with an error. The running fiber is abandoned, never resumed, so its stack is
  // never unwound: an owning object alive on it (a message's temporary strings) would leak. The
  // message is therefore built by `message()` in here and destroyed before the switch.
  template <class BuildMessage>
  [[noreturn]] void fail(errc code, BuildMessage &&message) {
    record_failure(code, message());
    abandon_failed_fiber();
  }
  [[noreturn]] void fail_trap(call_site site);

 private:
  enum class lane_state : uint8_t { runnable, at_barrier, at_warp, exited };

  struct lane {
    unsigned thread_idx[3];
    unsigned linear;
    lane_state state;
    call_site site;  // where it waits
    barrier_kind barrier;
    int predicate;
    int barrier_result;
    unsigned barrier_gen;  // which barrier generation it waits at (TSan sync object parity)
    warp_request req;
    warp_reply reply;
    char sync_object;  // TSan: its arrivals at __syncwarp release here
    context ctx;
  };

  static void lane_main(void *arg);
  void prepare(const launch_base &launch, uint64_t block_linear);
  void switch_to_scheduler(lane &self, leave_kind how = leave_kind::suspend);
  void record_failure(errc code, std::string message);
  [[noreturn]] void abandon_failed_fiber();  // leave_kind::abandon: self is never resumed
  void set_state(lane &l, lane_state state);
  bool try_complete_warp_op(unsigned warp, unsigned mask, warp_kind kind);
  void complete_warp_op(unsigned warp, unsigned mask);
  void on_lane_exit(lane &self);
  // Called when nothing is runnable: opens the barrier all threads wait at, or returns the error.
  status resolve_stall();
  status deadlock_error() const;

  unsigned lane_count_in_warp(unsigned warp) const;
  bool strict_exits() const { return m_launch->options.exited == exited_threads::report; }
  std::string where() const;                     // "kernel k, block (x,y,z)"
  std::string thread_name(const lane &l) const;  // "thread (x,y,z)"
  std::string describe_wait(const lane &l) const;

  context m_scheduler;
  stack_pool m_stacks;
  std::vector<lane> m_lanes;
  std::unique_ptr<unsigned char[]> m_shared_storage;
  block_ids m_ids{};
  const launch_base *m_launch = nullptr;
  unsigned m_count = 0;  // threads in the block
  unsigned m_current = 0;
  unsigned m_runnable = 0;
  unsigned m_exited = 0;
  unsigned m_at_barrier = 0;
  unsigned m_at_warp = 0;
  unsigned m_barrier_gen = 0;  // barriers opened so far in this block
  bool m_failed = false;
  status m_error;
  // TSan sync objects (only their addresses matter): barrier arrivals release and departures
  // acquire one of two by generation parity; block starts and exits order consecutive blocks of
  // this OS thread, which reuse the same static shared memory.
  char m_barrier_sync[2] = {};
  char m_block_start_sync = 0;
  char m_block_exit_sync = 0;
  char m_fail_sync = 0;  // a failing fiber's error message, handed to the scheduler
};

}  // namespace ttap::simt::detail
