// The run store: one SQLite database file per writer in the run directory (RUN_DIR/ttap.db for
// rank 0, ttap.rank-R.db for the others), WAL mode with synchronous=NORMAL, written only by the
// collector thread in short batched transactions; readers combine the files. Schema: SCHEMA.md.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "runtime/record.h"

namespace ttap {

struct run_info {
  std::string run_dir;
  int32_t rank = 0;
  int32_t world = 1;
  std::string options;  // the effective options, "key=value,..." for the record
  std::string version;  // tensortap version
  std::string host;     // hostname
  int64_t pid = 0;
  double start_time = 0;  // seconds since the Unix epoch
  // Open a directory that already holds a run (a later session of the same run, e.g. a resumed
  // job) instead of refusing it.
  bool append = false;
};

// Counters the runtime reports for the run (bounded queues, skipped samples, overhead).
struct run_counters {
  uint64_t samples_taken = 0;
  uint64_t samples_skipped = 0;    // every ring slot in flight
  uint64_t records_dropped = 0;    // a bounded queue was full
  uint64_t alerts_suppressed = 0;  // rate-limited on stderr (still stored)
  double overhead_seconds = 0;     // tensortap's own time on the training thread
  double device_seconds = 0;       // its device time (timing events; modeled when emulated)
  double step_seconds = 0;         // training time seen between steps
};

// This process's place in a group (ttap_set_group), recorded in its run_info row.
struct group_info {
  std::string kind;  // "mpi", "nccl", "single"
  int32_t size = 1;  // ranks in the group
  int32_t rank = 0;  // this process's rank in the group (0 writes the group's samples)
};

// Thread safety: none; one thread (the collector) owns a store.
//
// Nothing is written while the caller works: add_* only buffer (bounded), and commit() writes
// what is pending in one short transaction, so the write lock is never held while waiting. A write
// that fails (another process holds the lock, a full disk, an I/O error) keeps the rows pending and
// is retried with backoff at later commits (the connection reopened after an I/O error); rows that
// do not fit the bound, or are pending when the store closes for good, are counted as lost and
// that count, with the first failure, is stored in run_counters once a write succeeds.
class store {
 public:
  virtual ~store() = default;

  // Opens or creates this writer's file in RUN_DIR (the directory must exist): RUN_DIR/ttap.db
  // for rank 0, RUN_DIR/ttap.rank-R.db for rank R, or, when another live writer already has that
  // file (the hooks' session next to the program's own), the next free ttap.rank-R.K.db. Refuses a
  // directory that holds a run no live writer is writing, unless info.append. Applies the schema
  // (versioned by PRAGMA user_version; another version is refused with a clear message) and
  // records the run. Returns null with *error set on failure.
  static std::unique_ptr<store> open(const run_info &info, std::string *error);

  // Registers (or re-registers, replacing name/kind/dtype/numel) a tensor under this store's rank.
  // The add_* calls return false only for a record that can never be stored (a negative id, an
  // empty name, an unknown alert type); the message is in last_error().
  virtual bool add_tensor(const tensor_info &t) = 0;
  // Steps only increase per (rank, tensor) within one open store: a record whose step is not
  // greater than the last one stored for its tensor (or whose tensor id is negative) is not
  // written but counted in run_counters (samples_rejected, and first_rejection describing the
  // first one). That is the caller's data, not a store failure: the call still returns true.
  virtual bool add_samples(std::span<const sample_record> samples) = 0;
  virtual bool add_scalar(const scalar_record &s) = 0;
  virtual bool add_alert(const alert &a) = 0;
  // What a response policy did (actions table); false only for an unknown action kind.
  virtual bool add_action(const action_record &a) = 0;
  virtual bool set_counters(const run_counters &c) = 0;
  // Records that this session joined a group (run_info's group columns).
  virtual bool set_group(const group_info &g) = 0;
  // The per-rank part of one group sample (rank_steps, rank_samples), written by rank 0 of the
  // group; its merged summaries go through add_samples like any sample.
  virtual bool add_group_sample(const group_sample &g) = 0;

  // Writes what is pending in one transaction (the caller decides when: at once for a non-finite
  // alert, else every flush interval). True when nothing is pending any more. False when the
  // write failed (last_error() says why; the rows stay pending and are retried at a later commit,
  // after a backoff unless `now` is set) or the store was closed for good (its file was removed
  // under the run).
  virtual bool commit(bool now = true) = 0;
  // The last commit: retries a failing write for a bounded time (a second: the process may
  // be exiting), marks the session closed (run_info.end_time) and checkpoints the WAL into the
  // database file, so the file alone holds the run. A reader inside a read holds the checkpoint
  // back: it is retried with backoff for up to 2 s, then left (folded() false, last_error() says
  // so; nothing is lost: the WAL keeps the rest). False when rows were lost (last_error()).
  // Destroying an open store closes it.
  virtual bool close() = 0;
  // After close(): whether the WAL was checkpointed into the database file.
  virtual bool folded() const { return true; }
  virtual const std::string &last_error() const = 0;

  // The file this store writes.
  virtual const std::string &path() const = 0;
  // Bytes in the database file plus its WAL right now.
  virtual uint64_t size_bytes() const = 0;
};

}  // namespace ttap
