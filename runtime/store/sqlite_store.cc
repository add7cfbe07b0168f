// The run store on SQLite's C API: one connection owned by the collector thread, one open
// transaction between commit() calls, prepared statements reused for every row. Every failure is
// reported through last_error(), never thrown or fatal: the training run outlives its telemetry.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

#include "runtime/store/histogram_blob.h"
#include "runtime/store/schema.h"
#include "runtime/store/store_files.h"
#include "runtime/store/sqlite_db.h"
#include "runtime/store/store.h"

namespace ttap {

namespace {

// How long a write waits for the write lock. In WAL mode readers never hold it, so only another
// writer (a second rank on the same file, a user writing in the sqlite3 shell) can make it wait;
// longer would stall the collector thread behind someone else's transaction.
constexpr int kBusyTimeoutMs = 2000;
// How long closing waits for readers and other writers before it gives up truncating the WAL.
constexpr int kCloseCheckpointWaitMs = 100;

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

double wall_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

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

// Parameter k + 1 is sample_column k.
std::string insert_sample_sql() {
  std::string values;
  for (int k = 1; k <= kSampleColumnCount; ++k)
    values += (k > 1 ? ", ?" : "?") + std::to_string(k);
  return "INSERT INTO samples (" + sample_column_list("") + ") VALUES (" + values + ")";
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
constexpr const char *kUpsertCounters =
    "INSERT INTO run_counters (session, rank, time, samples_taken, samples_skipped, "
    "records_dropped, alerts_suppressed, overhead_seconds, step_seconds) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (session) DO UPDATE SET "
    "time = excluded.time, samples_taken = excluded.samples_taken, "
    "samples_skipped = excluded.samples_skipped, records_dropped = excluded.records_dropped, "
    "alerts_suppressed = excluded.alerts_suppressed, "
    "overhead_seconds = excluded.overhead_seconds, step_seconds = excluded.step_seconds";
constexpr const char *kSetRejected =
    "UPDATE run_counters SET samples_rejected = ?2, first_rejection = ?3, time = ?4 "
    "WHERE session = ?1";
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

class sqlite_store final : public store {
 public:
  static std::unique_ptr<store> open(const run_info &info, std::string *error);

  ~sqlite_store() override {
    // Closing is a flush: whatever the caller added after its last commit is kept.
    if (m_db && (!sqlite3_get_autocommit(m_db.get()) || m_rejected_dirty)) commit();
    // SQLite checkpoints and removes the WAL only when the last connection closes; a reader that
    // has the store open (`ttap run`'s status line, `ttap watch`) would leave the whole run in the
    // WAL, which is how a killed run looks. Checkpointing and truncating it here leaves an empty
    // WAL even then, the mark of a clean close that `ttap ls` reads. Failure (a reader inside a
    // transaction, another rank still writing the same file) only leaves the WAL as it was; the
    // short wait keeps a close from stalling behind them.
    if (m_db) {
      sqlite3_busy_timeout(m_db.get(), kCloseCheckpointWaitMs);
      sqlite3_wal_checkpoint_v2(m_db.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    }
  }

  bool add_tensor(const tensor_info &t) override;
  bool add_samples(std::span<const sample_record> samples) override;
  bool add_scalar(const scalar_record &s) override;
  bool add_alert(const alert &a) override;
  bool set_counters(const run_counters &c) override;
  bool set_group(const group_info &g) override;
  bool add_group_sample(const group_sample &g) override;
  bool commit() override;
  const std::string &last_error() const override { return m_error; }
  uint64_t size_bytes() const override { return file_size(m_path) + file_size(m_path + "-wal"); }

 private:
  sqlite_store(std::string path, int32_t rank) : m_path(std::move(path)), m_rank(rank) {}

  bool prepare(statement &s, const char *sql);
  bool usable();
  bool begin_if_needed();
  bool invalid(const std::string &what);
  bool failed(const char *what, int rc);
  bool file_still_there();
  void shut_down(const std::string &why);

  std::string m_path;
  int32_t m_rank;
  int64_t m_session = 0;
  dev_t m_dev = 0;
  ino_t m_ino = 0;
  db_handle m_db;
  statement m_begin, m_commit, m_rollback;
  statement m_insert_sample, m_upsert_tensor, m_insert_scalar, m_insert_alert;
  statement m_upsert_counters, m_set_rejected;
  statement m_set_group, m_insert_rank_step, m_insert_rank_sample;
  int32_t m_id_base = 0;  // added to the session's tensor ids in every row this store writes
  // Last step stored per (rank, tensor) in this session, to hold steps increasing per tensor.
  std::unordered_map<uint64_t, int64_t> m_last_step;
  uint64_t m_samples_rejected = 0;
  std::string m_first_rejection;
  bool m_rejected_dirty = false;
  std::vector<uint8_t> m_hist;
  std::string m_closed_reason;
  std::string m_error;
};

// Tensor ids a session may use; a later session of the same rank starts its ids past the earlier
// ones' range (2^20 tensors each, up to 2047 sessions of one rank in int32).
constexpr int32_t kTensorIdsPerSession = int32_t(1) << 20;

// An exclusive flock held for the duration of a store's set-up. Failing to take it (a file system
// without locks) only loses the serialization; SQLite's busy timeout still applies.
class setup_lock {
 public:
  explicit setup_lock(const std::string &path)
      : m_fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (m_fd >= 0) {
      while (::flock(m_fd, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~setup_lock() {
    if (m_fd >= 0) ::close(m_fd);  // closing releases the lock
  }
  setup_lock(const setup_lock &) = delete;
  setup_lock &operator=(const setup_lock &) = delete;

 private:
  int m_fd;
};

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
  std::string path = info.run_dir + (info.run_dir.back() == '/' ? "" : "/") + kStoreFileName;
  // Ranks of one job open the same new file at the same moment; SQLite's own locking does not make
  // the first open (WAL switch, schema creation) safe to race, so the set-up is serialized across
  // processes with a lock file next to the store. It is released when this function returns.
  setup_lock lock(path + ".lock");
  sqlite3 *raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_handle db(raw);
  if (rc != SQLITE_OK) return refuse(open_failure(path, info.run_dir, db.get(), rc));
  sqlite3 *h = db.get();
  sqlite3_extended_result_codes(h, 1);
  // SQLite falls back to read-only on a write-protected file instead of failing.
  if (sqlite3_db_readonly(h, "main") == 1)
    return refuse(path + ": cannot open for writing: the file is write-protected");
  sqlite3_busy_timeout(h, kBusyTimeoutMs);

  // The version is checked before anything is written, so a store of another version (or a
  // foreign database) is refused as it was found; then again inside the setup transaction, where
  // another rank may have created the schema in between. Reading it is also the first read of the
  // file: a file that is not a database fails here.
  int64_t version = 0;
  auto version_problem = [&]() -> std::optional<std::string> {
    int64_t tables = 0;
    if (!query_int(h, "PRAGMA user_version", &version) ||
        !query_int(h, "SELECT count(*) FROM sqlite_schema", &tables))
      return open_failure(path, info.run_dir, h, sqlite3_errcode(h));
    return schema_version_problem(path, version, tables, /*for_writing=*/true);
  };
  if (auto problem = version_problem()) return refuse(*problem);

  std::string mode;
  if (!query_text(h, "PRAGMA journal_mode=WAL", &mode))
    return refuse(open_failure(path, info.run_dir, h, sqlite3_errcode(h)));
  if (mode != "wal")
    return refuse(path + ": cannot switch to WAL mode (journal_mode stays '" + mode +
                  "'); the file system may not support shared memory");
  std::string pragmas = "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-" +
                        std::to_string(kCacheKiB) +
                        "; PRAGMA wal_autocheckpoint=" + std::to_string(kWalAutocheckpointPages) +
                        "; PRAGMA journal_size_limit=" + std::to_string(kWalSizeLimit) + ";";
  if (!exec(h, pragmas.c_str()))
    return refuse(path + ": cannot configure: " + describe(h, sqlite3_errcode(h)));

  // Schema creation and the run's rows in one write transaction, so two ranks opening a new file
  // at once create it once.
  if (!exec(h, "BEGIN IMMEDIATE"))
    return refuse(path + ": cannot lock for setup: " + describe(h, sqlite3_errcode(h)));
  auto abandon = [&](const std::string &message) {
    exec(h, "ROLLBACK");
    return refuse(message);
  };
  if (auto problem = version_problem()) return abandon(*problem);
  if (version == 0) {
    std::string create =
        std::string(schema_sql()) + "PRAGMA user_version=" + std::to_string(kSchemaVersion) + ";";
    if (!exec(h, create.c_str()))
      return abandon(path + ": cannot create the schema: " + describe(h, sqlite3_errcode(h)));
  }

  std::unique_ptr<sqlite_store> s(new sqlite_store(path, info.rank));
  s->m_db = std::move(db);
  // Every statement is prepared before the run is recorded: a damaged schema refuses the open
  // without leaving a session behind.
  if (!s->prepare(s->m_begin, "BEGIN IMMEDIATE") || !s->prepare(s->m_commit, "COMMIT") ||
      !s->prepare(s->m_rollback, "ROLLBACK") || !s->prepare(s->m_insert_sample, insert_sample_sql().c_str()) ||
      !s->prepare(s->m_upsert_tensor, kUpsertTensor) ||
      !s->prepare(s->m_insert_scalar, kInsertScalar) ||
      !s->prepare(s->m_insert_alert, kInsertAlert) ||
      !s->prepare(s->m_upsert_counters, kUpsertCounters) ||
      !s->prepare(s->m_set_rejected, kSetRejected) || !s->prepare(s->m_set_group, kSetGroup) ||
      !s->prepare(s->m_insert_rank_step, kInsertRankStep) ||
      !s->prepare(s->m_insert_rank_sample, kInsertRankSample))
    return abandon(s->m_error);
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
  if ((rc = run(r)) != SQLITE_DONE)
    return abandon(path + ": cannot record the run: " + describe(h, rc));
  s->m_session = sqlite3_last_insert_rowid(h);
  // Tensor ids are per session; a later session of the same rank in this file (a resumed run, or
  // the hooks next to a program's own session) gets its own id range so the two never collide.
  // The first session of each rank keeps ids 0, 1, 2, ... (serialized by the set-up lock).
  int64_t earlier_sessions = 0;
  statement same_rank;
  if (!s->prepare(same_rank, "SELECT count(*) - 1 FROM run_info WHERE rank = ?1"))
    return abandon(s->m_error);
  sqlite3_bind_int(same_rank.get(), 1, info.rank);
  if (sqlite3_step(same_rank.get()) == SQLITE_ROW)
    earlier_sessions = sqlite3_column_int64(same_rank.get(), 0);
  s->m_id_base = int32_t(earlier_sessions * kTensorIdsPerSession);
  sqlite3_stmt *c = counters_row.get();
  sqlite3_bind_int64(c, 1, s->m_session);
  sqlite3_bind_int(c, 2, info.rank);
  sqlite3_bind_double(c, 3, wall_seconds());
  if ((rc = run(c)) != SQLITE_DONE)
    return abandon(path + ": cannot record the run: " + describe(h, rc));
  if (!exec(h, "COMMIT"))
    return abandon(path + ": cannot commit the run record: " + describe(h, sqlite3_errcode(h)));

  // Identity of the file, to notice when the run directory is deleted under a live run.
  if (::stat(path.c_str(), &st) != 0)
    return refuse(path + ": vanished while opening: " + std::strerror(errno));
  s->m_dev = st.st_dev;
  s->m_ino = st.st_ino;
  return s;
}

bool sqlite_store::prepare(statement &s, const char *sql) {
  if (sqlite::prepare(m_db.get(), sql, &s, SQLITE_PREPARE_PERSISTENT)) return true;
  m_error = m_path + ": cannot prepare a statement (damaged schema?): " +
            describe(m_db.get(), sqlite3_errcode(m_db.get()));
  return false;
}

bool sqlite_store::usable() {
  if (m_db) return true;
  m_error = m_path + ": the store was closed after an earlier error: " + m_closed_reason;
  return false;
}

bool sqlite_store::invalid(const std::string &what) {
  m_error = m_path + ": " + what;
  return false;
}

// A failed statement inside a transaction undoes only itself, unless SQLite had to roll the whole
// transaction back (a full disk or an I/O error can do that); say which, so the caller knows what
// was lost.
bool sqlite_store::failed(const char *what, int rc) {
  m_error = m_path + ": " + what + ": " + describe(m_db.get(), rc);
  if (sqlite3_get_autocommit(m_db.get()))
    m_error += "; the records added since the last commit were rolled back";
  return false;
}

bool sqlite_store::begin_if_needed() {
  if (!sqlite3_get_autocommit(m_db.get())) return true;
  int rc = run(m_begin.get());
  return rc == SQLITE_DONE || failed("cannot begin a transaction", rc);
}

bool sqlite_store::file_still_there() {
  struct stat st;
  if (::stat(m_path.c_str(), &st) == 0 && st.st_dev == m_dev && st.st_ino == m_ino) return true;
  shut_down(
      "the database file was removed or replaced while the run was writing it (run "
      "directory deleted?); records after the last commit are dropped");
  return usable();
}

// Writing on would go to an unlinked file nobody can read, filling the disk unseen until the
// process exits; closing releases that space at once.
void sqlite_store::shut_down(const std::string &why) {
  m_closed_reason = why;
  if (!sqlite3_get_autocommit(m_db.get())) run(m_rollback.get());
  for (statement *s : {&m_begin, &m_commit, &m_rollback, &m_insert_sample, &m_upsert_tensor,
                       &m_insert_scalar, &m_insert_alert, &m_upsert_counters, &m_set_rejected,
                       &m_set_group, &m_insert_rank_step, &m_insert_rank_sample})
    s->reset();
  m_db.reset();
}

bool sqlite_store::add_tensor(const tensor_info &t) {
  if (!usable()) return false;
  if (t.id < 0) return invalid("tensor '" + t.name + "' has a negative id " + std::to_string(t.id));
  if (t.id >= kTensorIdsPerSession) {
    return invalid("tensor '" + t.name + "': more than " + std::to_string(kTensorIdsPerSession) +
                   " tensors in one session");
  }
  if (t.name.empty()) return invalid("tensor " + std::to_string(t.id) + " has an empty name");
  if (!begin_if_needed()) return false;
  sqlite3_stmt *s = m_upsert_tensor.get();
  sqlite3_bind_int(s, 1, m_rank);
  sqlite3_bind_int(s, 2, m_id_base + t.id);
  sqlite3_bind_text(s, 3, t.name.c_str(), int(t.name.size()), SQLITE_STATIC);
  sqlite3_bind_text(s, 4, tensor_kind_name(t.kind), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 5, dtype_name(t.type), -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 6, int64_t(t.numel));
  int rc = run(s);
  return rc == SQLITE_DONE || failed("cannot store a tensor", rc);
}

bool sqlite_store::add_samples(std::span<const sample_record> samples) {
  if (!usable()) return false;
  if (samples.empty()) return true;
  if (!begin_if_needed()) return false;
  sqlite3_stmt *s = m_insert_sample.get();
  // A rejected record is the caller's data breaking the step rule, not a failure of the store: it
  // is counted (and the first one described) in run_counters, and the call still succeeds, so one
  // repeated step cannot make the caller give up on the store.
  auto reject = [&](auto describe) {
    if (m_samples_rejected++ == 0) m_first_rejection = describe();  // built once per session
    m_rejected_dirty = true;
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
    int64_t previous = last->second;
    if (!fresh) {
      if (r.step <= previous) {
        reject(
            [&] { return where() + " does not come after its step " + std::to_string(previous); });
        continue;
      }
      last->second = r.step;
    }

    const summary &x = r.stats;
    encode_histogram(x.exp_hist, &m_hist);
    sqlite3_bind_int(s, kSampleRank + 1, r.rank);
    sqlite3_bind_int64(s, kSampleStep + 1, r.step);
    sqlite3_bind_double(s, kSampleTime + 1, r.time);
    sqlite3_bind_int(s, kSampleTensorId + 1, m_id_base + r.tensor_id);
    sqlite3_bind_int64(s, kSampleCount + 1, int64_t(x.count));
    sqlite3_bind_int64(s, kSampleNan + 1, int64_t(x.nan));
    sqlite3_bind_int64(s, kSamplePosInf + 1, int64_t(x.pos_inf));
    sqlite3_bind_int64(s, kSampleNegInf + 1, int64_t(x.neg_inf));
    sqlite3_bind_int64(s, kSampleZero + 1, int64_t(x.zero));
    sqlite3_bind_int64(s, kSampleSubnormal + 1, int64_t(x.subnormal));
    // min/max are +-Inf exactly when there is no finite value; NULL says so in SQL terms.
    if (std::isfinite(x.min) && std::isfinite(x.max)) {
      sqlite3_bind_double(s, kSampleMin + 1, x.min);
      sqlite3_bind_double(s, kSampleMax + 1, x.max);
    } else {
      sqlite3_bind_null(s, kSampleMin + 1);
      sqlite3_bind_null(s, kSampleMax + 1);
    }
    // Over finite values abs_max is max(-min, max), which the view derives; storing it only when a
    // summary disagrees keeps the view exact at no cost per row.
    if (x.abs_max == std::fmax(-x.min, x.max))
      sqlite3_bind_null(s, kSampleAbsMax + 1);
    else
      sqlite3_bind_double(s, kSampleAbsMax + 1, x.abs_max);
    sqlite3_bind_double(s, kSampleSum + 1, x.sum);  // a NaN binds as NULL
    sqlite3_bind_double(s, kSampleSumSq + 1, x.sum_sq);
    sqlite3_bind_int(s, kSampleSumSqExp2 + 1, x.sum_sq_exp2);
    sqlite3_bind_double(s, kSampleSumAbs + 1, x.sum_abs);
    if (x.has_fingerprint)
      sqlite3_bind_int64(s, kSampleFingerprint + 1, int64_t(x.fingerprint));  // the uint64's bits
    else
      sqlite3_bind_null(s, kSampleFingerprint + 1);
    sqlite3_bind_blob(s, kSampleHist + 1, m_hist.data(), int(m_hist.size()), SQLITE_STATIC);
    int rc = run(s);
    if (rc != SQLITE_DONE) {
      if (fresh)
        m_last_step.erase(last);
      else
        last->second = previous;
      return failed("cannot store a sample", rc);
    }
  }
  return true;
}

bool sqlite_store::add_scalar(const scalar_record &v) {
  if (!usable()) return false;
  if (v.name.empty()) return invalid("a scalar has an empty name");
  if (!begin_if_needed()) return false;
  sqlite3_stmt *s = m_insert_scalar.get();
  sqlite3_bind_int(s, 1, v.rank);
  sqlite3_bind_int64(s, 2, v.step);
  sqlite3_bind_double(s, 3, v.time);
  sqlite3_bind_text(s, 4, v.name.c_str(), int(v.name.size()), SQLITE_STATIC);
  sqlite3_bind_double(s, 5, v.value);  // SQLite has no NaN: a NaN value (a diverged loss) is NULL
  int rc = run(s);
  return rc == SQLITE_DONE || failed("cannot store a scalar", rc);
}

bool sqlite_store::add_alert(const alert &a) {
  if (!usable()) return false;
  if (uint8_t(a.type) > uint8_t(kLastAlertType))
    return invalid("an alert has an unknown type " + std::to_string(int(a.type)));
  if (!begin_if_needed()) return false;
  sqlite3_stmt *s = m_insert_alert.get();
  sqlite3_bind_int(s, 1, a.rank);
  sqlite3_bind_int64(s, 2, a.step);
  sqlite3_bind_double(s, 3, a.time);
  if (a.tensor_id >= 0)
    sqlite3_bind_int(s, 4, m_id_base + a.tensor_id);
  else
    sqlite3_bind_null(s, 4);
  sqlite3_bind_text(s, 5, a.tensor.c_str(), int(a.tensor.size()), SQLITE_STATIC);
  sqlite3_bind_text(s, 6, alert_type_name(a.type), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 7, a.message.c_str(), int(a.message.size()), SQLITE_STATIC);
  int rc = run(s);
  return rc == SQLITE_DONE || failed("cannot store an alert", rc);
}

bool sqlite_store::set_counters(const run_counters &c) {
  if (!usable()) return false;
  if (!begin_if_needed()) return false;
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
  int rc = run(s);
  return rc == SQLITE_DONE || failed("cannot store the run counters", rc);
}

bool sqlite_store::set_group(const group_info &g) {
  if (!usable()) return false;
  if (!begin_if_needed()) return false;
  sqlite3_stmt *s = m_set_group.get();
  sqlite3_bind_int64(s, 1, m_session);
  sqlite3_bind_text(s, 2, g.kind.c_str(), int(g.kind.size()), SQLITE_STATIC);
  sqlite3_bind_int(s, 3, g.size);
  sqlite3_bind_int(s, 4, g.rank);
  int rc = run(s);
  return rc == SQLITE_DONE || failed("cannot store the group", rc);
}

bool sqlite_store::add_group_sample(const group_sample &g) {
  if (!usable()) return false;
  const size_t world = g.ranks.size();
  if (g.roles.size() != g.tensor_ids.size() || g.cells.size() != world * g.tensor_ids.size())
    return invalid("a group sample of step " + std::to_string(g.step) + " is inconsistent");
  if (!begin_if_needed()) return false;
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
    if (int rc = run(s); rc != SQLITE_DONE) return failed("cannot store a rank step", rc);
  }
  s = m_insert_rank_sample.get();
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
      if (int rc = run(s); rc != SQLITE_DONE) return failed("cannot store a rank sample", rc);
    }
  }
  return true;
}

bool sqlite_store::commit() {
  if (!usable() || !file_still_there()) return false;
  if (m_rejected_dirty) {
    if (!begin_if_needed()) return false;
    sqlite3_stmt *s = m_set_rejected.get();
    sqlite3_bind_int64(s, 1, m_session);
    sqlite3_bind_int64(s, 2, int64_t(m_samples_rejected));
    sqlite3_bind_text(s, 3, m_first_rejection.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 4, wall_seconds());
    int rc = run(s);
    if (rc != SQLITE_DONE) return failed("cannot store the rejected-sample count", rc);
    m_rejected_dirty = false;
  }
  if (sqlite3_get_autocommit(m_db.get())) return true;
  int rc = run(m_commit.get());
  if (rc == SQLITE_DONE) return true;
  // A transaction that cannot commit (disk full, I/O error) is rolled back rather than kept open:
  // retrying it would grow it without bound, and what was committed before stays intact.
  m_error = m_path + ": commit failed, the records since the last commit are dropped: " +
            describe(m_db.get(), rc);
  if (!sqlite3_get_autocommit(m_db.get())) run(m_rollback.get());
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
