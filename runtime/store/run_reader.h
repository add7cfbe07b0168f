// Read-only access to a run directory's store for the tools (ttap run's live status and summary,
// report, watch, export, sql): opens every database file of the run (ttap.db and the other
// writers' ttap.rank-R.db) without ever blocking a writer, combines them, and turns every way a
// directory can fail to be a run into one clear message.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/store/histogram_blob.h"
#include "runtime/store/sqlite_db.h"

namespace ttap {

struct run_session_info {
  int64_t session = 0;
  int32_t rank = 0, world = 1;
  std::string options, version, host;
  int64_t pid = 0;
  double start_time = 0;
  // When the session closed cleanly (the store checkpointed and marked it); nullopt while it is
  // live, when its process died without closing, and in stores older than version 3.
  std::optional<double> end_time;
  // The session's group (ttap_set_group): kind "" when it was in none (always, in a version 1
  // store).
  std::string group_kind;
  int32_t group_size = 0, group_rank = -1;
  size_t file = 0;  // index into run_reader::files()
};

// One rank of a group over the run, from the per-rank tables rank 0 of the group wrote.
struct rank_total_row {
  int32_t rank = 0;
  uint64_t samples = 0;                // group samples it contributed to
  uint64_t absent = 0;                 // group samples it had no sample for
  std::optional<double> step_seconds;  // mean of the step times it reported
  uint64_t nonfinite = 0;              // NaN/Inf values in its parts, over every sample
  std::optional<double> last_grad_l2;  // l2 over its grad tensors at the latest group step
};

struct run_counters_row {
  int32_t rank = 0;
  double time = 0;
  uint64_t samples_taken = 0, samples_skipped = 0, records_dropped = 0, alerts_suppressed = 0,
           samples_rejected = 0;
  double overhead_seconds = 0, step_seconds = 0;
  // The store's own failures (version 3): records it could not keep, failure episodes, and the
  // first one ("step 40: ...: database is locked (SQLITE_BUSY); ...").
  uint64_t records_lost = 0, store_failures = 0;
  std::string first_store_failure;
  double device_seconds = 0;  // tensortap's device time (0 in runs that counted none)
  size_t file = 0;
};

// The counters of every session added up (time: the latest; first_store_failure: the first).
run_counters_row sum_counters(const std::vector<run_counters_row> &rows);

struct tensor_row {
  int32_t rank = 0, id = 0;
  std::string name, kind, dtype;
  uint64_t numel = 0;
};

// One row of samples_v, plus the histogram when asked for. Optional doubles are SQL NULLs.
struct sample_row {
  size_t file = 0;    // the store file it came from (index into run_reader::files())
  int64_t rowid = 0;  // its rowid in that file
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  int32_t tensor_id = 0;
  std::string tensor;  // name ("" when the tensor row is missing)
  uint64_t count = 0, nan = 0, pos_inf = 0, neg_inf = 0, zero = 0, subnormal = 0;
  std::optional<double> min, max, abs_max, sum, sum_sq, sum_abs, l2, mean, std;
  std::optional<exp_histogram> hist;  // only with with_histograms
  uint64_t nonfinite() const { return nan + pos_inf + neg_inf; }
};

struct alert_row {
  size_t file = 0;
  int64_t rowid = 0;  // in its file: (file, rowid) identifies an alert
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  std::string tensor, type, message;
};

// One row of actions_v: what a response policy did (version 4 stores; older ones have none).
struct action_row {
  size_t file = 0;
  int64_t rowid = 0;
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  std::string action, reason, detail;  // "skip" | "dump" | "abort"; "nonfinite" | "spike"; one line
};

struct scalar_row {
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  std::string name;
  std::optional<double> value;  // NULL: the value was NaN
};

// What `ttap diff` compares of one sample, without its name or histogram, so that a million rows
// read quickly. summary_hash covers every stored field of the summary (histogram included): two
// samples whose summaries are identical to the bit have the same hash.
struct sample_values_row {
  size_t file = 0;  // the store file it came from
  int64_t rowid = 0;
  int32_t rank = 0, tensor_id = 0;
  int64_t step = 0;
  double l2 = 0;  // over finite values
  std::optional<double> abs_max;
  uint64_t nonfinite = 0;
  std::optional<uint64_t> fingerprint;  // when the sample was fingerprinted
  uint64_t summary_hash = 0;
};

// One rank's own part of a tensor at a group sample (rank_samples); the tensor is the writer's.
struct rank_part_row {
  int32_t writer = 0, rank = 0, tensor_id = 0;
  int64_t step = 0;
  std::optional<double> l2;
  uint64_t nonfinite = 0;
  std::optional<uint64_t> fingerprint;
};

// One database file of the run, as the reader found it.
struct store_file_status {
  std::string path, name;
  int32_t rank = 0;  // from its name
  int version = 0;   // its schema version
  // A writer holds the file's lock right now (the run, or this part of it, is live).
  bool live = false;
  // Sessions in the file, and how many of them closed cleanly (version 3 records it).
  size_t sessions = 0, closed_sessions = 0;
  // Bytes in its write-ahead log (FILE-wal). With no live writer and every session closed: what
  // the writer could not checkpoint into the file at close (a reader was inside a read then); the
  // file alone does not hold the whole run until something checkpoints it.
  uint64_t wal_bytes = 0;
  // Not readable as a store, with the reason: an empty file left by a writer that failed before
  // writing its schema. Such a file is listed here and in gaps, never read.
  std::string problem;
};

// Where a reader of a live run has read up to: the last rowid seen in each store file. Starts at
// the beginning; the reader advances it.
class read_cursor {
 public:
  int64_t after(size_t file) const { return file < m_after.size() ? m_after[file] : 0; }
  void advance(size_t file, int64_t rowid);

