/* A stand-in for NCCL, built for the hook tests: the NCCL API for a single rank over host
 * buffers (a reduction over one rank is a copy), so that the NCCL interposer can be tested end to
 * end without a GPU. It records the arguments of the last call it received, so a test can check
 * that the interposer passed them on unchanged. ncclReduce is implemented by calling ncclAllReduce
 * through the dynamic linker, which is a hooked call made from inside a hooked call.
 *
 * Several ranks in one process, for `ttap selftest`'s group check on the emulated device: the
 * communicators of ncclCommInitAll(ndev > 1) are driven one thread per rank, as an NCCL program
 * drives every local GPU. A collective of theirs completes when every rank has called it; the last
 * to arrive combines every rank's send buffer into every receive buffer. Across ranks only what
 * tensortap's group uses is supported: ncclCommSplit (every rank the same color), ncclAllReduce of
 * float32/float64 (sum, max) and ncclAllGather; anything else returns ncclInvalidUsage. */
#include "nccl_standin.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STANDIN_API __attribute__((visibility("default")))
enum { kMagic = 0x5eed, kMaxHubRanks = 64, kMaxSplits = 16 };

/* The ranks of one multi-rank communicator. Hubs are kept on a global list and never freed: a
 * split of a destroyed communicator's hub may still be asked for by a slower rank. */
struct hub {
  pthread_mutex_t mutex;
  pthread_cond_t done;
  int nranks, arrived;
  unsigned long generation;
  const char *fn;
  size_t count;
  int dtype, op, mismatch;
  ncclResult_t result;
  const void *send[kMaxHubRanks];
  void *recv[kMaxHubRanks];
  struct hub *splits[kMaxSplits];
  struct hub *next_hub;
};

struct ncclComm {
  int magic;
  int rank;
  int nranks;
  struct hub *hub; /* NULL for a single rank */
  int splits;      /* ncclCommSplit calls made on it so far */
};

static pthread_mutex_t g_hubs_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct hub *g_hubs;

static struct standin_call g_last;
static int g_group_depth;
static const void *g_pending_send;
static size_t g_pending_bytes;

STANDIN_API const struct standin_call *standin_last_call(void) { return &g_last; }

static size_t element_size(ncclDataType_t t) {
  static const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  return t >= 0 && t < 12 ? sizes[t] : 0;
}

static int valid(ncclComm_t comm) { return comm && comm->magic == kMagic; }

static pthread_mutex_t g_last_mutex = PTHREAD_MUTEX_INITIALIZER;

static void remember(const char *fn, const void *send, void *recv, size_t count, int dtype, int op,
                     int root, int peer, ncclComm_t comm, void *stream) {
  pthread_mutex_lock(&g_last_mutex);
  g_last.fn = fn;
  g_last.send = send;
  g_last.recv = recv;
  g_last.count = count;
  g_last.dtype = dtype;
  g_last.op = op;
  g_last.root = root;
  g_last.peer = peer;
  g_last.comm = comm;
  g_last.stream = stream;
  pthread_mutex_unlock(&g_last_mutex);
}

static struct hub *new_hub(int nranks) {
  struct hub *h = calloc(1, sizeof *h);
  pthread_mutex_init(&h->mutex, NULL);
  pthread_cond_init(&h->done, NULL);
  h->nranks = nranks;
  pthread_mutex_lock(&g_hubs_mutex);
  h->next_hub = g_hubs;
  g_hubs = h;
  pthread_mutex_unlock(&g_hubs_mutex);
  return h;
}

/* Runs by the last rank to arrive, every rank's buffers in place: reads every send buffer before
 * writing any receive buffer (the calls are in place). */
static ncclResult_t combine(struct hub *h) {
  const size_t size = element_size((ncclDataType_t)h->dtype);
  const int gather = !strcmp(h->fn, "ncclAllGather");
  const size_t bytes = h->count * size * (gather ? (size_t)h->nranks : 1);
  unsigned char *acc = malloc(bytes ? bytes : 1);
  if (gather) {
    for (int r = 0; r < h->nranks; ++r)
      memcpy(acc + (size_t)r * h->count * size, h->send[r], h->count * size);
  } else {
    const int f64 = h->dtype == ncclFloat64;
    if ((!f64 && h->dtype != ncclFloat32) || (h->op != ncclSum && h->op != ncclMax)) {
      free(acc);
      return ncclInvalidUsage;
    }
    memcpy(acc, h->send[0], bytes);
    for (int r = 1; r < h->nranks; ++r) {
      for (size_t i = 0; i < h->count; ++i) {
        double a = f64 ? ((double *)acc)[i] : ((float *)acc)[i];
        double b = f64 ? ((const double *)h->send[r])[i] : ((const float *)h->send[r])[i];
        double v = h->op == ncclSum ? a + b : (b > a ? b : a);
        if (f64)
          ((double *)acc)[i] = v;
        else
          ((float *)acc)[i] = (float)v;
      }
    }
  }
  for (int r = 0; r < h->nranks; ++r) memcpy(h->recv[r], acc, bytes);
  free(acc);
  return ncclSuccess;
}

