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

/* What ttap_verdict tells the caller to do with the step's optimizer update. */
typedef enum {
  TTAP_ACTION_NONE = 0,  /* update as usual */
  TTAP_ACTION_SKIP = 1,  /* leave this update out (on_nonfinite or on_spike has skip) */
  TTAP_ACTION_ABORT = 2, /* stop: on_nonfinite=abort, the process is about to exit with status 3 */
  TTAP_NUM_ACTIONS = 3
} ttap_action;

/* The verdict on one step (ttap_verdict). In a group every rank gets the same action,
 * nonfinite_tensors and spike for the same step; first_tensor is this rank's own. */
typedef struct {
  ttap_action action;
  int32_t sampled;           /* 1: the step's watch list was sampled and judged; 0: it was not
                                (not due, or skipped with every result slot in flight) */
  int32_t nonfinite_tensors; /* watched tensors holding NaN/Inf at the step (a group: all ranks') */
  int32_t first_tensor;      /* the watch handle of this rank's first offending tensor (NaN/Inf,
                                else a spiking gradient) in watch order; -1: none on this rank */
  int32_t spike;             /* 1: a watched gradient's l2 spiked (scored only when on_spike is
                                skip or dump; a group: on any rank) */
} ttap_verdict_t;

/* An alert, as ttap_next_alert hands it to the training thread. Texts are NUL-terminated UTF-8,
 * truncated to fit. */
typedef struct {
  int64_t step;
  int32_t rank;       /* the rank the alert is about */
  char type[32];      /* "nonfinite", "spike", "vanishing", "fp8_range", "loss_spike", ... */
  char tensor[256];   /* the tensor or scalar name */
  char message[1024]; /* one line, as printed on stderr after "ttap: step N: " */
} ttap_alert_t;

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
 *   on_nonfinite=A   warn|skip|dump|abort, or several joined by '+' (skip+dump): what to do about
 *                    a NaN/Inf; skip and dump act at ttap_verdict (and then every step is sampled,
 *                    whatever every, interval_ms and budget say); abort: exit status 3 once the
 *                    alert is stored
 *   on_spike=A       warn|skip|dump, or several joined by '+': the same for a gradient spike
 *   dump_max_mb=M    bytes of tensors one forensic dump may hold (default 256; the rest is listed
 *                    as left out)
 *   dump_max=N       forensic dumps per session (default 3)
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

/* ttap_watch with the tensor's shape: ndim dimensions (0 to 8; ndim 0 is a scalar) whose product
 * is numel. The shape is recorded for forensic dumps (on_nonfinite=dump), which write the tensor
 * with it. shape may be NULL only with ndim 0. Statuses: those of ttap_watch, and
 * INVALID_ARGUMENT for ndim out of range or a shape whose product is not numel. */
TTAP_API ttap_status ttap_watch_shaped(ttap_session *s, const char *name, const void *ptr,
                                       ttap_dtype dtype, const uint64_t *shape, int32_t ndim,
                                       ttap_kind kind, int32_t *handle);

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

/* The verdict on training step `step` (-1: the last step marked), for the caller to act on before
 * its optimizer update: call it after ttap_step(step) and before the update. *out receives the
 * action (SKIP when a NaN/Inf, or a spike, meets a skip policy), how many watched tensors hold
 * NaN/Inf, the first offending tensor and whether a gradient spiked.
 * It waits for that step's summaries: host tensors are summarized by ttap_step already; device
 * tensors are waited for on the slot's event (the one wait a verdict opts into; with on_nonfinite
 * or on_spike set to skip or dump every step's device part waits for it). With dump, the offending
 * tensors (and a gradient's parameter, when watched) are copied to host memory before it returns
 * (device tensors on the step's stream), and written with the last 16 summaries of every watched
 * tensor and the recent scalars under RUN_DIR/dumps/step-S-rank-R/ by tensortap's collector thread
 * (ttap_flush and ttap_close wait for it; dump_max dumps of at most dump_max_mb each; a dump that
 * fails is reported once and training goes on). Skips and dumps are stored (view actions_v).
 * In a group (ttap_set_group) the verdict is the OR over the ranks, by one small all-reduce on a
 * communicator of its own: every rank must call it for the same steps, and gets the same action.
 * Asking again for the same step returns the same verdict without a second all-reduce.
 * Statuses: OK, INVALID_ARGUMENT (NULL session or out, a step not marked yet, session closed). */
TTAP_API ttap_status ttap_verdict(ttap_session *s, int64_t step, ttap_verdict_t *out);

/* Takes the oldest alert not yet taken, for code on the training thread that acts on alerts (the
 * Python binding's on_alert). Alerts are raised on tensortap's collector thread and kept here until
 * taken: the latest 1024 (older ones are dropped from this queue; the store keeps every alert).
 * *has_alert is 1 when *out holds one, 0 when there was none. Never blocks.
 * Statuses: OK, INVALID_ARGUMENT (NULL session, out or has_alert; session closed). */
TTAP_API ttap_status ttap_next_alert(ttap_session *s, ttap_alert_t *out, int32_t *has_alert);

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