 private:
  std::vector<int64_t> m_after;
};

class run_reader {
 public:
  // Opens RUN_DIR's store read-only. Null with *error set (naming the directory or the file and
  // the problem) when the directory is missing, not a directory, unreadable, or not a run (no store
  // file), or when a store file is not a regular file (a FIFO, a directory, a dangling or looping
  // symlink), cannot be read (permissions), is not a tensortap store, or is of a version this
  // build does not read (it reads versions 1 to the current one).
  static std::unique_ptr<run_reader> open(const std::string &run_dir, std::string *error);
  ~run_reader();
  run_reader(const run_reader &) = delete;
  run_reader &operator=(const run_reader &) = delete;

  const std::string &dir() const { return m_dir; }

  // Looks for store files created since open (ranks that started later) and opens them. False
  // (message in last_error()) when a new file cannot be read.
  bool refresh();
  // The run's files, ttap.db first, then by rank (the index is sample_row::file etc.).
  const std::vector<store_file_status> &files() const { return m_status; }
  // Whether any writer of the run is live.
  bool live() const;

  // Every query returns false (message in last_error()) on a database error, e.g. corruption found
  // while reading; the tools print it and exit 2. Rows of every file are combined.
  bool sessions(std::vector<run_session_info> *out);  // by start time
  bool counters(std::vector<run_counters_row> *out);
  bool tensors(std::vector<tensor_row> *out);  // by (rank, id)
  // Samples after `cursor` (null: all), in time order, at most `limit` of them (0: no limit), and
  // advances the cursor past them. Reading in batches is how a live run is followed and how a large
  // run is read without holding it all in memory.
  bool samples(read_cursor *cursor, bool with_histograms, std::vector<sample_row> *out,
               size_t limit = 0);
  // The samples of one tensor (by name), in step order, then rank order.
  bool samples_of(const std::string &tensor, bool with_histograms, std::vector<sample_row> *out);
  // Alerts after `cursor` (null: all), in time order; advances the cursor.
  bool alerts(read_cursor *cursor, std::vector<alert_row> *out);
  // Actions after `cursor` (null: all), in time order; advances the cursor. None in stores older
  // than version 4.
  bool actions(read_cursor *cursor, std::vector<action_row> *out);
  bool scalars(const std::string &name, std::vector<scalar_row> *out);  // "" = every name
  // The newest value of scalar `name` of each rank (one row per rank that logged it).
  bool latest_scalars(const std::string &name, std::vector<scalar_row> *out);
  // The largest step stored so far (-1 when there is no sample).
  bool latest_step(int64_t *out);
  // Per rank of a group, in rank order; empty when the run had no group (or the store is of
  // version 1, which predates groups).
  bool rank_totals(std::vector<rank_total_row> *out);

