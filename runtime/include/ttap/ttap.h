/* tensortap's public C API: watch tensors of a training run, sample their summaries on the device
 * (or the host) without stalling the trainer, and keep them in a crash-safe store with alerts.
 *
 * Every function returns a ttap_status; on failure ttap_last_error() gives the detailed message
 * (thread-local, valid until the next tensortap call on the same thread). No function throws,
 * aborts or exits the process, with one documented exception: the option on_nonfinite=abort.
 *
 * Thread safety: a session may be used from several threads; calls on one session are serialized
 * internally. Different sessions are independent.
 *
 * Blocking: ttap_step, ttap_observe and ttap_log_scalar never wait for the device or for disk I/O.
 * Host tensors are summarized by the cpu executor before the call returns (that is computation,
 * not waiting); device tensors are summarized asynchronously on the given stream. ttap_flush and
 * ttap_close wait for samples in flight and for the store. */
#ifndef TTAP_TTAP_H
#define TTAP_TTAP_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define TTAP_API
#else
#define TTAP_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; ttap_get_version() gives the library's, which may be newer. */
#define TTAP_VERSION_MAJOR 0
#define TTAP_VERSION_MINOR 1
#define TTAP_VERSION_PATCH 0
#define TTAP_VERSION(major, minor, patch) ((major)*10000 + (minor)*100 + (patch))
#define TTAP_VERSION_CODE TTAP_VERSION(TTAP_VERSION_MAJOR, TTAP_VERSION_MINOR, TTAP_VERSION_PATCH)

/* An opened session. The handle is opaque: it is never dereferenced by the caller, and ttap_close
 * frees what is behind it. A closed handle stays recognizable (every call with it returns
 * INVALID_ARGUMENT, "session already closed") for as long as the process runs, even after later
 * sessions reuse its storage. */
typedef struct ttap_session ttap_session;

/* Every value is spelled out: they are the ABI. The TTAP_NUM_* entries count the values and are
 * not values themselves; anything outside [0, TTAP_NUM_*) passed as an argument is refused with
 * INVALID_ARGUMENT (it is checked as an integer, never used as an enum value first). */
typedef enum {
  TTAP_OK = 0,
  TTAP_ERR_INVALID_ARGUMENT = 1, /* a bad argument: ttap_last_error() names it */
  TTAP_ERR_UNSUPPORTED = 2,      /* valid but not supported by this build or backend */
  TTAP_ERR_NO_DEVICE = 3,        /* backend=cuda asked for, and no usable GPU */
  TTAP_ERR_IO = 4,               /* the run directory or the store could not be written */
  TTAP_ERR_CUDA = 5,             /* a CUDA call failed */
  TTAP_ERR_INTERNAL = 6, /* a tensortap bug; the failing part is disabled, the trainer goes on */
  TTAP_NUM_STATUS = 7
} ttap_status;

typedef enum {
  TTAP_F32 = 0,
  TTAP_F16 = 1,
  TTAP_BF16 = 2,
  TTAP_F8_E4M3 = 3,
  TTAP_F8_E5M2 = 4,
  TTAP_F64 = 5,
  TTAP_NUM_DTYPES = 6
} ttap_dtype;

/* TTAP_COLLECTIVE: the buffer of a reduction the hooks saw (not known to be a gradient: the
 * gradient detectors skip it). */
typedef enum {
  TTAP_GRAD = 0,
  TTAP_PARAM = 1,
  TTAP_ACTIVATION = 2,
  TTAP_OTHER = 3,
  TTAP_COLLECTIVE = 4,
  TTAP_NUM_KINDS = 5
} ttap_kind;

/* What a tensor is to the ranks of a group (ttap_set_group), which decides how it is merged and
 * compared (see ttap_set_role). TTAP_ROLE_AUTO: from the replicated=/sharded= globs, then the
 * kind. */
