// The NCCL interposer: collectives, point-to-point calls, groups and communicator lifetime. Each
// entry point forwards to the next definition (the real NCCL, wherever it was loaded) with its
// arguments and return value untouched. NCCL's ABI is declared here (values from nccl.h, stable
// across NCCL 2.x) so that the library builds and loads without NCCL or CUDA.
#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "collectors/inject/hook_runtime.h"
#include "collectors/inject/next_symbol.h"
#include "kernels/dtype.h"
#include "runtime/log.h"
#include "ttap/ttap.h"

#define TTAP_HOOK extern "C" __attribute__((visibility("default")))

extern "C" {
typedef struct ncclComm *ncclComm_t;
typedef int ncclResult_t;    // enum ncclResult_t: ncclSuccess = 0
typedef int ncclDataType_t;  // enum ncclDataType_t
typedef int ncclRedOp_t;     // enum ncclRedOp_t (values past ncclNumOps are user-defined ops)
typedef struct ncclConfig ncclConfig_t;  // passed through, never read
typedef struct {
  char internal[128];  // NCCL_UNIQUE_ID_BYTES
} ncclUniqueId;
typedef struct CUstream_st *cudaStream_t;
}

namespace ttap::inject {
namespace {

constexpr ncclResult_t kNcclInternalError = 3;

template <class F>
F next_nccl(std::atomic<void *> &slot, const char *name) {
  void *p = slot.load(std::memory_order_acquire);
  if (!p) {
    p = find_next_definition(name);
    if (!p) ttap::warn_once(name, "hooks: %s not found: the NCCL call cannot be forwarded", name);
    slot.store(p, std::memory_order_release);
  }
  return reinterpret_cast<F>(p);
}

#define TTAP_NEXT(fn, type)                    \
  static std::atomic<void *> fn##_slot;        \
  auto next = next_nccl<type>(fn##_slot, #fn); \
  if (!next) return kNcclInternalError

// NCCL's data types in ncclDataType_t order: the floating point ones are tensortap dtypes (named
// by kernels/dtype.h's table); the integer ones are only named, for the flight recorder.
struct nccl_type {
  int dtype;                 // ttap_dtype, -1: not summarized
  const char *integer_name;  // when dtype is -1
};
constexpr nccl_type kNcclTypes[] = {
    {-1, "i8"},
    {-1, "u8"},
    {-1, "i32"},
    {-1, "u32"},
    {-1, "i64"},
    {-1, "u64"},
    {TTAP_F16, nullptr},
    {TTAP_F32, nullptr},
    {TTAP_F64, nullptr},
    {TTAP_BF16, nullptr},
    {TTAP_F8_E4M3, nullptr},
    {TTAP_F8_E5M2, nullptr},
};
constexpr int kNumNcclTypes = int(sizeof kNcclTypes / sizeof kNcclTypes[0]);

int dtype_of(ncclDataType_t t) { return t >= 0 && t < kNumNcclTypes ? kNcclTypes[t].dtype : -1; }

// "f32", "bf16", ..., "i32" (the --dtype spelling of the CLI for the floating point types).
const char *dtype_name(ncclDataType_t t) {
  if (t < 0 || t >= kNumNcclTypes) return "unknown";
  const nccl_type &type = kNcclTypes[t];
  return type.dtype < 0 ? type.integer_name : ttap::dtype_option_name(ttap::dtype(type.dtype));
}

const char *redop_name(ncclRedOp_t op) {
  static const char *const kNames[] = {"sum", "prod", "max", "min", "avg"};
  return op >= 0 && op < 5 ? kNames[op] : "custom";
}

// NCCL's grouping is per thread: collectives between ncclGroupStart and ncclGroupEnd are launched
// at the outermost ncclGroupEnd, so result summaries of grouped calls wait until then. The list
// lives on the heap, made at a group's first such call and freed at its end: the thread-local
// pointer has no destructor, so a group run from a TLS destructor or an atexit handler (after
// this thread's TLS destructors) finds no destroyed vector.
using grouped_results = std::vector<std::pair<call_ticket, collective_call>>;
thread_local int t_group_depth = 0;
thread_local grouped_results *t_grouped_results = nullptr;

// A thread that exits inside a group (ncclGroupStart without its ncclGroupEnd) leaves its list
// behind; a pthread key frees it. Key destructors run after the thread's C++ thread_local
// destructors, which may still add to the list, while its storage (t_grouped_results, trivially
// destructible) is still there; the list was never launched, so it is only freed.
void free_unfinished_group(void *list) {
  delete static_cast<grouped_results *>(list);
  t_grouped_results = nullptr;
}

struct group_key {
  pthread_key_t key;
  bool created;  // false when no key was left (PTHREAD_KEYS_MAX): such a list is not freed
};

const group_key &unfinished_group_key() {
  static const group_key k = [] {
    group_key g{};
    g.created = pthread_key_create(&g.key, free_unfinished_group) == 0;
    return g;
  }();
  return k;
}

grouped_results &grouped_results_of_thread() {
  if (!t_grouped_results) {
    t_grouped_results = new grouped_results;
    // Set on every new list: one made by another key's destructor after ours ran makes glibc run
    // the key destructors once more.
    if (const group_key &k = unfinished_group_key(); k.created)
      pthread_setspecific(k.key, t_grouped_results);
  }
  return *t_grouped_results;
}

// The thread's list at its group's end, no longer the key's to free.
std::unique_ptr<grouped_results> take_grouped_results() {
  if (const group_key &k = unfinished_group_key(); k.created) pthread_setspecific(k.key, nullptr);
  return std::unique_ptr<grouped_results>(std::exchange(t_grouped_results, nullptr));
}

using count_fn = ncclResult_t (*)(ncclComm_t, int *);

int query_comm(const char *which, ncclComm_t comm) {
  static std::atomic<void *> count_slot, rank_slot;
  const bool count = which[0] == 'c';
  count_fn f = next_nccl<count_fn>(count ? count_slot : rank_slot,
                                   count ? "ncclCommCount" : "ncclCommUserRank");
  int v = -1;
  if (!f || f(comm, &v) != 0) return -1;
  return v;
}

void remember_comm(ncclComm_t comm) {
  if (!knows_comm(comm))
    note_comm(comm, comm_lib::nccl, query_comm("rank", comm), query_comm("count", comm),
              "first use", nullptr);
}

int32_t size_of(ncclComm_t comm) {
  remember_comm(comm);
  return comm_size(comm);
}

// Whether `stream` is capturing a CUDA graph. The runtime API is used when the program has it,
// else the driver's; when neither answers (no driver) there can be no capture.
bool capturing(void *stream) {
  if (!stream) return false;  // the legacy default stream cannot capture
  using is_capturing_fn = int (*)(void *, int *);
  using clear_fn = int (*)();
  static const auto runtime_fn =
      reinterpret_cast<is_capturing_fn>(dlsym(RTLD_DEFAULT, "cudaStreamIsCapturing"));
  static const auto driver_fn = reinterpret_cast<is_capturing_fn>(
      runtime_fn ? nullptr : find_loaded_symbol("libcuda.so.1", "cuStreamIsCapturing"));
  is_capturing_fn f = runtime_fn ? runtime_fn : driver_fn;
  if (!f) return false;
  int status = 0;
  int rc = f(stream, &status);
  if (rc != 0) {
    // Our failed query must not leave an error for the program to find.
    static const auto clear = reinterpret_cast<clear_fn>(dlsym(RTLD_DEFAULT, "cudaGetLastError"));
    if (runtime_fn && clear) clear();
    static std::atomic<bool> said{false};
    if (!said.exchange(true))
      TTAP_INFO("hooks: cannot tell whether a stream is capturing (CUDA error %d): taken as not",
                rc);
    return false;
  }
  return status != 0;  // active, or invalidated (still inside a capture sequence)
}

collective_call make_call(const char *op, ncclComm_t comm, ncclDataType_t type, void *stream) {
  collective_call c;
  c.lib = comm_lib::nccl;
  c.op = op;
  c.comm = comm;
  c.dtype_name = dtype_name(type);
  c.stream = stream;
  c.in_group = t_group_depth > 0;
  c.capturing = capturing(stream);
  return c;
}

void make_reduction(collective_call &c, ncclDataType_t type, ncclRedOp_t op, const void *send,
                    uint64_t count, void *recv, uint64_t result_count) {
  c.reduction = true;
  c.dtype = dtype_of(type);
  c.redop = redop_name(op);
  c.contribution = send;
  c.count = count;
  c.result = recv;
  c.result_count = result_count;
}

template <class Forward>
ncclResult_t recorded(collective_call c, Forward &&forward) {
  remember_comm(static_cast<ncclComm_t>(const_cast<void *>(c.comm)));
  call_ticket t = begin_call(c);
  ncclResult_t r = forward();
  end_call(t, c, r, false);
  if (c.in_group && r == 0 && !t.result_name.empty())
    grouped_results_of_thread().emplace_back(std::move(t), std::move(c));
  return r;
}

bool recording(const hook_scope &scope) { return scope.outermost() && hooks_active(); }

}  // namespace
}  // namespace ttap::inject

using namespace ttap::inject;

TTAP_HOOK ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                                     ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                     cudaStream_t stream) {
  TTAP_NEXT(ncclAllReduce, decltype(&ncclAllReduce));
  hook_scope scope;
  if (!recording(scope)) return next(sendbuff, recvbuff, count, datatype, op, comm, stream);
  collective_call c = make_call("allreduce", comm, datatype, stream);
  make_reduction(c, datatype, op, sendbuff, count, recvbuff, count);
  return recorded(std::move(c),
                  [&] { return next(sendbuff, recvbuff, count, datatype, op, comm, stream); });
}

