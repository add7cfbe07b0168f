// The MPI interposer, through the standard profiling interface: MPI_Allreduce, MPI_Reduce,
// MPI_Reduce_scatter(_block), MPI_Iallreduce with MPI_Wait/MPI_Waitall, and MPI_Finalize. Each
// forwards to its PMPI_ twin with the arguments and the result untouched. The library is not linked
// against MPI: the PMPI functions are looked up when first needed, and no predefined MPI handle is
// referenced (in Open MPI they are symbols of libmpi), so a program without MPI loads it unchanged.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "collectors/inject/hook_runtime.h"
#include "collectors/inject/next_symbol.h"
#include "runtime/log.h"
#include "ttap/ttap.h"

#define TTAP_HOOK extern "C" __attribute__((visibility("default")))

namespace ttap::inject {
namespace {

// Looks up the PMPI function `name` and keeps it in `slot` (null when MPI has none). Out of line
// and cold: the hooks' common path is the load in pmpi().
[[gnu::noinline, gnu::cold]] void *resolve_pmpi(std::atomic<void *> &slot, const char *name) {
  void *p = find_next_definition(name);
  if (!p) ttap::warn_once(name, "hooks: %s not found: the MPI call cannot be forwarded", name);
  slot.store(p, std::memory_order_release);
  return p;
}

// The PMPI function `name` of type F, resolved once.
template <class F>
F pmpi(std::atomic<void *> &slot, const char *name) {
  void *p = slot.load(std::memory_order_acquire);
  if (!p) p = resolve_pmpi(slot, name);
  return reinterpret_cast<F>(p);
}

#define TTAP_PMPI(fn) pmpi<decltype(&::fn)>(fn##_slot, #fn)

// Whether a reduction of `count` elements goes straight to MPI. The hooks check it first, before
// the re-entry guard: a small call then costs a load, a compare and a tail call into MPI (no
// thread-local, no call into the hook runtime), so small-message latency stays MPI's own. Until a
// hooked call has read the threshold, calls take the hooked path, which checks it again. A
// negative count passes through too (MPI reports it).
inline bool pass_through(int count) {
  return count < 0 || uint64_t(count) < hooks_min_elements_known();
}

// The same check on the hooked path, with the threshold read.
bool below_threshold(int count) { return uint64_t(count) < hooks_min_elements(); }

std::atomic<void *> PMPI_Allreduce_slot, PMPI_Reduce_slot, PMPI_Reduce_scatter_slot,
    PMPI_Reduce_scatter_block_slot, PMPI_Iallreduce_slot, PMPI_Wait_slot, PMPI_Waitall_slot,
    PMPI_Finalize_slot, PMPI_Type_get_name_slot, PMPI_Comm_rank_slot, PMPI_Comm_size_slot;

// A datatype classified by its name (predefined types carry their MPI name), cached per handle.
// Names are portable across MPI implementations; the handles themselves are not.
struct datatype_info {
  int dtype = -1;  // ttap_dtype or -1
  std::string name;
};

// Built on first use and never destroyed, as is the table of pending requests below: a hooked call
// can come after static destruction began (from an atexit handler registered before the cache was
// built, which MPI_Finalize often is, or from another thread while the process exits).
struct datatype_cache {
  std::mutex mutex;
  std::unordered_map<uintptr_t, datatype_info> by_handle;
};

datatype_cache &datatypes() {
  static auto *cache = new datatype_cache;
  return *cache;
}

datatype_info classify(MPI_Datatype type) {
  uintptr_t key = 0;
  std::memcpy(&key, &type, sizeof type < sizeof key ? sizeof type : sizeof key);
  datatype_cache &cache = datatypes();
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.by_handle.find(key);
  if (it != cache.by_handle.end()) return it->second;
  datatype_info info;
  char name[MPI_MAX_OBJECT_NAME] = {};
  int length = 0;
  if (auto get_name = TTAP_PMPI(PMPI_Type_get_name); get_name && get_name(type, name, &length) == 0)
    info.name.assign(name, size_t(length > 0 ? length : 0));
  if (info.name.empty()) info.name = "derived";
  static const std::pair<const char *, int> kFloatTypes[] = {
      {"MPI_FLOAT", TTAP_F32},      {"MPI_REAL4", TTAP_F32},
      {"MPI_REAL", TTAP_F32},       {"MPI_DOUBLE", TTAP_F64},
      {"MPI_REAL8", TTAP_F64},      {"MPI_DOUBLE_PRECISION", TTAP_F64},
      {"MPIX_C_FLOAT16", TTAP_F16}, {"MPI_C_FLOAT16", TTAP_F16},
      {"MPIX_FLOAT16", TTAP_F16},   {"MPI_REAL2", TTAP_F16},
      {"MPIX_BFLOAT16", TTAP_BF16}, {"MPI_BFLOAT16", TTAP_BF16},
  };
  for (const auto &[n, d] : kFloatTypes)
    if (info.name == n) info.dtype = d;
  if (cache.by_handle.size() < 4096) cache.by_handle.emplace(key, info);
  return info;
}

int comm_rank(MPI_Comm comm) {
  int r = -1;
  if (auto f = TTAP_PMPI(PMPI_Comm_rank); !f || f(comm, &r) != 0) return -1;
  return r;
}

int comm_size_of(MPI_Comm comm) {
  int n = -1;
  if (auto f = TTAP_PMPI(PMPI_Comm_size); !f || f(comm, &n) != 0) return -1;
  return n;
}

void remember_comm(MPI_Comm comm) {
  const void *handle = reinterpret_cast<const void *>(uintptr_t(comm));
  if (!knows_comm(handle))
    note_comm(handle, comm_lib::mpi, comm_rank(comm), comm_size_of(comm), "first use", nullptr);
}

// The call as the hooks see it; sendbuf == MPI_IN_PLACE means the contribution is in recvbuf.
collective_call make_call(const char *op, const void *sendbuf, void *recvbuf, uint64_t count,
                          uint64_t result_count, MPI_Datatype type, MPI_Comm comm) {
  collective_call c;
  c.lib = comm_lib::mpi;
  c.op = op;
  c.comm = reinterpret_cast<const void *>(uintptr_t(comm));
  datatype_info info = classify(type);
  c.dtype = info.dtype;
  c.dtype_name = info.name;
  c.count = count;
  c.contribution = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
  c.result = recvbuf;
  c.result_count = result_count;
  c.reduction = true;
  return c;
}

// Requests of MPI_Iallreduce calls not yet waited for, by handle value. Requests completed some
// other way (MPI_Test) are never waited for: the table is bounded and forgets the oldest.
struct pending_request {
  call_ticket ticket;
  collective_call call;
  uint64_t order;
};

struct pending_table {
  std::mutex mutex;
  std::unordered_map<uint64_t, pending_request> requests;
  uint64_t next_order = 0;
};

pending_table &pending() {
  static auto *table = new pending_table;
  return *table;
}

std::atomic<size_t> g_pending_count{0};
constexpr size_t kMaxPending = 4096;

uint64_t request_key(MPI_Request r) {
  uint64_t key = 0;
  std::memcpy(&key, &r, sizeof r < sizeof key ? sizeof r : sizeof key);
  return key;
}

void add_pending(MPI_Request r, call_ticket ticket, collective_call call) {
  pending_table &table = pending();
  std::lock_guard<std::mutex> lock(table.mutex);
  auto &requests = table.requests;
  if (requests.size() >= kMaxPending) {
    auto oldest = requests.begin();
    for (auto it = requests.begin(); it != requests.end(); ++it)
      if (it->second.order < oldest->second.order) oldest = it;
    requests.erase(oldest);
  }
  requests[request_key(r)] = {std::move(ticket), std::move(call), table.next_order++};
  g_pending_count.store(requests.size());
}

bool take_pending(MPI_Request r, pending_request *out) {
  if (g_pending_count.load() == 0) return false;
  pending_table &table = pending();
  std::lock_guard<std::mutex> lock(table.mutex);
  auto it = table.requests.find(request_key(r));
  if (it == table.requests.end()) return false;
  *out = std::move(it->second);
  table.requests.erase(it);
  g_pending_count.store(table.requests.size());
  return true;
}

// Shared shape of the blocking reductions: record, forward, finish.
template <class Forward>
int blocking_reduction(collective_call call, MPI_Comm comm, Forward &&forward) {
  remember_comm(comm);
  call_ticket t = begin_call(call);
  int rc = forward();
  end_call(t, call, rc, true);
  return rc;
}

// The hooked calls above the threshold. They are out of line so that the entry points' small-
// message path has no guard object to destroy and compiles to a jump into MPI.

int hooked_allreduce(decltype(&PMPI_Allreduce) next, const void *sendbuf, void *recvbuf, int count,
                     MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
  hook_scope scope;
  if (!scope.outermost() || !hooks_active() || below_threshold(count))
    return next(sendbuf, recvbuf, count, datatype, op, comm);
  collective_call c =
      make_call("allreduce", sendbuf, recvbuf, uint64_t(count), uint64_t(count), datatype, comm);
  return blocking_reduction(std::move(c), comm,
                            [&] { return next(sendbuf, recvbuf, count, datatype, op, comm); });
}

int hooked_reduce(decltype(&PMPI_Reduce) next, const void *sendbuf, void *recvbuf, int count,
                  MPI_Datatype datatype, MPI_Op op, int root, MPI_Comm comm) {
  hook_scope scope;
  if (!scope.outermost() || !hooks_active() || below_threshold(count))
    return next(sendbuf, recvbuf, count, datatype, op, root, comm);
  const bool at_root = comm_rank(comm) == root;
  collective_call c = make_call("reduce", sendbuf, at_root ? recvbuf : nullptr, uint64_t(count),
                                at_root ? uint64_t(count) : 0, datatype, comm);
  c.root = root;
  return blocking_reduction(
      std::move(c), comm, [&] { return next(sendbuf, recvbuf, count, datatype, op, root, comm); });
}

int hooked_iallreduce(decltype(&PMPI_Iallreduce) next, const void *sendbuf, void *recvbuf,
                      int count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm,
                      MPI_Request *request) {
  hook_scope scope;
  if (!scope.outermost() || !hooks_active() || below_threshold(count) || !request)
    return next(sendbuf, recvbuf, count, datatype, op, comm, request);
  remember_comm(comm);
  collective_call c =
      make_call("iallreduce", sendbuf, recvbuf, uint64_t(count), uint64_t(count), datatype, comm);
  call_ticket t = begin_call(c);
  int rc = next(sendbuf, recvbuf, count, datatype, op, comm, request);
  end_call(t, c, rc, false);
  if (rc == MPI_SUCCESS && t.recorded) add_pending(*request, std::move(t), std::move(c));
  return rc;
}

// Whether some MPI_Iallreduce of ours has not been waited for: without one, MPI_Wait and
// MPI_Waitall (hot in point-to-point code) go straight to MPI.
bool have_pending() { return g_pending_count.load(std::memory_order_acquire) > 0; }

int hooked_wait(decltype(&PMPI_Wait) next, MPI_Request *request, MPI_Status *status) {
  hook_scope scope;
  pending_request p;
  // The handle is read before the call: MPI_Wait resets it to MPI_REQUEST_NULL.
  const bool ours = scope.outermost() && request && take_pending(*request, &p);
  int rc = next(request, status);
  if (ours && rc == MPI_SUCCESS) complete_call(p.ticket, p.call);
  return rc;
}

int hooked_waitall(decltype(&PMPI_Waitall) next, int count, MPI_Request requests[],
                   MPI_Status statuses[]) {
  hook_scope scope;
  std::vector<pending_request> ours;
  if (scope.outermost() && requests) {
    for (int i = 0; i < count; ++i) {
      pending_request p;
      if (take_pending(requests[i], &p)) ours.push_back(std::move(p));
    }
  }
  int rc = next(count, requests, statuses);
  if (rc == MPI_SUCCESS)
    for (const pending_request &p : ours) complete_call(p.ticket, p.call);
  return rc;
}

// The out-of-line halves of the entry points below: MPI not resolved yet, the threshold not read
// yet, or a call above it.
[[gnu::noinline]] int allreduce_entry(const void *sendbuf, void *recvbuf, int count,
                                      MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
  auto next = TTAP_PMPI(PMPI_Allreduce);
  if (!next) return MPI_ERR_INTERN;
  if (pass_through(count)) return next(sendbuf, recvbuf, count, datatype, op, comm);
  return hooked_allreduce(next, sendbuf, recvbuf, count, datatype, op, comm);
}

[[gnu::noinline]] int reduce_entry(const void *sendbuf, void *recvbuf, int count,
                                   MPI_Datatype datatype, MPI_Op op, int root, MPI_Comm comm) {
  auto next = TTAP_PMPI(PMPI_Reduce);
  if (!next) return MPI_ERR_INTERN;
  if (pass_through(count)) return next(sendbuf, recvbuf, count, datatype, op, root, comm);
  return hooked_reduce(next, sendbuf, recvbuf, count, datatype, op, root, comm);
}

[[gnu::noinline]] int iallreduce_entry(const void *sendbuf, void *recvbuf, int count,
                                       MPI_Datatype datatype, MPI_Op op, MPI_Comm comm,
                                       MPI_Request *request) {
  auto next = TTAP_PMPI(PMPI_Iallreduce);
  if (!next) return MPI_ERR_INTERN;
  if (pass_through(count)) return next(sendbuf, recvbuf, count, datatype, op, comm, request);
  return hooked_iallreduce(next, sendbuf, recvbuf, count, datatype, op, comm, request);
}

}  // namespace
}  // namespace ttap::inject