typedef enum {
  TTAP_ROLE_AUTO = 0,
  TTAP_ROLE_CONTRIBUTION = 1, /* each rank's own part, different by design (compared by norm) */
  TTAP_ROLE_REPLICATED = 2,   /* identical on every rank (fingerprinted; merged as one replica) */
  TTAP_ROLE_SHARDED = 3,      /* a part of one whole (never compared; merged as the whole) */
  TTAP_NUM_ROLES = 4
} ttap_role;

/* The library's version as TTAP_VERSION(major, minor, patch), e.g. 100 for 0.1.0 (compare with
 * TTAP_VERSION_CODE, the header's). Statuses:
 * OK, INVALID_ARGUMENT (NULL version). Never blocks; thread-safe. */
TTAP_API ttap_status ttap_get_version(int *version);

/* Opens a session writing to run_dir (created if missing; NULL: $TTAP_RUN_DIR, else "ttap-run").
 * options: NULL or "key=value,key=value", the same keys as the TTAP_* environment knobs (run
 * `ttap env` for the list), options overriding the environment:
 *   every=N          sample every N steps (default 1)
 *   interval_ms=T    at least T ms between samples (default 0)
 *   budget=F         keep tensortap's time on the training thread under F x step time by sampling
 *                    less often (default 0.01; 0 disables)
 *   backend=B        auto|cpu|emulated|cuda (default auto: cuda for device pointers when a GPU is
 *                    usable, the cpu executor for host pointers)
 *   flush_ms=T       commit the store at least every T ms (default 1000); non-finite alerts at once
 *   on_nonfinite=A   warn|abort (abort: exit status 3 once the alert is stored)
 *   rank=R,world=W   this process's place in a group (default from RANK/WORLD_SIZE or
 *                    OMPI_COMM_WORLD_RANK/SIZE, else 0 and 1)
 *   jsonl=PATH       also append every record, scalar and alert as one JSON line to PATH
 *   and the detectors' thresholds (spike_threshold=8, vanishing_samples=5, ...: `ttap env`).
 * An unknown key or a value out of range is refused with the knob's name and allowed range.
 * Blocks while it creates the directory and the store. Statuses: OK, INVALID_ARGUMENT (NULL out,
 * options that do not parse), IO (directory or store not writable), NO_DEVICE (backend=cuda without
 * a GPU). On failure *out is set to NULL. */
TTAP_API ttap_status ttap_open(const char *run_dir, const char *options, ttap_session **out);

/* Watches a tensor: it is summarized at every sample until unwatched. name: unique in the session,
 * non-empty. ptr: host or device memory (any alignment), NULL only when numel == 0; it must stay
 * valid until ttap_rebind/ttap_unwatch/ttap_close. numel: 0 to 2^40. *handle receives an id for
 * rebind/unwatch. Statuses: OK, INVALID_ARGUMENT (NULL session/name/handle, empty or duplicate
 * name, NULL ptr with numel > 0, dtype/kind out of range, numel > 2^40, session closed). */
TTAP_API ttap_status ttap_watch(ttap_session *s, const char *name, const void *ptr,
                                ttap_dtype dtype, uint64_t numel, ttap_kind kind, int32_t *handle);

/* Points a watched tensor at new memory of the same dtype and size (e.g. a reallocated buffer).
 * Statuses: OK, INVALID_ARGUMENT (unknown handle, NULL ptr with numel > 0, session closed). */
TTAP_API ttap_status ttap_rebind(ttap_session *s, int32_t handle, const void *ptr);

/* Stops watching; the tensor's stored samples stay. Statuses: OK, INVALID_ARGUMENT (unknown or
 * already unwatched handle, session closed). */
TTAP_API ttap_status ttap_unwatch(ttap_session *s, int32_t handle);