TTAP_HOOK ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
                                         ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                         cudaStream_t stream) {
  TTAP_NEXT(ncclReduceScatter, decltype(&ncclReduceScatter));
  hook_scope scope;
  if (!recording(scope)) return next(sendbuff, recvbuff, recvcount, datatype, op, comm, stream);
  collective_call c = make_call("reduce_scatter", comm, datatype, stream);
  const int32_t n = size_of(comm);
  // Without the communicator's size the contribution's extent is unknown: recorded, not summarized.
  make_reduction(c, datatype, op, n > 0 ? sendbuff : nullptr, n > 0 ? recvcount * uint64_t(n) : 0,
                 recvbuff, recvcount);
  return recorded(std::move(c),
                  [&] { return next(sendbuff, recvbuff, recvcount, datatype, op, comm, stream); });
}

TTAP_HOOK ncclResult_t ncclReduce(const void *sendbuff, void *recvbuff, size_t count,
                                  ncclDataType_t datatype, ncclRedOp_t op, int root,
                                  ncclComm_t comm, cudaStream_t stream) {
  TTAP_NEXT(ncclReduce, decltype(&ncclReduce));
  hook_scope scope;
  if (!recording(scope)) return next(sendbuff, recvbuff, count, datatype, op, root, comm, stream);
  collective_call c = make_call("reduce", comm, datatype, stream);
  remember_comm(comm);
  const bool at_root = query_comm("rank", comm) == root;
  make_reduction(c, datatype, op, sendbuff, count, at_root ? recvbuff : nullptr,
                 at_root ? count : 0);
  c.root = root;
  return recorded(std::move(c), [&] {
    return next(sendbuff, recvbuff, count, datatype, op, root, comm, stream);
  });
}