/* A collective of a multi-rank communicator: waits for every rank (a generation barrier). */
static ncclResult_t meet(ncclComm_t comm, const char *fn, const void *send, void *recv,
                         size_t count, ncclDataType_t t, int op) {
  struct hub *h = comm->hub;
  if (!element_size(t) || count == SIZE_MAX) return ncclInvalidArgument;
  pthread_mutex_lock(&h->mutex);
  const unsigned long generation = h->generation;
  if (h->arrived == 0) {
    h->fn = fn;
    h->count = count;
    h->dtype = t;
    h->op = op;
    h->mismatch = 0;
  } else if (strcmp(h->fn, fn) || h->count != count || h->dtype != (int)t || h->op != op) {
    h->mismatch = 1;
  }
  h->send[comm->rank] = send;
  h->recv[comm->rank] = recv;
  if (++h->arrived == h->nranks) {
    h->result = h->mismatch ? ncclInvalidUsage : combine(h);
    h->arrived = 0;
    ++h->generation;
    pthread_cond_broadcast(&h->done);
  } else {
    while (h->generation == generation) pthread_cond_wait(&h->done, &h->mutex);
  }
  /* Read before this rank can arrive at the next collective, the only one that could set it. */
  const ncclResult_t result = h->result;
  pthread_mutex_unlock(&h->mutex);
  return result;
}

static ncclResult_t copy(const void *send, void *recv, size_t count, ncclDataType_t t) {
  if (count == SIZE_MAX || !element_size(t)) return ncclInvalidArgument;
  if (send != recv && count) memmove(recv, send, count * element_size(t));
  return ncclSuccess;
}

STANDIN_API ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
  memset(id, 7, sizeof *id);
  return ncclSuccess;
}

static ncclResult_t new_comm(ncclComm_t *comm, int nranks, int rank) {
  if (!comm || nranks != 1 || rank != 0) return ncclInvalidArgument;
  *comm = calloc(1, sizeof **comm);
  (*comm)->magic = kMagic;
  (*comm)->nranks = 1;
  return ncclSuccess;
}

static ncclComm_t new_hub_comm(struct hub *h, int rank) {
  ncclComm_t comm = calloc(1, sizeof *comm);
  comm->magic = kMagic;
  comm->rank = rank;
  comm->nranks = h->nranks;
  comm->hub = h;
  return comm;
}

STANDIN_API ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
  (void)id;
  return new_comm(comm, nranks, rank);
}

STANDIN_API ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId id,
                                                int rank, void *config) {
  (void)id;
  (void)config;
  return new_comm(comm, nranks, rank);
}

STANDIN_API ncclResult_t ncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist) {
  (void)devlist;
  if (!comms || ndev < 1 || ndev > kMaxHubRanks) return ncclInvalidArgument;
  if (ndev == 1) return new_comm(comms, 1, 0);
  struct hub *h = new_hub(ndev);
  for (int r = 0; r < ndev; ++r) comms[r] = new_hub_comm(h, r);
  return ncclSuccess;
}

STANDIN_API ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm,
                                       void *config) {
  (void)key;
  (void)config;
  if (!valid(comm) || !newcomm) return ncclInvalidArgument;
  if (color < 0) {
    *newcomm = NULL;
    return ncclSuccess;
  }
  if (!comm->hub) return new_comm(newcomm, 1, 0);
  /* The k-th split of every rank is one new communicator of the same ranks. */
  struct hub *h = comm->hub;
  pthread_mutex_lock(&h->mutex);
  const int k = comm->splits++;
  if (k < kMaxSplits && !h->splits[k]) h->splits[k] = new_hub(h->nranks);
  struct hub *child = k < kMaxSplits ? h->splits[k] : NULL;
  pthread_mutex_unlock(&h->mutex);
  if (!child) return ncclInternalError;
  *newcomm = new_hub_comm(child, comm->rank);
  return ncclSuccess;
}

STANDIN_API ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (!valid(comm)) return ncclInvalidArgument;
  comm->magic = 0;
  free(comm);
  return ncclSuccess;
}

