// What the MPI and NCCL interposers share: the re-entry guard, the lazily opened tensortap session
// (through the public C API of the libttap already in the process, or loaded on first use), step
// inference, the sampling decision per step, the flight recorder and its dumps (exit, SIGUSR1,
// MPI_Finalize). Nothing here runs before the first hooked call: a program that makes none sees no
// thread, no signal handler, no file and no extra library.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace ttap::inject {

enum class comm_lib { mpi, nccl };

// One collective or point-to-point call as a hook sees it, before forwarding it.
struct collective_call {
  comm_lib lib = comm_lib::mpi;
  const char *op = "";     // "allreduce", "reduce_scatter", "send", ...: static strings
  const char *redop = "";  // "sum", ...: "" when unknown or not a reduction
  const void *comm = nullptr;
  int dtype = -1;          // a ttap_dtype when the data is floating point tensortap summarizes
  std::string dtype_name;  // for the flight recorder: "f32", "MPI_INT", ...
  uint64_t count = 0;      // elements of this rank's contribution
  const void *contribution = nullptr;  // holds the contribution before the call
  const void *result = nullptr;        // holds the result after the call (null: none here)
  uint64_t result_count = 0;
  int32_t root = -1;
  int32_t peer = -1;
  void *stream = nullptr;  // NCCL: the cudaStream_t the collective is enqueued on
  bool reduction = false;  // gradients pass here: summarized, and used to infer steps
  bool in_group = false;   // NCCL group: launched at ncclGroupEnd
  bool capturing = false;  // NCCL: the stream is capturing a CUDA graph: no summary
};

// What begin_call() decided, for the hook to finish the call with.
struct call_ticket {
  bool recorded = false;
  const void *comm = nullptr;
  uint64_t seq = 0;
  int64_t step = -1;
  std::string result_name;  // non-empty: summarize the result once the call has completed
};

// True for the outermost hooked call on this thread only; nested hooked calls (a library calling
// MPI or NCCL from inside a hooked call, tensortap's own calls) pass straight through.
class hook_scope {
 public:
  hook_scope();
  ~hook_scope();
  hook_scope(const hook_scope &) = delete;
  hook_scope &operator=(const hook_scope &) = delete;
  bool outermost() const { return m_outermost; }

 private:
  bool m_outermost;
};

// Whether this copy of the library records anything: false in a secondary copy (the library loaded
// twice from two files: the first copy in the lookup order does the work), and in a forked child.
bool hooks_active();

// TTAP_HOOKS_MIN_ELEMENTS (default 4096), read once: reductions of fewer elements are passed
// straight to the library, untouched by the hooks (not summarized, not in the flight recorder,
// not part of the step inference), so small-message latency is the library's own.
uint64_t hooks_min_elements();

namespace detail {
extern std::atomic<uint64_t> g_known_min_elements;
}

// hooks_min_elements() once a hooked call has read it, 0 before. For the hooks' small-message
// path, checked before anything else: a plain load, no call, no guard, no thread-local, so a small
// call costs a compare and a jump into the library. The hooked path checks the real value.
inline uint64_t hooks_min_elements_known() {
  return detail::g_known_min_elements.load(std::memory_order_relaxed);
}

// Whether a call has been recorded in this process (the flight recorder has something to write).
bool hooks_in_use();

// Records the call (flight recorder, step) and summarizes its contribution when the step is
// sampled. Call before forwarding.
call_ticket begin_call(const collective_call &call);
// The call returned with `status` (0: success). completed: the operation itself is done (blocking
// MPI); false for enqueued work (NCCL, MPI_Iallreduce). Summarizes the result when asked and
// completed or device-ordered (NCCL: enqueued on the stream after the collective).
void end_call(const call_ticket &ticket, const collective_call &call, int status, bool completed);
// A nonblocking call finished later (MPI_Wait): completion time and, if asked, the result summary.
void complete_call(const call_ticket &ticket, const collective_call &call);

// Communicators, for the flight recorder.
void note_comm(const void *comm, comm_lib lib, int32_t rank, int32_t size, const char *origin,
               const void *parent);
void note_comm_destroyed(const void *comm);
bool knows_comm(const void *comm);
int32_t comm_size(const void *comm);

// The NVTX step range opened (the NVTX injection calls this for every range it sees opened).
void range_opened(const char *name);

// MPI_Finalize: writes the flight recorder and commits the store while the job is still whole.
void checkpoint(const char *reason);

// For the CUPTI injection: a scalar into the session (opened on first use), and a listener told
// of each new step (from the hooking thread, with no lock held).
void store_scalar(const std::string &name, double value, int64_t step);
void set_step_listener(void (*listener)(int64_t step));
// Called at process exit before the session closes (CUPTI flushes its last records here).
void set_exit_listener(void (*listener)());

// Wall clock, s since the Unix epoch.
double wall_time();

}  // namespace ttap::inject