TTAP_HOOK ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount,
                                     ncclDataType_t datatype, ncclComm_t comm,
                                     cudaStream_t stream) {
  TTAP_NEXT(ncclAllGather, decltype(&ncclAllGather));
  hook_scope scope;
  if (!recording(scope)) return next(sendbuff, recvbuff, sendcount, datatype, comm, stream);
  collective_call c = make_call("allgather", comm, datatype, stream);
  c.count = sendcount;
  return recorded(std::move(c),
                  [&] { return next(sendbuff, recvbuff, sendcount, datatype, comm, stream); });
}

TTAP_HOOK ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
                                     ncclDataType_t datatype, int root, ncclComm_t comm,
                                     cudaStream_t stream) {
  TTAP_NEXT(ncclBroadcast, decltype(&ncclBroadcast));
  hook_scope scope;
  if (!recording(scope)) return next(sendbuff, recvbuff, count, datatype, root, comm, stream);
  collective_call c = make_call("broadcast", comm, datatype, stream);
  c.count = count;
  c.root = root;
  return recorded(std::move(c),
                  [&] { return next(sendbuff, recvbuff, count, datatype, root, comm, stream); });
}

TTAP_HOOK ncclResult_t ncclBcast(void *buff, size_t count, ncclDataType_t datatype, int root,
                                 ncclComm_t comm, cudaStream_t stream) {
  TTAP_NEXT(ncclBcast, decltype(&ncclBcast));
  hook_scope scope;
  if (!recording(scope)) return next(buff, count, datatype, root, comm, stream);
  collective_call c = make_call("broadcast", comm, datatype, stream);
  c.count = count;
  c.root = root;
  return recorded(std::move(c), [&] { return next(buff, count, datatype, root, comm, stream); });
}