using namespace ttap::inject;

// The reductions that small messages take (MPI_Allreduce, MPI_Reduce, MPI_Iallreduce) have two
// halves. The entry point is the small-message path: once MPI is resolved and the threshold read,
// two loads, a compare and a tail jump into MPI, with no stack frame (callgrind, MPI_Allreduce of
// 1-1024 floats: 11 instructions in the hook per call; 21 when the entry point also resolved MPI
// and called the hooked path, which made the compiler save registers on every call). Everything
// else is in the out-of-line half.

TTAP_HOOK int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
                            MPI_Op op, MPI_Comm comm) {
  void *next = PMPI_Allreduce_slot.load(std::memory_order_acquire);
  if (next && pass_through(count)) [[likely]]
    return reinterpret_cast<decltype(&PMPI_Allreduce)>(next)(sendbuf, recvbuf, count, datatype, op,
                                                             comm);
  return allreduce_entry(sendbuf, recvbuf, count, datatype, op, comm);
}

TTAP_HOOK int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
                         MPI_Op op, int root, MPI_Comm comm) {
  void *next = PMPI_Reduce_slot.load(std::memory_order_acquire);
  if (next && pass_through(count)) [[likely]]
    return reinterpret_cast<decltype(&PMPI_Reduce)>(next)(sendbuf, recvbuf, count, datatype, op,
                                                          root, comm);
  return reduce_entry(sendbuf, recvbuf, count, datatype, op, root, comm);
}