STANDIN_API ncclResult_t ncclCommAbort(ncclComm_t comm) { return ncclCommDestroy(comm); }

STANDIN_API ncclResult_t ncclCommCount(const ncclComm_t comm, int *count) {
  if (!valid(comm) || !count) return ncclInvalidArgument;
  *count = comm->nranks;
  return ncclSuccess;
}

STANDIN_API ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank) {
  if (!valid(comm) || !rank) return ncclInvalidArgument;
  *rank = comm->rank;
  return ncclSuccess;
}

STANDIN_API ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t t,
                                       ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  remember("ncclAllReduce", send, recv, count, t, op, -1, -1, comm, stream);
  if (!valid(comm)) return ncclInvalidArgument;
  if (comm->hub) return meet(comm, "ncclAllReduce", send, recv, count, t, op);
  return copy(send, recv, count, t);
}

STANDIN_API ncclResult_t ncclReduce(const void *send, void *recv, size_t count, ncclDataType_t t,
                                    ncclRedOp_t op, int root, ncclComm_t comm,
                                    cudaStream_t stream) {
  if (!valid(comm) || root != 0) return ncclInvalidArgument;
  /* Through the PLT: an interposer sees this as a call nested in its ncclReduce hook. */
  ncclResult_t r = ncclAllReduce(send, recv, count, t, op, comm, stream);
  remember("ncclReduce", send, recv, count, t, op, root, -1, comm, stream);
  return r;
}

STANDIN_API ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t recvcount,
                                           ncclDataType_t t, ncclRedOp_t op, ncclComm_t comm,
                                           cudaStream_t stream) {
  remember("ncclReduceScatter", send, recv, recvcount, t, op, -1, -1, comm, stream);
  if (!valid(comm)) return ncclInvalidArgument;
  if (comm->hub) return ncclInvalidUsage;
  return copy(send, recv, recvcount, t);
}

STANDIN_API ncclResult_t ncclAllGather(const void *send, void *recv, size_t sendcount,
                                       ncclDataType_t t, ncclComm_t comm, cudaStream_t stream) {
  remember("ncclAllGather", send, recv, sendcount, t, -1, -1, -1, comm, stream);
  if (!valid(comm)) return ncclInvalidArgument;
  if (comm->hub) return meet(comm, "ncclAllGather", send, recv, sendcount, t, -1);
  return copy(send, recv, sendcount, t);
}

STANDIN_API ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t t,
                                       int root, ncclComm_t comm, cudaStream_t stream) {
  remember("ncclBroadcast", send, recv, count, t, -1, root, -1, comm, stream);
  if (!valid(comm) || root != 0) return ncclInvalidArgument;
  if (comm->hub) return ncclInvalidUsage;
  return copy(send, recv, count, t);
}

STANDIN_API ncclResult_t ncclBcast(void *buff, size_t count, ncclDataType_t t, int root,
                                   ncclComm_t comm, cudaStream_t stream) {
  return ncclBroadcast(buff, buff, count, t, root, comm, stream);
}

STANDIN_API ncclResult_t ncclSend(const void *send, size_t count, ncclDataType_t t, int peer,
                                  ncclComm_t comm, cudaStream_t stream) {
  remember("ncclSend", send, NULL, count, t, -1, -1, peer, comm, stream);
  if (!valid(comm) || peer != 0 || !element_size(t)) return ncclInvalidArgument;
  if (comm->hub) return ncclInvalidUsage;
  g_pending_send = send;
  g_pending_bytes = count * element_size(t);
  return ncclSuccess;
}

STANDIN_API ncclResult_t ncclRecv(void *recv, size_t count, ncclDataType_t t, int peer,
                                  ncclComm_t comm, cudaStream_t stream) {
  remember("ncclRecv", NULL, recv, count, t, -1, -1, peer, comm, stream);
  if (!valid(comm) || peer != 0 || !g_pending_send || count * element_size(t) != g_pending_bytes)
    return ncclInvalidArgument;
  if (comm->hub) return ncclInvalidUsage;
  memmove(recv, g_pending_send, g_pending_bytes);
  g_pending_send = NULL;
  return ncclSuccess;
}

STANDIN_API ncclResult_t ncclGroupStart(void) {
  ++g_group_depth;
  return ncclSuccess;
}

STANDIN_API ncclResult_t ncclGroupEnd(void) {
  if (g_group_depth == 0) return ncclInvalidUsage;
  --g_group_depth;
  return ncclSuccess;
}

STANDIN_API const char *ncclGetErrorString(ncclResult_t r) {
  return r == ncclSuccess ? "no error" : "stand-in error";
}