TTAP_HOOK ncclResult_t ncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype,
                                int peer, ncclComm_t comm, cudaStream_t stream) {
  TTAP_NEXT(ncclSend, decltype(&ncclSend));
  hook_scope scope;
  if (!recording(scope)) return next(sendbuff, count, datatype, peer, comm, stream);
  collective_call c = make_call("send", comm, datatype, stream);
  c.count = count;
  c.peer = peer;
  return recorded(std::move(c),
                  [&] { return next(sendbuff, count, datatype, peer, comm, stream); });
}

TTAP_HOOK ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer,
                                ncclComm_t comm, cudaStream_t stream) {
  TTAP_NEXT(ncclRecv, decltype(&ncclRecv));
  hook_scope scope;
  if (!recording(scope)) return next(recvbuff, count, datatype, peer, comm, stream);
  collective_call c = make_call("recv", comm, datatype, stream);
  c.count = count;
  c.peer = peer;
  return recorded(std::move(c),
                  [&] { return next(recvbuff, count, datatype, peer, comm, stream); });
}

TTAP_HOOK ncclResult_t ncclGroupStart() {
  TTAP_NEXT(ncclGroupStart, decltype(&ncclGroupStart));
  ncclResult_t r = next();
  if (r == 0) ++t_group_depth;
  return r;
}

TTAP_HOOK ncclResult_t ncclGroupEnd() {
  TTAP_NEXT(ncclGroupEnd, decltype(&ncclGroupEnd));
  ncclResult_t r = next();
  // NCCL leaves the group even when ncclGroupEnd reports an error.
  if (t_group_depth > 0) --t_group_depth;
  if (t_group_depth == 0 && t_grouped_results) {
    const std::unique_ptr<grouped_results> grouped = take_grouped_results();
    hook_scope scope;
    if (r == 0 && recording(scope))
      for (const auto &[ticket, call] : *grouped) complete_call(ticket, call);
  }
  return r;
}

TTAP_HOOK ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId,
                                        int rank) {
  TTAP_NEXT(ncclCommInitRank, decltype(&ncclCommInitRank));
  ncclResult_t r = next(comm, nranks, commId, rank);
  hook_scope scope;
  if (r == 0 && comm && recording(scope))
    note_comm(*comm, comm_lib::nccl, rank, nranks, "init", nullptr);
  return r;
}

TTAP_HOOK ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId,
                                              int rank, ncclConfig_t *config) {
  TTAP_NEXT(ncclCommInitRankConfig, decltype(&ncclCommInitRankConfig));
  ncclResult_t r = next(comm, nranks, commId, rank, config);
  hook_scope scope;
  if (r == 0 && comm && recording(scope))
    note_comm(*comm, comm_lib::nccl, rank, nranks, "init", nullptr);
  return r;
}

TTAP_HOOK ncclResult_t ncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist) {
  TTAP_NEXT(ncclCommInitAll, decltype(&ncclCommInitAll));
  ncclResult_t r = next(comms, ndev, devlist);
  hook_scope scope;
  if (r == 0 && comms && recording(scope))
    for (int i = 0; i < ndev; ++i)
      note_comm(comms[i], comm_lib::nccl, i, ndev, "init_all", nullptr);
  return r;
}

TTAP_HOOK ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm,
                                     ncclConfig_t *config) {
  TTAP_NEXT(ncclCommSplit, decltype(&ncclCommSplit));
  ncclResult_t r = next(comm, color, key, newcomm, config);
  hook_scope scope;
  // A rank that passes NCCL_SPLIT_NOCOLOR gets no communicator (NULL).
  if (r == 0 && newcomm && *newcomm && recording(scope))
    note_comm(*newcomm, comm_lib::nccl, query_comm("rank", *newcomm), query_comm("count", *newcomm),
              "split", comm);
  return r;
}

TTAP_HOOK ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  TTAP_NEXT(ncclCommDestroy, decltype(&ncclCommDestroy));
  hook_scope scope;
  if (recording(scope)) note_comm_destroyed(comm);
  return next(comm);
}

TTAP_HOOK ncclResult_t ncclCommAbort(ncclComm_t comm) {
  TTAP_NEXT(ncclCommAbort, decltype(&ncclCommAbort));
  hook_scope scope;
  if (recording(scope)) note_comm_destroyed(comm);
  return next(comm);
}