TTAP_HOOK int MPI_Reduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[],
                                 MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
  auto next = TTAP_PMPI(PMPI_Reduce_scatter);
  if (!next) return MPI_ERR_INTERN;
  hook_scope scope;
  if (!scope.outermost() || !hooks_active() || !recvcounts)
    return next(sendbuf, recvbuf, recvcounts, datatype, op, comm);
  const int size = comm_size_of(comm), rank = comm_rank(comm);
  uint64_t total = 0;
  bool valid = size > 0 && rank >= 0;
  for (int i = 0; valid && i < size; ++i) {
    if (recvcounts[i] < 0) valid = false;
    total += uint64_t(recvcounts[i] < 0 ? 0 : recvcounts[i]);
  }
  if (!valid) return next(sendbuf, recvbuf, recvcounts, datatype, op, comm);
  collective_call c = make_call("reduce_scatter", sendbuf, recvbuf, total,
                                uint64_t(recvcounts[rank]), datatype, comm);
  // In place, the whole contribution sits in recvbuf before the call.
  return blocking_reduction(std::move(c), comm,
                            [&] { return next(sendbuf, recvbuf, recvcounts, datatype, op, comm); });
}

TTAP_HOOK int MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount,
                                       MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
  auto next = TTAP_PMPI(PMPI_Reduce_scatter_block);
  if (!next) return MPI_ERR_INTERN;
  hook_scope scope;
  const int size = scope.outermost() && hooks_active() ? comm_size_of(comm) : -1;
  if (size <= 0 || recvcount < 0) return next(sendbuf, recvbuf, recvcount, datatype, op, comm);
  collective_call c =
      make_call("reduce_scatter_block", sendbuf, recvbuf, uint64_t(recvcount) * uint64_t(size),
                uint64_t(recvcount), datatype, comm);
  return blocking_reduction(std::move(c), comm,
                            [&] { return next(sendbuf, recvbuf, recvcount, datatype, op, comm); });
}

