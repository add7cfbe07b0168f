// The run store on SQLite's C API: one connection owned by the collector thread, one database file
// per writer. Records are buffered (bounded) and written at commit() in one short transaction, so
// the write lock is never held while the caller works or waits; a write that fails is retried with
// backoff (reopening after I/O errors) and what cannot be kept is counted. Every failure is
// reported through last_error(), never thrown or fatal: the training run outlives its telemetry.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "runtime/clock.h"
#include "runtime/store/histogram_blob.h"
#include "runtime/store/run_reader.h"
#include "runtime/store/schema.h"
#include "runtime/store/sqlite_db.h"
#include "runtime/store/store.h"
#include "runtime/store/store_files.h"

namespace ttap {

namespace {

// How long one write waits for the write lock. Each writer has its own file, so only a foreign
// writer (a user writing in the sqlite3 shell, a script) can hold it; waiting longer would stall
// the collector thread behind them, while the rows simply stay pending until a later try.
constexpr int kWriteBusyMs = 100;
// Opening (schema creation) and the final checkpoint may wait a little longer.
constexpr int kOpenBusyMs = 2000;
// Backoff between retries of a failing write: from the first to the last, doubling.
constexpr int64_t kFirstBackoffMs = 100;
constexpr int64_t kMaxBackoffMs = 5000;
// At close the process may be exiting: the last write is retried for at most this long.
constexpr int64_t kCloseRetryMs = 1000;
// ... and the checkpoint that folds the WAL into the database file, which a reader inside a read
// holds back, for at most this long (each try waits up to kCheckpointTryMs for the readers).
constexpr int64_t kCheckpointRetryMs = 2000;
constexpr int kCheckpointTryMs = 250;
// Rows kept in memory while the store cannot be written; beyond this they are dropped and counted
// (a tensor-sample takes about 250 bytes here: 64 MiB is about 250k of them).
constexpr size_t kMaxPendingBytes = size_t(64) << 20;
// Writers of one rank in one directory (the program's session, the hooks' one, ...).
constexpr int kMaxWritersPerRank = 31;

// Enough page cache for a flush interval's transaction (1000 tensors x a few samples, 1-2 MB) to
// stay in memory until its commit; larger ones spill to the WAL early, which WAL mode allows.
constexpr int kCacheKiB = 8 << 10;

// A checkpoint runs every this many WAL pages (16 MiB at SQLite's 4 KiB pages; 8 KiB and 16 KiB
// pages measured no better for size or speed); after it, the WAL file is truncated back to
// kWalSizeLimit so one burst does not leave a large file behind.
constexpr int kWalAutocheckpointPages = 4096;
constexpr int64_t kWalSizeLimit = int64_t(64) << 20;

using sqlite::db_handle;
using sqlite::statement;

const char *result_code_name(int rc) {
  // The extended codes a run store meets in practice say which system call failed.
  switch (rc) {
    case SQLITE_IOERR_READ:
      return "SQLITE_IOERR_READ";
    case SQLITE_IOERR_SHORT_READ:
      return "SQLITE_IOERR_SHORT_READ";
    case SQLITE_IOERR_WRITE:
      return "SQLITE_IOERR_WRITE";
    case SQLITE_IOERR_FSYNC:
      return "SQLITE_IOERR_FSYNC";
    case SQLITE_IOERR_TRUNCATE:
      return "SQLITE_IOERR_TRUNCATE";
    case SQLITE_IOERR_SHMOPEN:
      return "SQLITE_IOERR_SHMOPEN";
    case SQLITE_IOERR_SHMSIZE:
      return "SQLITE_IOERR_SHMSIZE";
    case SQLITE_READONLY_DBMOVED:
      return "SQLITE_READONLY_DBMOVED";
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_ERROR:
      return "SQLITE_ERROR";
    case SQLITE_PERM:
      return "SQLITE_PERM";
    case SQLITE_BUSY:
      return "SQLITE_BUSY";
    case SQLITE_LOCKED:
      return "SQLITE_LOCKED";
    case SQLITE_NOMEM:
      return "SQLITE_NOMEM";
    case SQLITE_READONLY:
      return "SQLITE_READONLY";
    case SQLITE_IOERR:
      return "SQLITE_IOERR";
    case SQLITE_CORRUPT:
      return "SQLITE_CORRUPT";
    case SQLITE_FULL:
      return "SQLITE_FULL";
    case SQLITE_CANTOPEN:
      return "SQLITE_CANTOPEN";
    case SQLITE_CONSTRAINT:
      return "SQLITE_CONSTRAINT";
    case SQLITE_TOOBIG:
      return "SQLITE_TOOBIG";
    case SQLITE_NOTADB:
      return "SQLITE_NOTADB";
    default:
      return "SQLITE_ERROR";
  }
}

// "file is not a database (SQLITE_NOTADB)", with the OS error when there is one:
// "unable to open database file (SQLITE_CANTOPEN, Permission denied)".
std::string describe(sqlite3 *db, int rc) {
  std::string m = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  m += " (";
  m += result_code_name(rc);
  // The OS error is only meaningful for the codes that come from a system call; otherwise it may
  // be left over from an earlier, harmless probe (a -wal file that did not exist yet). A failed
  // open retries read-only, so its errno describes the retry: open_failure() diagnoses those.
  int primary = rc & 0xff;
  bool from_os = primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_READONLY ||
                 primary == SQLITE_PERM;
  int os_error = db && from_os ? sqlite3_system_errno(db) : 0;
  if (os_error != 0) {
    m += ", ";
    m += std::strerror(os_error);
  }
  m += ")";
  return m;
}

// The message for a store that cannot be opened: SQLite's error, and the cause when it is the usual
// one. WAL mode creates ttap.db-wal and ttap.db-shm next to the database, so the directory must be
// writable even when the database exists.
std::string open_failure(const std::string &path, const std::string &run_dir, sqlite3 *db, int rc) {
  std::string m = path + ": cannot open: " + describe(db, rc);
  if (faccessat(AT_FDCWD, run_dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
    m += "; the run directory is not writable: " + std::string(std::strerror(errno));
  return m;
}

int run(sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc;
}

bool exec(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

// Runs a one-row, one-column query.
bool query_text(sqlite3 *db, const char *sql, std::string *out) {
  statement s;
  if (!sqlite::prepare(db, sql, &s) || sqlite3_step(s.get()) != SQLITE_ROW) return false;
  *out = sqlite::column_text(s.get(), 0);
  return true;
}

bool query_int(sqlite3 *db, const char *sql, int64_t *out) {
  std::string text;
  if (!query_text(db, sql, &text)) return false;
  *out = std::strtoll(text.c_str(), nullptr, 10);
  return true;
}

uint64_t file_size(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

// Sample rows per multi-row INSERT: 16 x 19 parameters stay far below SQLite's limit (999 in old
// builds); more rows per statement measured no better.
constexpr int kSamplesPerInsert = 16;

// An insert of `rows` sample rows: parameter j * kSampleColumnCount + k + 1 is sample_column k of
// row j.
std::string insert_sample_sql(int rows) {
  std::string values;
  for (int j = 0; j < rows; ++j) {
    values += j > 0 ? ", (" : "(";
    for (int k = 1; k <= kSampleColumnCount; ++k)
      values += (k > 1 ? ", ?" : "?") + std::to_string(j * kSampleColumnCount + k);
    values += ")";
  }
  return "INSERT INTO samples (" + sample_column_list("") + ") VALUES " + values;
}
constexpr const char *kUpsertTensor =
    "INSERT INTO tensors (rank, id, name, kind, dtype, numel) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (rank, id) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
    "dtype = excluded.dtype, numel = excluded.numel";
constexpr const char *kInsertScalar =
    "INSERT INTO scalars (rank, step, time, name, value) VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char *kInsertAlert =
    "INSERT INTO alerts (rank, step, time, tensor_id, tensor, type, message) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char *kInsertAction =
    "INSERT INTO actions (rank, step, time, action, reason, detail) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char *kUpsertCounters =
    "INSERT INTO run_counters (session, rank, time, samples_taken, samples_skipped, "
    "records_dropped, alerts_suppressed, overhead_seconds, step_seconds, device_seconds) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (session) DO UPDATE SET "
    "time = excluded.time, samples_taken = excluded.samples_taken, "
    "samples_skipped = excluded.samples_skipped, records_dropped = excluded.records_dropped, "
    "alerts_suppressed = excluded.alerts_suppressed, "
    "overhead_seconds = excluded.overhead_seconds, step_seconds = excluded.step_seconds, "
    "device_seconds = excluded.device_seconds";
constexpr const char *kSetStatus =
    "UPDATE run_counters SET samples_rejected = ?2, first_rejection = ?3, records_lost = ?4, "
    "store_failures = ?5, first_store_failure = ?6, time = ?7 WHERE session = ?1";
constexpr const char *kSetEndTime = "UPDATE run_info SET end_time = ?2 WHERE session = ?1";
constexpr const char *kInsertRunInfo =
    "INSERT INTO run_info (rank, world, options, version, host, pid, start_time) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char *kSetGroup =
    "UPDATE run_info SET group_kind = ?2, group_size = ?3, group_rank = ?4 WHERE session = ?1";
constexpr const char *kInsertRankStep =
    "INSERT INTO rank_steps (writer, step, time, rank, present, step_seconds) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char *kInsertRankSample =
    "INSERT INTO rank_samples (writer, step, tensor_id, rank, l2, nonfinite, fingerprint) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char *kInsertCounters =
    "INSERT INTO run_counters (session, rank, time) VALUES (?1, ?2, ?3)";


// A sample row as it will be written: the summary without its 255 histogram bins, which are kept
// encoded (tens of bytes instead of two kilobytes) in pending_rows::hist_bytes while the row waits
// for its commit: one shared buffer, not a vector per row, since the collector's allocations
// compete with the training thread for the machine.
struct pending_sample {
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  int32_t tensor_id = 0;
  uint64_t count = 0, nan = 0, pos_inf = 0, neg_inf = 0, zero = 0, subnormal = 0;
  double min = 0, max = 0, abs_max = 0, sum = 0, sum_sq = 0, sum_abs = 0;
  int32_t sum_sq_exp2 = 0;
  bool has_fingerprint = false;
  uint64_t fingerprint = 0;
  size_t hist_offset = 0;  // in pending_rows::hist_bytes
  uint32_t hist_size = 0;
};

// Pending rows' buffers up to this size keep their capacity across commits, so a steady run
// allocates nothing per commit; larger ones (a backlog after a store outage) are freed.
constexpr size_t kKeptPendingCapacityBytes = size_t(4) << 20;

// What add_* buffered since the last successful write, in the order it will be written.
struct pending_rows {
  std::vector<tensor_info> tensors;
  std::optional<group_info> group;
  std::vector<pending_sample> samples;
  std::vector<uint8_t> hist_bytes;  // the samples' encoded histograms, back to back
  std::vector<group_sample> group_samples;
  std::vector<scalar_record> scalars;
  std::vector<alert> alerts;
  std::vector<action_record> actions;
  std::optional<run_counters> counters;
  size_t bytes = 0;

  // Rows that count as records when lost (registrations and counters are state, not records).
  uint64_t records() const {
    return samples.size() + group_samples.size() + scalars.size() + alerts.size() + actions.size();
  }
  bool empty() const {
    return tensors.empty() && !group && records() == 0 && !counters;
  }
  // Drops the records, keeping the registrations and the state rows.
  void drop_records() {
    samples.clear();
    hist_bytes.clear();
    group_samples.clear();
    scalars.clear();
    alerts.clear();
    actions.clear();
    bytes = 0;
  }
  void clear() {
    std::vector<pending_sample> kept_samples;
    std::vector<uint8_t> kept_hist_bytes;
    if (samples.capacity() * sizeof(pending_sample) <= kKeptPendingCapacityBytes &&
        hist_bytes.capacity() <= kKeptPendingCapacityBytes) {
      samples.clear();
      hist_bytes.clear();
      kept_samples.swap(samples);
      kept_hist_bytes.swap(hist_bytes);
    }
    *this = pending_rows();
    samples.swap(kept_samples);
    hist_bytes.swap(kept_hist_bytes);
  }
};

// Binds sample row x to parameters base + 1 ... base + kSampleColumnCount of s (one row of an
// insert of one or kSamplesPerInsert rows).
void bind_sample(sqlite3_stmt *s, int base, const pending_sample &x,
                 const std::vector<uint8_t> &hist_bytes) {
  sqlite3_bind_int(s, base + kSampleRank + 1, x.rank);
  sqlite3_bind_int64(s, base + kSampleStep + 1, x.step);
  sqlite3_bind_double(s, base + kSampleTime + 1, x.time);
  sqlite3_bind_int(s, base + kSampleTensorId + 1, x.tensor_id);
  sqlite3_bind_int64(s, base + kSampleCount + 1, int64_t(x.count));
  sqlite3_bind_int64(s, base + kSampleNan + 1, int64_t(x.nan));
  sqlite3_bind_int64(s, base + kSamplePosInf + 1, int64_t(x.pos_inf));
  sqlite3_bind_int64(s, base + kSampleNegInf + 1, int64_t(x.neg_inf));
  sqlite3_bind_int64(s, base + kSampleZero + 1, int64_t(x.zero));
  sqlite3_bind_int64(s, base + kSampleSubnormal + 1, int64_t(x.subnormal));
  // min/max are +-Inf exactly when there is no finite value; NULL says so in SQL terms.
  if (std::isfinite(x.min) && std::isfinite(x.max)) {
    sqlite3_bind_double(s, base + kSampleMin + 1, x.min);
    sqlite3_bind_double(s, base + kSampleMax + 1, x.max);
  } else {
    sqlite3_bind_null(s, base + kSampleMin + 1);
    sqlite3_bind_null(s, base + kSampleMax + 1);
  }
  // Over finite values abs_max is max(-min, max), which the view derives; storing it only when a
  // summary disagrees keeps the view exact at no cost per row.
  if (x.abs_max == std::fmax(-x.min, x.max))
    sqlite3_bind_null(s, base + kSampleAbsMax + 1);
  else
    sqlite3_bind_double(s, base + kSampleAbsMax + 1, x.abs_max);
  sqlite3_bind_double(s, base + kSampleSum + 1, x.sum);  // a NaN binds as NULL
  sqlite3_bind_double(s, base + kSampleSumSq + 1, x.sum_sq);
  sqlite3_bind_int(s, base + kSampleSumSqExp2 + 1, x.sum_sq_exp2);
  sqlite3_bind_double(s, base + kSampleSumAbs + 1, x.sum_abs);
  if (x.has_fingerprint)  // the uint64's bits
    sqlite3_bind_int64(s, base + kSampleFingerprint + 1, int64_t(x.fingerprint));
  else
    sqlite3_bind_null(s, base + kSampleFingerprint + 1);
  sqlite3_bind_blob(s, base + kSampleHist + 1, hist_bytes.data() + x.hist_offset, int(x.hist_size),
                    SQLITE_STATIC);
}

// How a failed write is handled: retried as is, retried on a new connection, or given up.
enum class failure_kind { busy, io, data };

failure_kind classify(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return failure_kind::busy;
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      return failure_kind::data;  // these rows can never be written: retrying would block the rest
    default:
      return failure_kind::io;  // full disk, I/O error, a file gone read-only: reopen and retry
  }
}

class sqlite_store final : public store {
 public:
  static std::unique_ptr<store> open(const run_info &info, std::string *error);

  ~sqlite_store() override { close(); }

  bool add_tensor(const tensor_info &t) override;
  bool add_samples(std::span<const sample_record> samples) override;
  bool add_scalar(const scalar_record &s) override;
  bool add_alert(const alert &a) override;
  bool add_action(const action_record &a) override;
  bool set_counters(const run_counters &c) override;
  bool set_group(const group_info &g) override;
  bool add_group_sample(const group_sample &g) override;
  bool commit(bool now) override;
  bool close() override;
  bool folded() const override { return m_folded; }
  const std::string &last_error() const override { return m_error; }
  const std::string &path() const override { return m_path; }
  uint64_t size_bytes() const override {
    return m_db ? file_size(m_path) + file_size(m_path + "-wal") : 0;
  }

 private:
  sqlite_store(std::string path, std::string run_dir, int32_t rank)
      : m_path(std::move(path)), m_run_dir(std::move(run_dir)), m_rank(rank) {}

  bool connect(std::string *error);
  bool prepare(statement &s, const char *sql);
  bool prepare_all();
  bool usable();
  bool invalid(const std::string &what);
  // Buffers one row of `bytes` unless the pending rows are full; then counts it as lost.
  bool room_for(size_t bytes, int64_t step);
  void note_loss(uint64_t records, int64_t step, const std::string &why);
  bool write_pending();
  bool write_rows();
  bool write_failed(const char *what, int rc);
  bool checkpoint_at_close();
  bool file_still_there();
  void shut_down(const std::string &why);
  void disconnect();

  std::string m_path, m_run_dir;
  int32_t m_rank;
  int64_t m_session = 0;
  dev_t m_dev = 0;
  ino_t m_ino = 0;
  writer_lock m_lock;
  db_handle m_db;
  statement m_begin, m_commit, m_rollback;
  statement m_insert_sample, m_insert_samples, m_upsert_tensor, m_insert_scalar, m_insert_alert,
      m_insert_action;
  statement m_upsert_counters, m_set_status, m_set_end_time;
  statement m_set_group, m_insert_rank_step, m_insert_rank_sample;
  int m_writer = 1;       // this file's writer number among its rank's (store_file_name)
  int32_t m_id_base = 0;  // added to the session's tensor ids in every row this store writes
  // Last step stored per (rank, tensor) in this session, to hold steps increasing per tensor.
  std::unordered_map<uint64_t, int64_t> m_last_step;
  int64_t m_latest_step = -1;  // the latest step seen, to say where a failure happened
  pending_rows m_pending;
  // The session's status columns (run_counters, run_info.end_time), written with the next rows.
  uint64_t m_samples_rejected = 0;
  std::string m_first_rejection;
  uint64_t m_records_lost = 0;
  uint64_t m_store_failures = 0;
  std::string m_first_failure;
  bool m_status_dirty = false;
  double m_end_time = 0;  // set by close()
  // A failure episode: from a failed write to the next one that succeeds.
  bool m_failing = false;
  int64_t m_backoff_ms = kFirstBackoffMs;
  int64_t m_retry_at_ms = 0;
  bool m_closed = false;
  bool m_close_ok = true;
  bool m_folded = false;        // close() checkpointed the WAL into the database file
  std::string m_closed_reason;  // set when the store was shut down for good
  std::string m_error;
};

// Why `dir` may not take a new run: it holds store files that no live writer is writing (a run
// that finished, or crashed). Store files with a live writer are the same run (another rank, the
// hooks next to the program's session): joining them is what a multi-process run does.
std::optional<std::string> earlier_run_in(const std::string &dir, const std::string &own_file) {
  std::string earlier;
  if (!holds_earlier_run(dir, &earlier, own_file)) return std::nullopt;
  return dir + " already holds a run (" + earlier +
         "); tensortap keeps one run per directory: choose a new directory, replace it with "
         "`ttap run --force -o " +
         dir + " -- ...`, or add to it with the option mode=append (TTAP_MODE=append)";
}

std::unique_ptr<store> sqlite_store::open(const run_info &info, std::string *error) {
  auto refuse = [&](const std::string &message) -> std::unique_ptr<store> {
    *error = message;
    return nullptr;
  };
  if (info.run_dir.empty()) return refuse("run store: the run directory is an empty string");
  struct stat st;
  if (::stat(info.run_dir.c_str(), &st) != 0)
    return refuse("run store: run directory " + info.run_dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return refuse("run store: run directory " + info.run_dir + " is not a directory");
  const std::string dir = info.run_dir + (info.run_dir.back() == '/' ? "" : "/");

  // This writer's file: the first of its rank's names no live writer holds. The lock is held
  // until the store is destroyed, so no two writers ever share a file.
  std::unique_ptr<sqlite_store> s;
  for (int writer = 1; writer <= kMaxWritersPerRank && !s; ++writer) {
    std::string path = dir + store_file_name(info.rank, writer);
    auto candidate = std::unique_ptr<sqlite_store>(new sqlite_store(path, info.run_dir, info.rank));
    bool busy = false;
    std::string lock_error;
    if (candidate->m_lock.try_lock(path, &busy, &lock_error)) {
      s = std::move(candidate);
      s->m_writer = writer;
    } else if (!busy) {
      std::string m = path + ": cannot open: " + lock_error;
      if (faccessat(AT_FDCWD, info.run_dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
        m += "; the run directory is not writable: " + std::string(std::strerror(errno));
      return refuse(m);
    }
  }
  if (!s)
    return refuse(dir + ": " + std::to_string(kMaxWritersPerRank) + " writers of rank " +
                  std::to_string(info.rank) + " are already live in this directory");

  // A file that is there is checked first (another version, a foreign database: said as such);
  // then the directory, before a new file is created in it.
  std::string message;
  const bool existed = ::access(s->m_path.c_str(), F_OK) == 0;
  if (existed && !s->connect(&message)) return refuse(message);
  if (!info.append) {
    if (auto earlier = earlier_run_in(info.run_dir, s->m_path)) return refuse(*earlier);
  }
  if (!existed && !s->connect(&message)) return refuse(message);
  const std::string &path = s->m_path;
  sqlite3 *h = s->m_db.get();
  sqlite3_busy_timeout(h, kOpenBusyMs);

  // Schema creation and the run's rows in one write transaction.
  if (!exec(h, "BEGIN IMMEDIATE"))
    return refuse(path + ": cannot lock for setup: " + describe(h, sqlite3_errcode(h)));
  auto abandon = [&](const std::string &why) {
    exec(h, "ROLLBACK");
    return refuse(why);
  };
  int64_t version = 0;
  if (!query_int(h, "PRAGMA user_version", &version))
    return abandon(open_failure(path, info.run_dir, h, sqlite3_errcode(h)));
  if (version == 0) {
    std::string create =
        std::string(schema_sql()) + "PRAGMA user_version=" + std::to_string(kSchemaVersion) + ";";
    if (!exec(h, create.c_str()))
      return abandon(path + ": cannot create the schema: " + describe(h, sqlite3_errcode(h)));
  } else {
    // run_counters.device_seconds joined version 4 after its first files were written: such a
    // file (a run appended to) gets it, at the end of the table as in a new file.
    int64_t has_device_seconds = 0;
    if (!query_int(h,
                   "SELECT count(*) FROM pragma_table_info('run_counters') "
                   "WHERE name = 'device_seconds'",
                   &has_device_seconds) ||
        (!has_device_seconds &&
         !exec(h, "ALTER TABLE run_counters ADD COLUMN device_seconds REAL NOT NULL DEFAULT 0")))
      return abandon(
          path + ": cannot add run_counters.device_seconds: " + describe(h, sqlite3_errcode(h)));
  }
  // Every statement is prepared before the run is recorded: a damaged schema refuses the open
  // without leaving a session behind.
  if (!s->prepare_all()) return abandon(s->m_error);
  statement run_row, counters_row;
  if (!s->prepare(run_row, kInsertRunInfo) || !s->prepare(counters_row, kInsertCounters))
    return abandon(s->m_error);
  sqlite3_stmt *r = run_row.get();
  sqlite3_bind_int(r, 1, info.rank);
  sqlite3_bind_int(r, 2, info.world);
  sqlite3_bind_text(r, 3, info.options.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(r, 4, info.version.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(r, 5, info.host.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_int64(r, 6, info.pid);
  sqlite3_bind_double(r, 7, info.start_time);
  int rc;
  if ((rc = run(r)) != SQLITE_DONE)
    return abandon(path + ": cannot record the run: " + describe(h, rc));
  s->m_session = sqlite3_last_insert_rowid(h);
  // Tensor ids are per session; a later session of the same rank in this file (a run continued
  // with mode=append) gets its own id range so the two never collide. The first session of each
  // rank keeps ids 0, 1, 2, ...
  int64_t earlier_sessions = 0;
  statement same_rank;
  if (!s->prepare(same_rank, "SELECT count(*) - 1 FROM run_info WHERE rank = ?1"))
    return abandon(s->m_error);
  sqlite3_bind_int(same_rank.get(), 1, info.rank);
  if (sqlite3_step(same_rank.get()) == SQLITE_ROW)
    earlier_sessions = sqlite3_column_int64(same_rank.get(), 0);
  if (earlier_sessions >= kSessionsPerWriter)
    return abandon(path + ": already holds " + std::to_string(kSessionsPerWriter) +
                   " sessions of rank " + std::to_string(info.rank) + "; use a new run directory");
  s->m_id_base =
      int32_t(((s->m_writer - 1) * kSessionsPerWriter + earlier_sessions) * kTensorIdsPerSession);
  sqlite3_stmt *c = counters_row.get();
  sqlite3_bind_int64(c, 1, s->m_session);
  sqlite3_bind_int(c, 2, info.rank);
  sqlite3_bind_double(c, 3, wall_seconds());
  if ((rc = run(c)) != SQLITE_DONE)
    return abandon(path + ": cannot record the run: " + describe(h, rc));
  if (!exec(h, "COMMIT"))
    return abandon(path + ": cannot commit the run record: " + describe(h, sqlite3_errcode(h)));
  sqlite3_busy_timeout(h, kWriteBusyMs);

  // Identity of the file, to notice when the run directory is deleted under a live run.
  if (::stat(path.c_str(), &st) != 0)
    return refuse(path + ": vanished while opening: " + std::strerror(errno));
  s->m_dev = st.st_dev;
  s->m_ino = st.st_ino;
  return s;
}

// Opens the connection to m_path and configures it (WAL, synchronous=NORMAL, cache, checkpoints):
// at open, and again after an I/O error closed the previous one.
bool sqlite_store::connect(std::string *error) {
  sqlite3 *raw = nullptr;
  int rc =
      sqlite3_open_v2(m_path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_handle db(raw);
  auto refuse = [&](const std::string &message) {
    *error = message;
    return false;
  };
  if (rc != SQLITE_OK) return refuse(open_failure(m_path, m_run_dir, db.get(), rc));
  sqlite3 *h = db.get();
  sqlite3_extended_result_codes(h, 1);
  // SQLite falls back to read-only on a write-protected file instead of failing.
  if (sqlite3_db_readonly(h, "main") == 1)
    return refuse(m_path + ": cannot open for writing: the file is write-protected");
  sqlite3_busy_timeout(h, kOpenBusyMs);
  // The version is checked before anything is written, so a store of another version (or a
  // foreign database) is refused as it was found. Reading it is also the first read of the file:
  // a file that is not a database fails here.
  int64_t version = 0, objects = 0;
  if (!query_int(h, "PRAGMA user_version", &version) ||
      !query_int(h, "SELECT count(*) FROM sqlite_schema", &objects))
    return refuse(open_failure(m_path, m_run_dir, h, sqlite3_errcode(h)));
  if (auto problem = schema_version_problem(m_path, version, objects, /*for_writing=*/true))
    return refuse(*problem);
  std::string mode;
  if (!query_text(h, "PRAGMA journal_mode=WAL", &mode))
    return refuse(open_failure(m_path, m_run_dir, h, sqlite3_errcode(h)));
  if (mode != "wal")
    return refuse(m_path + ": cannot switch to WAL mode (journal_mode stays '" + mode +
                  "'); the file system may not support shared memory");
  std::string pragmas = "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-" +
                        std::to_string(kCacheKiB) +
                        "; PRAGMA wal_autocheckpoint=" + std::to_string(kWalAutocheckpointPages) +
                        "; PRAGMA journal_size_limit=" + std::to_string(kWalSizeLimit) + ";";
  if (!exec(h, pragmas.c_str()))
    return refuse(m_path + ": cannot configure: " + describe(h, sqlite3_errcode(h)));
  sqlite3_busy_timeout(h, kWriteBusyMs);
  m_db = std::move(db);
  return true;
}

bool sqlite_store::prepare(statement &s, const char *sql) {
  if (sqlite::prepare(m_db.get(), sql, &s, SQLITE_PREPARE_PERSISTENT)) return true;
  m_error = m_path + ": cannot prepare a statement (damaged schema?): " +
            describe(m_db.get(), sqlite3_errcode(m_db.get()));
  return false;
}

bool sqlite_store::prepare_all() {
  return prepare(m_begin, "BEGIN IMMEDIATE") && prepare(m_commit, "COMMIT") &&
         prepare(m_rollback, "ROLLBACK") &&
         prepare(m_insert_sample, insert_sample_sql(1).c_str()) &&
         prepare(m_insert_samples, insert_sample_sql(kSamplesPerInsert).c_str()) &&
         prepare(m_upsert_tensor, kUpsertTensor) && prepare(m_insert_scalar, kInsertScalar) &&
         prepare(m_insert_alert, kInsertAlert) && prepare(m_insert_action, kInsertAction) &&
         prepare(m_upsert_counters, kUpsertCounters) && prepare(m_set_status, kSetStatus) &&
         prepare(m_set_end_time, kSetEndTime) && prepare(m_set_group, kSetGroup) &&
         prepare(m_insert_rank_step, kInsertRankStep) &&
         prepare(m_insert_rank_sample, kInsertRankSample);
}

bool sqlite_store::usable() {
  if (m_closed_reason.empty()) return true;
  m_error = m_path + ": the store was closed after an earlier error: " + m_closed_reason;
  return false;
}

bool sqlite_store::invalid(const std::string &what) {
  m_error = m_path + ": " + what;
  return false;
}

void sqlite_store::note_loss(uint64_t records, int64_t step, const std::string &why) {
  if (records == 0) return;
  m_records_lost += records;
  m_status_dirty = true;
  if (m_first_failure.empty())
    m_first_failure = "step " + std::to_string(step) + ": " + why;
}

bool sqlite_store::room_for(size_t bytes, int64_t step) {
  if (m_pending.bytes + bytes <= kMaxPendingBytes) {
    m_pending.bytes += bytes;
    return true;
  }
  note_loss(1, step,
            "records dropped: the store could not be written and " +
                std::to_string(kMaxPendingBytes >> 20) + " MiB of rows were waiting (" + m_error +
                ")");
  return false;
}

bool sqlite_store::file_still_there() {
  struct stat st;
  if (::stat(m_path.c_str(), &st) == 0 && st.st_dev == m_dev && st.st_ino == m_ino) return true;
  shut_down(
      "the database file was removed or replaced while the run was writing it (run "
      "directory deleted?); records after the last commit are dropped");
  return usable();
}

void sqlite_store::disconnect() {
  for (statement *s :
       {&m_begin, &m_commit, &m_rollback, &m_insert_sample, &m_insert_samples, &m_upsert_tensor,
        &m_insert_scalar, &m_insert_alert, &m_insert_action, &m_upsert_counters, &m_set_status,
        &m_set_end_time, &m_set_group, &m_insert_rank_step, &m_insert_rank_sample})
    s->reset();
  m_db.reset();
}

// Writing on would go to an unlinked file nobody can read, filling the disk unseen until the
// process exits; closing releases that space at once.
void sqlite_store::shut_down(const std::string &why) {
  m_closed_reason = why;
  m_records_lost += m_pending.records();
  m_pending.clear();
  if (m_db && !sqlite3_get_autocommit(m_db.get())) run(m_rollback.get());
  disconnect();
}

bool sqlite_store::add_tensor(const tensor_info &t) {
  if (!usable()) return false;
  if (t.id < 0) return invalid("tensor '" + t.name + "' has a negative id " + std::to_string(t.id));
  if (t.id >= kTensorIdsPerSession) {
    return invalid("tensor '" + t.name + "': more than " + std::to_string(kTensorIdsPerSession) +
                   " tensors in one session");
  }
  if (t.name.empty()) return invalid("tensor " + std::to_string(t.id) + " has an empty name");
  // Registrations are never dropped: every later row refers to them.
  m_pending.tensors.push_back(t);
  m_pending.bytes += sizeof t + t.name.size();
  return true;
}

bool sqlite_store::add_samples(std::span<const sample_record> samples) {
  if (!usable()) return false;
  // A fast trainer can offer more rows between two timed commits than the pending cap holds (an
  // idle 2-core machine: 2,000 tensors x 350 steps a second, 175 MB). Commit early once a quarter
  // of the cap waits, so rows are lost only when the store cannot be written; meanwhile the
  // collector's bounded queue drops whole samples and counts them. Not while backing off.
  if (m_pending.bytes >= kMaxPendingBytes / 4) commit(false);
  // A rejected record is the caller's data breaking the step rule, not a failure of the store: it
  // is counted (and the first one described) in run_counters, and the call still succeeds, so one
  // repeated step cannot make the caller give up on the store.
  auto reject = [&](auto describe) {
    if (m_samples_rejected++ == 0) m_first_rejection = describe();  // built once per session
    m_status_dirty = true;
  };
  for (const sample_record &r : samples) {
    auto where = [&] {
      return "step " + std::to_string(r.step) + " of tensor " + std::to_string(r.tensor_id) +
             " (rank " + std::to_string(r.rank) + ")";
    };
    if (r.tensor_id < 0) {
      reject([&] { return where() + ": negative tensor id"; });
      continue;
    }
    uint64_t key = (uint64_t(uint32_t(r.rank)) << 32) | uint32_t(r.tensor_id);
    auto [last, fresh] = m_last_step.try_emplace(key, r.step);
    if (!fresh) {
      if (r.step <= last->second) {
        const int64_t previous = last->second;
        reject(
            [&] { return where() + " does not come after its step " + std::to_string(previous); });
        continue;
      }
      last->second = r.step;
    }
    m_latest_step = std::max(m_latest_step, r.step);

    pending_sample p;
    const summary &x = r.stats;
    p.hist_offset = m_pending.hist_bytes.size();
    p.hist_size = uint32_t(append_histogram(x.exp_hist, &m_pending.hist_bytes));
    if (!room_for(sizeof p + p.hist_size, r.step)) {
      m_pending.hist_bytes.resize(p.hist_offset);
      continue;
    }
    p.rank = r.rank;
    p.step = r.step;
    p.time = r.time;
    p.tensor_id = m_id_base + r.tensor_id;
    p.count = x.count;
    p.nan = x.nan;
    p.pos_inf = x.pos_inf;
    p.neg_inf = x.neg_inf;
    p.zero = x.zero;
    p.subnormal = x.subnormal;
    p.min = x.min;
    p.max = x.max;
    p.abs_max = x.abs_max;
    p.sum = x.sum;
    p.sum_sq = x.sum_sq;
    p.sum_sq_exp2 = x.sum_sq_exp2;
    p.sum_abs = x.sum_abs;
    p.has_fingerprint = x.has_fingerprint != 0;
    p.fingerprint = x.fingerprint;
    m_pending.samples.push_back(std::move(p));
  }
  return true;
}

bool sqlite_store::add_scalar(const scalar_record &v) {
  if (!usable()) return false;
  if (v.name.empty()) return invalid("a scalar has an empty name");
  if (room_for(sizeof v + v.name.size(), v.step)) m_pending.scalars.push_back(v);
  return true;
}

bool sqlite_store::add_alert(const alert &a) {
  if (!usable()) return false;
  if (uint8_t(a.type) > uint8_t(kLastAlertType))
    return invalid("an alert has an unknown type " + std::to_string(int(a.type)));
  if (room_for(sizeof a + a.tensor.size() + a.message.size(), a.step)) {
    m_pending.alerts.push_back(a);
    if (a.tensor_id >= 0) m_pending.alerts.back().tensor_id = m_id_base + a.tensor_id;
  }
  return true;
}

bool sqlite_store::add_action(const action_record &a) {
  if (!usable()) return false;
  if (uint8_t(a.action) > uint8_t(kLastActionKind))
    return invalid("an action has an unknown kind " + std::to_string(int(a.action)));
  if (room_for(sizeof a + a.reason.size() + a.detail.size(), a.step))
    m_pending.actions.push_back(a);
  return true;
}

bool sqlite_store::set_counters(const run_counters &c) {
  if (!usable()) return false;
  m_pending.counters = c;
  return true;
}

bool sqlite_store::set_group(const group_info &g) {
  if (!usable()) return false;
  m_pending.group = g;
  return true;
}

bool sqlite_store::add_group_sample(const group_sample &g) {
  if (!usable()) return false;
  const size_t world = g.ranks.size();
  if (g.roles.size() != g.tensor_ids.size() || g.cells.size() != world * g.tensor_ids.size())
    return invalid("a group sample of step " + std::to_string(g.step) + " is inconsistent");
  const size_t bytes = sizeof g + g.ranks.size() * sizeof(group_rank_record) +
                       g.cells.size() * sizeof(rank_tensor_record) + g.tensor_ids.size() * 5;
  if (room_for(bytes, g.step)) m_pending.group_samples.push_back(g);
  return true;
}

// The inserts of one write, inside the caller's transaction; false at the first failure.
bool sqlite_store::write_rows() {
  int rc;
  for (const tensor_info &t : m_pending.tensors) {
    sqlite3_stmt *s = m_upsert_tensor.get();
    sqlite3_bind_int(s, 1, m_rank);
    sqlite3_bind_int(s, 2, m_id_base + t.id);
    sqlite3_bind_text(s, 3, t.name.c_str(), int(t.name.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 4, tensor_kind_name(t.kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, dtype_name(t.type), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, int64_t(t.numel));
    if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store a tensor", rc);
  }
  if (m_pending.group) {
    const group_info &g = *m_pending.group;
    sqlite3_stmt *s = m_set_group.get();
    sqlite3_bind_int64(s, 1, m_session);
    sqlite3_bind_text(s, 2, g.kind.c_str(), int(g.kind.size()), SQLITE_STATIC);
    sqlite3_bind_int(s, 3, g.size);
    sqlite3_bind_int(s, 4, g.rank);
    if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store the group", rc);
  }
  // Whole groups of rows in one multi-row INSERT (a third less CPU per row than one row per
  // statement, measured on the samples table), the rest one by one.
  const std::vector<pending_sample> &samples = m_pending.samples;
  size_t k = 0;
  for (; k + kSamplesPerInsert <= samples.size(); k += kSamplesPerInsert) {
    sqlite3_stmt *s = m_insert_samples.get();
    for (int j = 0; j < kSamplesPerInsert; ++j)
      bind_sample(s, j * kSampleColumnCount, samples[k + size_t(j)], m_pending.hist_bytes);
    if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store a sample", rc);
  }
  for (; k < samples.size(); ++k) {
    sqlite3_stmt *s = m_insert_sample.get();
    bind_sample(s, 0, samples[k], m_pending.hist_bytes);
    if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store a sample", rc);
  }
  for (const group_sample &g : m_pending.group_samples) {
    sqlite3_stmt *s = m_insert_rank_step.get();
    for (const group_rank_record &r : g.ranks) {
      sqlite3_bind_int(s, 1, m_rank);
      sqlite3_bind_int64(s, 2, g.step);
      sqlite3_bind_double(s, 3, g.time);
      sqlite3_bind_int(s, 4, r.rank);
      sqlite3_bind_int(s, 5, r.present ? 1 : 0);
      if (r.step_seconds > 0)
        sqlite3_bind_double(s, 6, r.step_seconds);
      else
        sqlite3_bind_null(s, 6);
      if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store a rank step", rc);
    }
    s = m_insert_rank_sample.get();
    const size_t world = g.ranks.size();
    for (size_t t = 0; t < g.tensor_ids.size(); ++t) {
      for (size_t r = 0; r < world; ++r) {
        if (!g.ranks[r].present) continue;
        const rank_tensor_record &c = g.cell(t, r);
        sqlite3_bind_int(s, 1, m_rank);
        sqlite3_bind_int64(s, 2, g.step);
        sqlite3_bind_int(s, 3, m_id_base + g.tensor_ids[t]);
        sqlite3_bind_int(s, 4, g.ranks[r].rank);
        sqlite3_bind_double(s, 5, c.l2);  // Inf only for fp64 data past double's range
        sqlite3_bind_int64(s, 6, int64_t(c.nonfinite));
        if (c.has_fingerprint)
          sqlite3_bind_int64(s, 7, int64_t(c.fingerprint));  // two's complement of the uint64
        else
          sqlite3_bind_null(s, 7);
        if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store a rank sample", rc);
      }
    }
  }
  for (const scalar_record &v : m_pending.scalars) {
    sqlite3_stmt *s = m_insert_scalar.get();
    sqlite3_bind_int(s, 1, v.rank);
    sqlite3_bind_int64(s, 2, v.step);
    sqlite3_bind_double(s, 3, v.time);
    sqlite3_bind_text(s, 4, v.name.c_str(), int(v.name.size()), SQLITE_STATIC);
    sqlite3_bind_double(s, 5, v.value);  // SQLite has no NaN: a NaN value (a diverged loss) is NULL
    if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store a scalar", rc);
  }
  for (const alert &a : m_pending.alerts) {
    sqlite3_stmt *s = m_insert_alert.get();
    sqlite3_bind_int(s, 1, a.rank);
    sqlite3_bind_int64(s, 2, a.step);
    sqlite3_bind_double(s, 3, a.time);
    if (a.tensor_id >= 0)
      sqlite3_bind_int(s, 4, a.tensor_id);  // already offset by m_id_base
    else
      sqlite3_bind_null(s, 4);
    sqlite3_bind_text(s, 5, a.tensor.c_str(), int(a.tensor.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 6, alert_type_name(a.type), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, a.message.c_str(), int(a.message.size()), SQLITE_STATIC);
    if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store an alert", rc);
  }
  for (const action_record &a : m_pending.actions) {
    sqlite3_stmt *s = m_insert_action.get();
    sqlite3_bind_int(s, 1, a.rank);
    sqlite3_bind_int64(s, 2, a.step);
    sqlite3_bind_double(s, 3, a.time);
    sqlite3_bind_text(s, 4, action_kind_name(a.action), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, a.reason.c_str(), int(a.reason.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 6, a.detail.c_str(), int(a.detail.size()), SQLITE_STATIC);
    if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store an action", rc);
  }
  if (m_pending.counters) {
    const run_counters &c = *m_pending.counters;
    sqlite3_stmt *s = m_upsert_counters.get();
    sqlite3_bind_int64(s, 1, m_session);
    sqlite3_bind_int(s, 2, m_rank);
    sqlite3_bind_double(s, 3, wall_seconds());
    sqlite3_bind_int64(s, 4, int64_t(c.samples_taken));
    sqlite3_bind_int64(s, 5, int64_t(c.samples_skipped));
    sqlite3_bind_int64(s, 6, int64_t(c.records_dropped));
    sqlite3_bind_int64(s, 7, int64_t(c.alerts_suppressed));
    sqlite3_bind_double(s, 8, c.overhead_seconds);
    sqlite3_bind_double(s, 9, c.step_seconds);
    sqlite3_bind_double(s, 10, c.device_seconds);
    if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store the run counters", rc);
  }
  if (m_status_dirty) {
    sqlite3_stmt *s = m_set_status.get();
    sqlite3_bind_int64(s, 1, m_session);
    sqlite3_bind_int64(s, 2, int64_t(m_samples_rejected));
    if (m_first_rejection.empty())
      sqlite3_bind_null(s, 3);
    else
      sqlite3_bind_text(s, 3, m_first_rejection.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, int64_t(m_records_lost));
    sqlite3_bind_int64(s, 5, int64_t(m_store_failures));
    if (m_first_failure.empty())
      sqlite3_bind_null(s, 6);
    else
      sqlite3_bind_text(s, 6, m_first_failure.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 7, wall_seconds());
    if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot store the run status", rc);
    if (m_end_time > 0) {
      s = m_set_end_time.get();
      sqlite3_bind_int64(s, 1, m_session);
      sqlite3_bind_double(s, 2, m_end_time);
      if ((rc = run(s)) != SQLITE_DONE) return write_failed("cannot mark the run closed", rc);
    }
  }
  return true;
}

// A failed write is rolled back whole and its rows stay pending (unless they can never be
// written); the store retries after a backoff, on a new connection after an I/O error.
bool sqlite_store::write_failed(const char *what, int rc) {
  m_error = m_path + ": " + what + ": " + describe(m_db.get(), rc);
  if (m_db && !sqlite3_get_autocommit(m_db.get())) run(m_rollback.get());
  if (!m_failing) {
    m_failing = true;
    ++m_store_failures;
    m_status_dirty = true;
    if (m_first_failure.empty())
      m_first_failure = "step " + std::to_string(m_latest_step) + ": " + m_error;
  }
  switch (classify(rc)) {
    case failure_kind::busy:
      m_error += "; the rows stay pending and are retried";
      break;
    case failure_kind::io:
      m_error += "; the rows stay pending and the store is reopened and retried";
      disconnect();
      break;
    case failure_kind::data: {
      const uint64_t lost = m_pending.records();
      m_error += "; " + std::to_string(lost) + " pending records are dropped";
      m_pending.drop_records();
      note_loss(lost, m_latest_step, m_error);
      break;
    }
  }
  m_retry_at_ms = monotonic_ms() + m_backoff_ms;
  m_backoff_ms = std::min(m_backoff_ms * 2, kMaxBackoffMs);
  return false;
}

bool sqlite_store::write_pending() {
  if (!file_still_there()) return false;
  if (!m_db) {
    std::string error;
    if (!connect(&error) || !prepare_all()) {
      if (m_db) error = m_error;
      disconnect();
      m_error = error;
      if (!m_failing) {
        m_failing = true;
        ++m_store_failures;
        m_status_dirty = true;
        if (m_first_failure.empty())
          m_first_failure = "step " + std::to_string(m_latest_step) + ": " + m_error;
      }
      m_retry_at_ms = monotonic_ms() + m_backoff_ms;
      m_backoff_ms = std::min(m_backoff_ms * 2, kMaxBackoffMs);
      return false;
    }
  }
  int rc = run(m_begin.get());
  if (rc != SQLITE_DONE) return write_failed("cannot begin a transaction", rc);
  if (!write_rows()) return false;
  rc = run(m_commit.get());
  if (rc != SQLITE_DONE) return write_failed("commit failed", rc);
  m_pending.clear();
  m_status_dirty = false;
  m_failing = false;
  m_backoff_ms = kFirstBackoffMs;
  m_retry_at_ms = 0;
  return true;
}

bool sqlite_store::commit(bool now) {
  if (!usable()) return false;
  if (m_pending.empty() && !m_status_dirty) return true;
  if (!now && monotonic_ms() < m_retry_at_ms) return false;  // backing off; m_error says why
  return write_pending();
}

bool sqlite_store::close() {
  if (m_closed) return m_close_ok;
  m_closed = true;
  if (!m_closed_reason.empty()) return m_close_ok = false;
  m_end_time = wall_seconds();
  m_status_dirty = true;
  // The process may be on its way out: a failing write gets a bounded number of retries.
  const int64_t deadline = monotonic_ms() + kCloseRetryMs;
  while (!write_pending()) {
    if (!m_closed_reason.empty() || monotonic_ms() >= deadline) break;
    const int64_t wait = std::min(m_retry_at_ms, deadline) - monotonic_ms();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
  }
  if (!m_pending.empty() || m_status_dirty) {
    const uint64_t lost = m_pending.records();
    const std::string why = m_error;
    bool counted = false;
    if (lost > 0 && m_closed_reason.empty()) {
      // The rows are given up and the session's status alone (its counters, the loss, the end
      // time: a few pages) is written once more, so the store says what it lost. On a full disk
      // it still fits: the failed writes left the WAL file longer than its committed frames.
      note_loss(lost, m_latest_step, "at close: " + why);
      m_pending.drop_records();
      counted = write_pending();
    }
    m_error = why + "; at close: " + std::to_string(lost) + " records could not be stored" +
              (counted ? " (counted in run_counters.records_lost)"
                       : " and the loss could not be recorded in the store either");
    m_close_ok = false;
  }
  m_folded = !m_db || checkpoint_at_close();  // no connection: nothing of ours to fold
  disconnect();
  return m_close_ok;
}

// The WAL is copied into the database file and truncated, so the file alone holds the run (what
// people copy). A reader inside a read holds it back: retried with backoff for a bounded time,
// then left with last_error() saying so. Nothing is lost (the WAL keeps the rest, and readers read
// both); the leftover WAL is what says it: readers of a closed run report it, and whoever next
// checkpoints the file folds it in (`ttap run` does once its program has exited). Not counted in
// run_counters: under `ttap run` its own monitor is such a reader, then folds the WAL itself.
bool sqlite_store::checkpoint_at_close() {
  const int64_t deadline = monotonic_ms() + kCheckpointRetryMs;
  int64_t backoff = 10;
  std::string why;
  for (;;) {
    sqlite3_busy_timeout(m_db.get(), kCheckpointTryMs);
    statement st;
    int rc = SQLITE_ERROR;
    if (sqlite::prepare(m_db.get(), "PRAGMA wal_checkpoint(TRUNCATE)", &st)) {
      rc = sqlite3_step(st.get());
      // One row (busy, frames in the WAL, frames checkpointed); busy 1: a reader kept it open.
      if (rc == SQLITE_ROW) {
        if (sqlite3_column_int(st.get(), 0) == 0) return true;
        why = "a reader was inside a read (SQLITE_BUSY)";
        rc = SQLITE_BUSY;
      } else {
        why = describe(m_db.get(), rc);  // e.g. another connection holding the write lock
      }
    } else {
      rc = sqlite3_errcode(m_db.get());
      why = describe(m_db.get(), rc);
    }
    if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) break;
    if (monotonic_ms() + backoff >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
    backoff = std::min<int64_t>(backoff * 2, 500);
  }
  const std::string file = m_path.substr(m_path.find_last_of('/') + 1);
  const std::string unfolded = m_path + ": the write-ahead log could not be checkpointed into " +
                               file + " at close: " + why + "; " + file +
                               " alone does not hold the whole run until it is: keep " + file +
                               "-wal with it";
  // After a loss at close its message stays first (it is what close() reports).
  m_error = m_close_ok ? unfolded + " (nothing is lost)" : m_error + "; " + unfolded;
  return false;
}

}  // namespace

std::unique_ptr<store> store::open(const run_info &info, std::string *error) {
  std::string message;
  std::unique_ptr<store> s = sqlite_store::open(info, &message);
  if (!s && error) *error = message;
  return s;
}

}  // namespace ttap