  // The values ttap diff compares after `cursor` (null: all), at most `limit` rows of each store
  // file (0: all), each file's in rowid order; advances the cursor. Empty when all were read.
  bool sample_values(read_cursor *cursor, size_t limit, std::vector<sample_values_row> *out);
  // Every rank's own part of every group sample, in step order; empty without a group.
  bool rank_parts(std::vector<rank_part_row> *out);
  // For listings of many runs: lookups on the small tables that never scan the samples.
  bool alert_count(uint64_t *out);
  // The first alert of `type` (by step, then rowid); nullopt when there is none.
  bool first_alert_of_type(const std::string &type, std::optional<alert_row> *out);

  const std::string &last_error() const { return m_error; }

 private:
  struct file;
  run_reader() = default;
  bool add_file(const std::string &path, const std::string &name, int32_t rank, std::string *error);
  bool fail(size_t file, const std::string &what);
  // Runs `sql` on every readable file: bind(stmt) binds its parameters, row(stmt, file index) reads
  // a row; false (message in last_error(), naming `what` and the file) on any error.
  // The same on file `k` alone.
  template <class Bind, class Row>
  bool query_file(size_t k, const char *what, const std::string &sql, Bind &&bind, Row &&row);
  template <class Bind, class Row>
  bool query_each(const char *what, const std::string &sql, Bind &&bind, Row &&row,
                  int min_version = 1);
  // The rows of `sql` (rowid > ?1) after the cursor, each read by decode(stmt), in (time, file,
  // rowid) order; the cursor moves past them. Alerts and actions are read this way.
  template <class Row, class Decode>
  bool rows_after(const char *what, const std::string &sql, read_cursor *cursor,
                  std::vector<Row> *out, Decode &&decode, int min_version = 1);
  // Moves the cursor past `rows` (read with rowid > the cursor). False (a damaged store named in
  // last_error()) when a row is not after its file's cursor: a caller reading until no new rows
  // come would otherwise be handed the same rows forever.
  template <class Row>
  bool advance_past(const char *what, const std::vector<Row> &rows, read_cursor *cursor);

  std::string m_dir;
  std::vector<std::unique_ptr<file>> m_files;
  std::vector<store_file_status> m_status;
  std::string m_error;
};

// The run as one SQLite connection, for SQL users (ttap sql, tests): a run of one store file is
// that file, opened read-only; a run of several has them attached read-only (as r0, r1, ...) to
// a private temporary database, with TEMP views named like the store's views and tables
// (samples_v, alerts_v, scalars_v, ranks_v, run_info, run_counters, tensors, samples, ...) that
// UNION ALL them, so a query written for one ttap.db runs over every rank. A run of more files
// than the SQLite library attaches (its SQLITE_MAX_ATTACHED, 10 in most builds; the connection's
// limit is raised to it) has every file's tables copied into that temporary database instead,
// with the store's indexes and views over the copies: the same names, slower to open.
bool open_combined_run(const std::string &run_dir, sqlite::db_handle *out, std::string *error);
// The script open_combined_run runs for a run of several files (absolute paths), for the sqlite3
// shell: sqlite3 -cmd "$(ttap sql DIR --setup)". A run of more files than the library attaches is
// refused with a message naming ttap sql DIR "QUERY" (which copies them).
bool combined_views_sql(const std::string &run_dir, std::string *sql, std::string *error);

}  // namespace ttap