TTAP_HOOK int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
                             MPI_Op op, MPI_Comm comm, MPI_Request *request) {
  void *next = PMPI_Iallreduce_slot.load(std::memory_order_acquire);
  if (next && pass_through(count)) [[likely]]
    return reinterpret_cast<decltype(&PMPI_Iallreduce)>(next)(sendbuf, recvbuf, count, datatype, op,
                                                              comm, request);
  return iallreduce_entry(sendbuf, recvbuf, count, datatype, op, comm, request);
}

TTAP_HOOK int MPI_Wait(MPI_Request *request, MPI_Status *status) {
  auto next = TTAP_PMPI(PMPI_Wait);
  if (!next) return MPI_ERR_INTERN;
  if (!have_pending()) return next(request, status);
  return hooked_wait(next, request, status);
}

TTAP_HOOK int MPI_Waitall(int count, MPI_Request requests[], MPI_Status statuses[]) {
  auto next = TTAP_PMPI(PMPI_Waitall);
  if (!next) return MPI_ERR_INTERN;
  if (!have_pending()) return next(count, requests, statuses);
  return hooked_waitall(next, count, requests, statuses);
}

TTAP_HOOK int MPI_Finalize(void) {
  auto next = TTAP_PMPI(PMPI_Finalize);
  if (!next) return MPI_ERR_INTERN;
  hook_scope scope;
  // Only a process that made a hooked call has anything to write.
  if (scope.outermost() && hooks_active() && hooks_in_use()) checkpoint("MPI_Finalize");
  return next();
}