/* Declares the role a watched tensor plays in a group, for tensors whose role the code knows
 * (a DDP gradient after its all-reduce is replicated, an FSDP or tensor-parallel shard sharded)
 * and no name glob can tell. The role decides the group's merge and comparisons:
 *   CONTRIBUTION  merged as the concatenation of the ranks' tensors (counts, sums and squares
 *                 added); ranks compared by norm (outlier_rank);
 *   SHARDED       merged the same way (the merged l2 is the whole tensor's); never compared;
 *   REPLICATED    merged as ONE replica (the lowest rank's with data): its counts, sums and sum of
 *                 squares, not the ranks' total, which would make the l2 sqrt(world) too large;
 *                 NaN/Inf counts the largest and min/max/abs_max over every replica, so a replica
 *                 that differs is not hidden; fingerprints compared (divergence).
 * Precedence: the sharded=, then the replicated= glob of the options (what the person running the
 * job says), then this call, then the kind (PARAM replicated, GRAD and ACTIVATION contributions,
 * OTHER sharded). AUTO takes a declaration back. Outside a group the role changes nothing. In a
 * group every rank must declare the same roles (they are part of what the ranks compare); a change
 * takes effect from the next sample. Never blocks. Statuses: OK, INVALID_ARGUMENT (NULL or closed
 * session, unknown or unwatched handle, role out of range). */
TTAP_API ttap_status ttap_set_role(ttap_session *s, int32_t handle, ttap_role role);

/* Marks training step `step` (non-decreasing; -1: one more than the last step) and samples every
 * watched tensor when the sampler says a sample is due (every / interval_ms / budget). stream: the
 * cudaStream_t the tensors are produced on, or NULL. Never waits: if every result slot is still in
 * flight the sample is skipped and counted. Cost when not due: a few tens of nanoseconds.
 * Statuses: OK (also when not due or skipped), INVALID_ARGUMENT (NULL session, step going
 * backwards, session closed). */
TTAP_API ttap_status ttap_step(ttap_session *s, int64_t step, void *stream);

/* Summarizes one tensor once, now (activations), at `step` (-1: the current step). The tensor is
 * registered under `name` on first use; later calls with the same name must keep dtype and kind.
 * ptr need not stay valid after the call for host memory; device memory must stay valid until the
 * work on `stream` has run. Statuses as for ttap_watch. */
TTAP_API ttap_status ttap_observe(ttap_session *s, const char *name, const void *ptr,
                                  ttap_dtype dtype, uint64_t numel, ttap_kind kind, int64_t step,
                                  void *stream);

/* Stores a scalar (e.g. name "loss", which the loss-spike detector watches) at `step` (-1: the
 * current step). Statuses: OK, INVALID_ARGUMENT (NULL session or name, empty name, closed). */
TTAP_API ttap_status ttap_log_scalar(ttap_session *s, const char *name, double value, int64_t step);

/* Makes the session one rank of a group: the ranks' watch-list samples are reduced across the
 * group, and rank 0 of the group writes one store for all of them: the merged per-tensor summaries
 * (as its samples), a per-rank table (view ranks_v: step, tensor, rank, l2, nonfinite,
 * fingerprint) and the group alerts: nonfinite_source (which rank held a NaN/Inf first),
 * divergence (a replicated tensor whose copy differs on a minority of ranks: "silent data
 * corruption suspected on rank N"), outlier_rank (a rank whose gradient norm is far from the
 * others'), straggler (a rank whose steps take longer). The other ranks store no watch-list
 * samples (their own run_info, counters, scalars and ttap_observe samples stay as without a group).
 *
 * kind and comm:
 *   "mpi"     comm points to an MPI_Comm (e.g. &MPI_COMM_WORLD's copy): duplicated with
 *             MPI_Comm_dup for tensortap's use. MPI must be initialized with MPI_THREAD_MULTIPLE
 *             (the collectives run on tensortap's collector thread).
 *   "nccl"    comm is an ncclComm_t: a communicator is split from it (ncclCommSplit); its
 *             collectives run on a stream of tensortap's own. Needs a session with a GPU.
 *   "single"  a group of one (comm ignored): the same path, for tests and single-process runs.
 * Neither MPI nor NCCL is linked by libttap: their functions are looked up in the process here.
 *
 * Every rank of the communicator must call it (it is collective, like MPI_Comm_dup), after
 * ttap_open and before the first sample, with the same `every` option; every rank must then watch
 * the same tensors (names, dtypes, sizes, in the same order: pass the data-parallel communicator,
 * one group per pipeline stage) and call ttap_step with the same step numbers. The group samples
 * the multiples of its stride (every, raised for all ranks together when one rank's budget or
 * interval asks for more). Roles: by default kind PARAM tensors are replicas that must be
 * identical on every rank (fingerprinted and compared), GRAD and ACTIVATION tensors are each rank's
 * contribution (compared by norm), OTHER tensors are not compared; the options replicated=GLOB and
 * sharded=GLOB (globs joined by '|'; TTAP_REPLICATED, TTAP_SHARDED) declare them by name, sharded
 * winning (tensor-parallel and FSDP shards are never compared), and ttap_set_role declares one
 * tensor's role; the role also decides how the ranks' summaries merge (see ttap_set_role). In a
 * group, ttap_flush may wait
 * for the other ranks to reach the same step, and ttap_close waits until every rank has closed
 * (call it on every rank, before MPI_Finalize or ncclCommDestroy of the job's communicator).
 * If the ranks turn out to disagree (different tensors, steps) the group turns itself off with a
 * warning and every rank stores its own samples from then on; the training goes on.
 *
 * Blocks until every rank has called it. Thread safety: as every call on a session. Statuses:
 * OK, INVALID_ARGUMENT (NULL session or kind, unknown kind, NULL comm for mpi/nccl, the session is
 * already in a group or has taken samples, the communicator is unusable, the ranks have different
 * `every`), UNSUPPORTED (MPI or NCCL functions not found in the process, MPI not initialized or
 * without MPI_THREAD_MULTIPLE, nccl without a GPU session, a build without MPI headers), CUDA (the
 * nccl group's stream or buffers could not be made). */
TTAP_API ttap_status ttap_set_group(ttap_session *s, const char *kind, void *comm);

/* Waits until every sample taken so far is summarized, checked and committed to the store.
 * Statuses: OK, INVALID_ARGUMENT (NULL or closed session), IO (the store failed). */
TTAP_API ttap_status ttap_flush(ttap_session *s);

/* The session's run directory, as an absolute path: the one passed to ttap_open, or the one it
 * chose ($TTAP_RUN_DIR, "ttap-run", or the next free "ttap-run-N" when ttap-run holds an earlier
 * run). *length receives its length in bytes (without the terminating NUL) in every case but a
 * NULL or closed session. len == 0 asks for the length only (buf may be NULL); otherwise the path
 * and its NUL are copied into buf when len > *length, and a smaller buffer is refused (buf gets
 * ""), so a path is never silently cut. Statuses: OK, INVALID_ARGUMENT (NULL or closed session,
 * NULL length, NULL buf with len > 0, len <= *length). */
TTAP_API ttap_status ttap_get_run_dir(ttap_session *s, char *buf, size_t len, size_t *length);

/* Flushes, writes the run's counters, closes the store and frees the session. After it the handle
 * is closed: calling any function with it (a second close included) returns INVALID_ARGUMENT
 * ("session already closed"), for the life of the process. A process may open and close any number
 * of sessions. Statuses: OK, INVALID_ARGUMENT, IO. */
TTAP_API ttap_status ttap_close(ttap_session *s);

/* Static text for a status, e.g. "invalid argument". Never NULL. */
TTAP_API const char *ttap_status_string(ttap_status st);

/* The message of the last failed call on this thread ("" if none). */
TTAP_API const char *ttap_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* TTAP_TTAP_H */
