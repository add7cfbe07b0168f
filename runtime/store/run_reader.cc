// The run reader: one read-only SQLite connection per store file of the run (so a live writer is
// never blocked), the checks that tell "not a run" from "not a tensortap store" from "corrupted"
// from "not a regular file", and queries over every file, merged.
#include "runtime/store/run_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "runtime/store/schema.h"
#include "runtime/store/sqlite_db.h"
#include "runtime/store/store_files.h"

namespace ttap {
namespace {

using sqlite::column_count;
using sqlite::column_double;
using sqlite::column_text;

// What a path that should be a store file is instead, or "" when it is a regular file that can be
// read. stat() follows symlinks: a dangling or looping one is named as such. Opening a FIFO for
// SQLite would block forever, so the type is checked before anything opens the file.
std::string not_a_readable_file(const std::string &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ELOOP) return "a symlink loop (too many levels of symbolic links)";
    if (e == ENOENT) return "a dangling symlink (its target does not exist)";
    if (e == EACCES) return "cannot be reached: permission denied (on a directory of its path)";
    return std::string("cannot be examined: ") + std::strerror(e);
  }
  if (S_ISFIFO(st.st_mode)) return "a FIFO (named pipe), not a database file";
  if (S_ISDIR(st.st_mode)) return "a directory, not a database file";
  if (S_ISSOCK(st.st_mode)) return "a socket, not a database file";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device, not a database file";
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int e = errno;
    if (e == EACCES || e == EPERM) return "cannot be read: permission denied";
    return std::string("cannot be read: ") + std::strerror(e);
  }
  ::close(fd);
  return "";
}

// Samples come from the table (with its rowid) joined to the tensor names by primary key; the
// derived values are computed by summary_finalize, the same arithmetic samples_v uses. Columns:
// rowid, name, then the table's in sample_column order.
constexpr int kSampleFirstColumn = 2;
std::string sample_select() {
  return "SELECT s.rowid, coalesce(t.name, ''), " + sample_column_list("s.") +
         " FROM samples AS s LEFT JOIN tensors AS t ON t.rank = s.rank AND t.id = s.tensor_id ";
}
sample_row read_sample(sqlite3_stmt *st, bool with_histograms) {
  auto col = [](int c) { return kSampleFirstColumn + c; };
  sample_row r;
  r.rowid = sqlite3_column_int64(st, 0);
  r.tensor = column_text(st, 1);
  r.rank = sqlite3_column_int(st, col(kSampleRank));
  r.step = sqlite3_column_int64(st, col(kSampleStep));
  r.time = sqlite3_column_double(st, col(kSampleTime));
  r.tensor_id = sqlite3_column_int(st, col(kSampleTensorId));
  summary s;
  summary_clear(s);
  s.count = r.count = column_count(st, col(kSampleCount));
  s.nan = r.nan = column_count(st, col(kSampleNan));
  s.pos_inf = r.pos_inf = column_count(st, col(kSamplePosInf));
  s.neg_inf = r.neg_inf = column_count(st, col(kSampleNegInf));
  s.zero = r.zero = column_count(st, col(kSampleZero));
  s.subnormal = r.subnormal = column_count(st, col(kSampleSubnormal));
  r.min = column_double(st, col(kSampleMin));
  r.max = column_double(st, col(kSampleMax));
  if (r.min && r.max) {
    auto stored_abs_max = column_double(st, col(kSampleAbsMax));
    r.abs_max = stored_abs_max ? *stored_abs_max : std::max(-*r.min, *r.max);
  }
  r.sum = column_double(st, col(kSampleSum));
  s.sum = r.sum.value_or(0.0);
  s.sum_sq = column_double(st, col(kSampleSumSq)).value_or(0.0);
  s.sum_sq_exp2 = sqlite3_column_int(st, col(kSampleSumSqExp2));
  r.sum_abs = column_double(st, col(kSampleSumAbs));
  if (with_histograms) {
    const int c = col(kSampleHist);
    auto *blob = static_cast<const uint8_t *>(sqlite3_column_blob(st, c));
    r.hist = decode_histogram(std::span<const uint8_t>(blob, size_t(sqlite3_column_bytes(st, c))));
  }
  summary_derived d = summary_finalize(s);
  r.l2 = d.l2;
  if (std::isfinite(d.sum_sq)) r.sum_sq = d.sum_sq;
  if (d.has_finite) {
    r.mean = d.mean;
    if (r.sum_sq) r.std = d.std;
  }
  return r;
}

// An alert's columns: rowid, rank, step, time, tensor, type, message.
constexpr const char *kAlertColumns =
    "SELECT rowid, rank, step, time, tensor, type, message FROM alerts ";
alert_row read_alert(sqlite3_stmt *st) {
  alert_row a;
  a.rowid = sqlite3_column_int64(st, 0);
  a.rank = sqlite3_column_int(st, 1);
  a.step = sqlite3_column_int64(st, 2);
  a.time = sqlite3_column_double(st, 3);
  a.tensor = column_text(st, 4);
  a.type = column_text(st, 5);
  a.message = column_text(st, 6);
  return a;
}

// A scalar's columns: rank, step, time, name, value.
scalar_row read_scalar(sqlite3_stmt *st) {
  scalar_row s;
  s.rank = sqlite3_column_int(st, 0);
  s.step = sqlite3_column_int64(st, 1);
  s.time = sqlite3_column_double(st, 2);
  s.name = column_text(st, 3);
  s.value = column_double(st, 4);
  return s;
}

// Merges per-file row lists into one, ordered by `less`.
template <class Row, class Less>
void sort_rows(std::vector<Row> *rows, Less less) {
  std::stable_sort(rows->begin(), rows->end(), less);
}

}  // namespace

void read_cursor::advance(size_t file, int64_t rowid) {
  if (m_after.size() <= file) m_after.resize(file + 1, 0);
  m_after[file] = std::max(m_after[file], rowid);
}

struct run_reader::file {
  sqlite::db_handle db;  // null for a file with a problem
  int version = 0;
  bool has_device_seconds = false;  // run_counters.device_seconds (joined version 4 late)
};

run_reader::~run_reader() = default;

bool run_reader::fail(size_t k, const std::string &what) {
  sqlite3 *db = m_files[k]->db.get();
  m_error = m_status[k].path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "no database");
  return false;
}

template <class Bind, class Row>
bool run_reader::query_file(size_t k, const char *what, const std::string &sql, Bind &&bind,
                            Row &&row) {
  sqlite::statement st;
  if (!sqlite::prepare(m_files[k]->db.get(), sql.c_str(), &st)) return fail(k, what);
  bind(st.get(), k);
  if (!sqlite::for_each_row(st.get(), [&](sqlite3_stmt *s) { row(s, k); })) return fail(k, what);
  return true;
}

template <class Bind, class Row>
bool run_reader::query_each(const char *what, const std::string &sql, Bind &&bind, Row &&row,
                            int min_version) {
  for (size_t k = 0; k < m_files.size(); ++k) {
    file &f = *m_files[k];
    if (!f.db || f.version < min_version) continue;
    if (!query_file(k, what, sql, bind, row)) return false;
  }
  return true;
}

std::unique_ptr<run_reader> run_reader::open(const std::string &run_dir, std::string *error) {
  struct stat st;
  if (::stat(run_dir.c_str(), &st) != 0) {
    const int e = errno;
    *error = run_dir + (e == ENOENT    ? ": no such directory"
                        : e == ELOOP   ? ": a symlink loop (too many levels of symbolic links)"
                        : e == EACCES  ? ": cannot be reached: permission denied"
                                       : std::string(": ") + std::strerror(e));
    return nullptr;
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = run_dir + ": not a directory (a run is a directory holding " + kStoreFileName + ")";
    return nullptr;
  }
  if (::access(run_dir.c_str(), R_OK | X_OK) != 0) {
    *error = run_dir + ": cannot read the directory: permission denied";
    return nullptr;
  }
  std::unique_ptr<run_reader> r(new run_reader());
  r->m_dir = run_dir;
  if (!r->refresh()) {
    *error = r->m_error;
    return nullptr;
  }
  if (r->m_files.empty()) {
    *error = run_dir + ": not a tensortap run (no " + kStoreFileName + " in it)";
    return nullptr;
  }
  // A file a live writer is still creating is not an error: the run has just started.
  const bool readable = std::any_of(r->m_files.begin(), r->m_files.end(),
                                    [](const auto &f) { return f->db != nullptr; });
  if (!readable && !r->live()) {
    *error = r->m_status[0].path + ": " + r->m_status[0].problem;
    return nullptr;
  }
  return r;
}

bool run_reader::refresh() {
  std::vector<store_file> found;
  if (!list_store_files(m_dir, &found, &m_error)) return false;
  std::set<std::string> known;
  for (const auto &s : m_status) known.insert(s.name);
  for (const store_file &f : found) {
    if (known.count(f.name)) continue;
    if (!add_file(f.path, f.name, f.rank, &m_error)) return false;
  }
  // Files that had a problem at the last look (a writer creating its schema) are looked at again.
  for (size_t k = 0; k < m_files.size(); ++k) {
    if (m_files[k]->db || m_status[k].problem.empty()) continue;
    store_file_status status = m_status[k];
    m_files.erase(m_files.begin() + long(k));
    m_status.erase(m_status.begin() + long(k));
    if (!add_file(status.path, status.name, status.rank, &m_error)) return false;
    // add_file appends; keep the file's index stable for cursors and rows already handed out.
    std::rotate(m_files.begin() + long(k), m_files.end() - 1, m_files.end());
    std::rotate(m_status.begin() + long(k), m_status.end() - 1, m_status.end());
  }
  for (size_t k = 0; k < m_files.size(); ++k) {
    store_file_status &s = m_status[k];
    s.live = writer_is_live(s.path);
    struct stat wal;
    s.wal_bytes = ::stat((s.path + "-wal").c_str(), &wal) == 0 ? uint64_t(wal.st_size) : 0;
    if (!m_files[k]->db) continue;
    sqlite3 *db = m_files[k]->db.get();
    sqlite::statement q;
    const char *sql = m_files[k]->version >= 3
                          ? "SELECT count(*), count(end_time) FROM run_info"
                          : "SELECT count(*), 0 FROM run_info";
    if (!sqlite::prepare(db, sql, &q) || sqlite3_step(q.get()) != SQLITE_ROW)
      return fail(k, "reading run_info");
    s.sessions = size_t(sqlite3_column_int64(q.get(), 0));
    s.closed_sessions = size_t(sqlite3_column_int64(q.get(), 1));
  }
  return true;
}

bool run_reader::add_file(const std::string &path, const std::string &name, int32_t rank,
                          std::string *error) {
  if (std::string why = not_a_readable_file(path); !why.empty()) {
    *error = path + ": " + why;
    return false;
  }
  auto f = std::make_unique<file>();
  store_file_status status;
  status.path = path;
  status.name = name;
  status.rank = rank;
  sqlite3 *raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  f->db.reset(raw);
  if (rc != SQLITE_OK) {
    *error = path + ": cannot open: " + sqlite3_errmsg(raw);
    return false;
  }
  sqlite3 *db = f->db.get();
  sqlite3_busy_timeout(db, 2000);
  // A file that is not SQLite, or an SQLite file of another kind or version, fails here.
  sqlite::statement st;
  if (!sqlite::prepare(db, "SELECT (SELECT user_version FROM pragma_user_version), "
                           "(SELECT count(*) FROM sqlite_schema)",
                       &st) ||
      sqlite3_step(st.get()) != SQLITE_ROW) {
    *error = path + ": not a readable SQLite database (" + sqlite3_errmsg(db) + ")";
    return false;
  }
  const int version = sqlite3_column_int(st.get(), 0);
  const int64_t objects = sqlite3_column_int64(st.get(), 1);
  st.reset();
  status.version = version;
  if (version == 0 && objects == 0) {
    // An empty database: a writer creating it right now, or one that failed before it could
    // write anything (a full disk at start). Listed, not read.
    status.problem = writer_is_live(path)
                         ? "being created"
                         : "an empty database, not a tensortap store yet: its writer failed "
                           "before it wrote anything (a full disk or an unwritable directory at "
                           "start?); no data from it";
    f->db.reset();
  } else {
    if (auto problem = schema_version_problem(path, version, objects, /*for_writing=*/false)) {
      *error = *problem;
      return false;
    }
    sqlite::statement probe;
    if (!sqlite::prepare(db, "SELECT count(*) FROM samples_v LIMIT 1", &probe)) {
      *error = path + ": not a tensortap store (" + sqlite3_errmsg(db) + ")";
      return false;
    }
    f->version = version;
    sqlite::statement column;
    f->has_device_seconds =
        sqlite::prepare(db,
                        "SELECT 1 FROM pragma_table_info('run_counters') "
                        "WHERE name = 'device_seconds'",
                        &column) &&
        sqlite3_step(column.get()) == SQLITE_ROW;
  }
  m_files.push_back(std::move(f));
  m_status.push_back(std::move(status));
  return true;
}

bool run_reader::live() const {
  return std::any_of(m_status.begin(), m_status.end(),
                     [](const store_file_status &s) { return s.live; });
}

bool run_reader::sessions(std::vector<run_session_info> *out) {
  out->clear();
  // Version 2 added the group columns, version 3 end_time.
  auto read = [&](sqlite3_stmt *st, size_t k, bool groups, bool end) {
    run_session_info s;
    s.file = k;
    s.session = sqlite3_column_int64(st, 0);
    s.rank = sqlite3_column_int(st, 1);
    s.world = sqlite3_column_int(st, 2);
    s.options = column_text(st, 3);
    s.version = column_text(st, 4);
    s.host = column_text(st, 5);
    s.pid = sqlite3_column_int64(st, 6);
    s.start_time = sqlite3_column_double(st, 7);
    if (groups && sqlite3_column_type(st, 8) != SQLITE_NULL) {
      s.group_kind = column_text(st, 8);
      s.group_size = sqlite3_column_int(st, 9);
      s.group_rank = sqlite3_column_int(st, 10);
    }
    if (end) s.end_time = column_double(st, 11);
    out->push_back(s);
  };
  auto none = [](sqlite3_stmt *, size_t) {};
  constexpr const char *kBase = "SELECT session, rank, world, options, version, host, pid, start_time";
  bool ok =
      query_each("reading run_info",
                 std::string(kBase) + ", group_kind, group_size, group_rank, end_time FROM run_info",
                 none, [&](sqlite3_stmt *st, size_t k) { read(st, k, true, true); }, 3);
  for (int v : {2, 1}) {
    if (!ok) break;
    ok = query_each(
        "reading run_info",
        std::string(kBase) + (v == 2 ? ", group_kind, group_size, group_rank" : "") +
            " FROM run_info",
        none,
        [&](sqlite3_stmt *st, size_t k) {
          if (m_files[k]->version == v) read(st, k, v == 2, false);
        },
        v);
  }
  sort_rows(out, [](const run_session_info &a, const run_session_info &b) {
    return a.start_time < b.start_time;
  });
  return ok;
}

bool run_reader::counters(std::vector<run_counters_row> *out) {
  out->clear();
  // Version 3 added the store's losses; device_seconds joined version 4 after its first files
  // were written: a file without it (an older version, or one of those) counted no device time.
  for (size_t k = 0; k < m_files.size(); ++k) {
    const file &f = *m_files[k];
    if (!f.db) continue;
    const std::string sql =
        "SELECT rank, time, samples_taken, samples_skipped, records_dropped, alerts_suppressed, "
        "samples_rejected, overhead_seconds, step_seconds, " +
        std::string(f.version >= 3 ? "records_lost, store_failures, first_store_failure, "
                                   : "0, 0, NULL, ") +
        (f.has_device_seconds ? "device_seconds" : "0") + " FROM run_counters ORDER BY session";
    if (!query_file(k, "reading run_counters", sql, [](sqlite3_stmt *, size_t) {},
                    [&](sqlite3_stmt *st, size_t) {
                      run_counters_row c;
                      c.file = k;
                      c.rank = sqlite3_column_int(st, 0);
                      c.time = sqlite3_column_double(st, 1);
                      c.samples_taken = column_count(st, 2);
                      c.samples_skipped = column_count(st, 3);
                      c.records_dropped = column_count(st, 4);
                      c.alerts_suppressed = column_count(st, 5);
                      c.samples_rejected = column_count(st, 6);
                      c.overhead_seconds = sqlite3_column_double(st, 7);
                      c.step_seconds = sqlite3_column_double(st, 8);
                      c.records_lost = column_count(st, 9);
                      c.store_failures = column_count(st, 10);
                      c.first_store_failure = column_text(st, 11);
                      c.device_seconds = sqlite3_column_double(st, 12);
                      out->push_back(c);
                    }))
      return false;
  }
  return true;
}

bool run_reader::tensors(std::vector<tensor_row> *out) {
  out->clear();
  bool ok = query_each(
      "reading tensors", "SELECT rank, id, name, kind, dtype, numel FROM tensors",
      [](sqlite3_stmt *, size_t) {},
      [&](sqlite3_stmt *st, size_t) {
        tensor_row t;
        t.rank = sqlite3_column_int(st, 0);
        t.id = sqlite3_column_int(st, 1);
        t.name = column_text(st, 2);
        t.kind = column_text(st, 3);
        t.dtype = column_text(st, 4);
        t.numel = column_count(st, 5);
        out->push_back(t);
      });
  sort_rows(out, [](const tensor_row &a, const tensor_row &b) {
    return std::tie(a.rank, a.id) < std::tie(b.rank, b.id);
  });
  return ok;
}

bool run_reader::samples(read_cursor *cursor, bool with_histograms, std::vector<sample_row> *out,
                         size_t limit) {
  out->clear();
  read_cursor from_start;
  if (!cursor) cursor = &from_start;
  // Each file gives at most `limit` rows after its cursor; of their union the `limit` earliest are
  // returned. What a file gave beyond them is read again next time (its cursor stops before it).
  bool ok = query_each(
      "reading samples", sample_select() + "WHERE s.rowid > ?1 ORDER BY s.rowid LIMIT ?2",
      [&](sqlite3_stmt *st, size_t k) {
        sqlite3_bind_int64(st, 1, cursor->after(k));
        sqlite3_bind_int64(st, 2, limit ? int64_t(limit) : -1);  // a negative LIMIT means none
      },
      [&](sqlite3_stmt *st, size_t k) {
        sample_row r = read_sample(st, with_histograms);
        r.file = k;
        out->push_back(std::move(r));
      });
  if (!ok) return false;
  if (m_files.size() > 1) {
    sort_rows(out, [](const sample_row &a, const sample_row &b) {
      return std::tie(a.time, a.file, a.rowid) < std::tie(b.time, b.file, b.rowid);
    });
    if (limit && out->size() > limit) {
      // Keep a prefix of each file's rows (rowid order) so no row is skipped: cut where the first
      // file's rows beyond the cut begin.
      std::vector<int64_t> first_cut(m_files.size(), INT64_MAX);
      for (size_t i = limit; i < out->size(); ++i) {
        const sample_row &r = (*out)[i];
        first_cut[r.file] = std::min(first_cut[r.file], r.rowid);
      }
      std::erase_if(*out, [&](const sample_row &r) { return r.rowid >= first_cut[r.file]; });
    }
  }
  return advance_past("reading samples", *out, cursor);
}

bool run_reader::samples_of(const std::string &tensor, bool with_histograms,
                            std::vector<sample_row> *out) {
  out->clear();
  bool ok = query_each(
      "reading samples", sample_select() + "WHERE t.name = ?1 ORDER BY s.step, s.rank",
      [&](sqlite3_stmt *st, size_t) {
        sqlite3_bind_text(st, 1, tensor.c_str(), -1, SQLITE_TRANSIENT);
      },
      [&](sqlite3_stmt *st, size_t k) {
        sample_row r = read_sample(st, with_histograms);
        r.file = k;
        out->push_back(std::move(r));
      });
  sort_rows(out, [](const sample_row &a, const sample_row &b) {
    return std::tie(a.step, a.rank) < std::tie(b.step, b.rank);
  });
  return ok;
}

template <class Row, class Decode>
bool run_reader::rows_after(const char *what, const std::string &sql, read_cursor *cursor,
                            std::vector<Row> *out, Decode &&decode, int min_version) {
  out->clear();
  read_cursor from_start;
  if (!cursor) cursor = &from_start;
  bool ok = query_each(
      what, sql, [&](sqlite3_stmt *st, size_t k) { sqlite3_bind_int64(st, 1, cursor->after(k)); },
      [&](sqlite3_stmt *st, size_t k) {
        Row r = decode(st);
        r.file = k;
        out->push_back(std::move(r));
      },
      min_version);
  sort_rows(out, [](const Row &a, const Row &b) {
    return std::tie(a.time, a.file, a.rowid) < std::tie(b.time, b.file, b.rowid);
  });
  return ok && advance_past(what, *out, cursor);
}

template <class Row>
bool run_reader::advance_past(const char *what, const std::vector<Row> &rows, read_cursor *cursor) {
  // A b-tree with rowids out of order (a damaged file; fuzz_store found rowid 0 after rowid 8)
  // answers "rowid > 8" with rows of rowid 0 every time.
  for (const Row &r : rows) {
    if (r.rowid > cursor->after(r.file)) continue;
    m_error = m_status[r.file].path + ": " + what + ": rowid " + std::to_string(r.rowid) +
              " out of order (after " + std::to_string(cursor->after(r.file)) +
              "): the database file is damaged (sqlite3 FILE 'PRAGMA integrity_check' says where)";
    return false;
  }
  for (const Row &r : rows) cursor->advance(r.file, r.rowid);
  return true;
}

bool run_reader::alerts(read_cursor *cursor, std::vector<alert_row> *out) {
  return rows_after(
      "reading alerts",
      std::string(kAlertColumns) + "WHERE rowid > ?1 ORDER BY time, rowid", cursor, out,
      read_alert);
}

bool run_reader::actions(read_cursor *cursor, std::vector<action_row> *out) {
  return rows_after(
      "reading actions",
      "SELECT rowid, rank, step, time, action, reason, detail FROM actions WHERE rowid > ?1 "
      "ORDER BY time, rowid",
      cursor, out,
      [](sqlite3_stmt *st) {
        action_row a;
        a.rowid = sqlite3_column_int64(st, 0);
        a.rank = sqlite3_column_int(st, 1);
        a.step = sqlite3_column_int64(st, 2);
        a.time = sqlite3_column_double(st, 3);
        a.action = column_text(st, 4);
        a.reason = column_text(st, 5);
        a.detail = column_text(st, 6);
        return a;
      },
      4);  // version 4 added actions
}

bool run_reader::scalars(const std::string &name, std::vector<scalar_row> *out) {
  out->clear();
  bool ok = query_each(
      "reading scalars",
      name.empty() ? "SELECT rank, step, time, name, value FROM scalars_v"
                   : "SELECT rank, step, time, name, value FROM scalars_v WHERE name = ?1",
      [&](sqlite3_stmt *st, size_t) {
        if (!name.empty()) sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
      },
      [&](sqlite3_stmt *st, size_t) { out->push_back(read_scalar(st)); });
  sort_rows(out, [](const scalar_row &a, const scalar_row &b) {
    return std::tie(a.name, a.rank, a.step) < std::tie(b.name, b.rank, b.step);
  });
  return ok;
}

bool run_reader::latest_scalars(const std::string &name, std::vector<scalar_row> *out) {
  out->clear();
  // Each file holds its own ranks: one query per file, then rank order.
  bool ok = query_each(
      "reading scalars",
      "SELECT s.rank, s.step, s.time, s.name, s.value FROM scalars_v s JOIN (SELECT rank, "
      "max(step) AS step FROM scalars_v WHERE name = ?1 GROUP BY rank) m ON s.rank = m.rank AND "
      "s.step = m.step WHERE s.name = ?1 ORDER BY s.rank",
      [&](sqlite3_stmt *st, size_t) {
        sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
      },
      [&](sqlite3_stmt *st, size_t) {
        scalar_row s = read_scalar(st);
        // Two rows of one rank at one step: keep one.
        if (out->empty() || out->back().rank != s.rank) out->push_back(s);
      });
  sort_rows(out, [](const scalar_row &a, const scalar_row &b) { return a.rank < b.rank; });
  return ok;
}

bool run_reader::latest_step(int64_t *out) {
  *out = -1;
  return query_each(
      "reading the latest step", "SELECT coalesce(max(step), -1) FROM samples",
      [](sqlite3_stmt *, size_t) {},
      [&](sqlite3_stmt *st, size_t) { *out = std::max(*out, int64_t(sqlite3_column_int64(st, 0))); });
}

bool run_reader::rank_totals(std::vector<rank_total_row> *out) {
  out->clear();
  std::map<int32_t, rank_total_row> rows;
  auto none = [](sqlite3_stmt *, size_t) {};
  // Version 2 added groups; only the group's writer has rows.
  bool ok = query_each(
                "reading rank_steps",
                "SELECT rank, sum(present), sum(1 - present), avg(step_seconds) "
                "FROM rank_steps GROUP BY rank",
                none,
                [&](sqlite3_stmt *st, size_t) {
                  rank_total_row &r = rows[sqlite3_column_int(st, 0)];
                  r.rank = sqlite3_column_int(st, 0);
                  r.samples += column_count(st, 1);
                  r.absent += column_count(st, 2);
                  r.step_seconds = column_double(st, 3);
                },
                2) &&
            query_each(
                "reading rank_samples",
                "SELECT rank, sum(nonfinite) FROM rank_samples GROUP BY rank", none,
                [&](sqlite3_stmt *st, size_t) {
                  auto it = rows.find(sqlite3_column_int(st, 0));
                  if (it != rows.end()) it->second.nonfinite += column_count(st, 1);
                },
                2) &&
            query_each(
                "reading rank_samples",
                "SELECT r.rank, sqrt(sum(r.l2 * r.l2)) FROM rank_samples AS r "
                "JOIN tensors AS t ON t.rank = r.writer AND t.id = r.tensor_id "
                "WHERE t.kind = 'grad' AND r.step = (SELECT max(step) FROM rank_samples) "
                "GROUP BY r.rank",
                none,
                [&](sqlite3_stmt *st, size_t) {
                  auto it = rows.find(sqlite3_column_int(st, 0));
                  if (it != rows.end()) it->second.last_grad_l2 = column_double(st, 1);
                },
                2);
  if (!ok) return false;
  for (auto &[rank, row] : rows) out->push_back(row);
  return true;
}

namespace {

// A hash of the stored summary columns, a 64-bit word at a time (a million rows per run go
// through it): any differing bit of a field changes it, and NULL is hashed apart from every value.
struct summary_hasher {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  void add_word(uint64_t v) {
    h = (h ^ v) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  void add_blob(const void *data, size_t n) {
    add_word(n);
    const auto *bytes = static_cast<const uint8_t *>(data);
    for (size_t i = 0; i < n; i += 8) {
      uint64_t word = 0;
      std::memcpy(&word, bytes + i, std::min<size_t>(8, n - i));
      add_word(word);
    }
  }
};

}  // namespace

bool run_reader::sample_values(read_cursor *cursor, size_t limit,
                               std::vector<sample_values_row> *out) {
  out->clear();
  read_cursor from_start;
  if (!cursor) cursor = &from_start;
  bool ok = query_each(
      "reading samples",
      "SELECT rowid, rank, step, tensor_id, count, nan, pos_inf, neg_inf, zero, subnormal, min, "
      "max, abs_max, sum, sum_sq, sum_sq_exp2, sum_abs, fingerprint, hist FROM samples "
      "WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
      [&](sqlite3_stmt *st, size_t k) {
        sqlite3_bind_int64(st, 1, cursor->after(k));
        sqlite3_bind_int64(st, 2, limit ? int64_t(limit) : -1);  // a negative LIMIT means none
      },
      [&](sqlite3_stmt *st, size_t k) {
        // Columns: 0 rowid, 1 rank, 2 step, 3 tensor_id, 4-9 count, nan, pos_inf, neg_inf, zero,
        // subnormal, 10 min, 11 max, 12 abs_max, 13 sum, 14 sum_sq, 15 sum_sq_exp2, 16 sum_abs,
        // 17 fingerprint, 18 hist. Each is read once (a column read is most of the cost here),
        // then hashed and used.
        sample_values_row r;
        r.file = k;
        r.rowid = sqlite3_column_int64(st, 0);
        r.rank = sqlite3_column_int(st, 1);
        r.step = sqlite3_column_int64(st, 2);
        r.tensor_id = sqlite3_column_int(st, 3);
        summary_hasher hash;
        uint64_t counts[6];  // NOT NULL integers
        for (int c = 0; c < 6; ++c) hash.add_word(counts[c] = column_count(st, 4 + c));
        r.nonfinite = counts[1] + counts[2] + counts[3];
        std::optional<double> reals[6];  // min, max, abs_max, sum, sum_sq, sum_abs
        for (int c = 0; c < 6; ++c) {
          reals[c] = column_double(st, c < 5 ? 10 + c : 16);
          uint64_t bits = 0;
          if (reals[c]) std::memcpy(&bits, &*reals[c], sizeof bits);
          hash.add_word(reals[c] ? 1 : 0);
          hash.add_word(bits);
        }
        const int exp2 = sqlite3_column_int(st, 15), half = exp2 / 2;
        hash.add_word(uint64_t(int64_t(exp2)));
        hash.add_blob(sqlite3_column_blob(st, 18), size_t(sqlite3_column_bytes(st, 18)));
        r.summary_hash = hash.h;
        if (reals[0] && reals[1]) r.abs_max = reals[2].value_or(std::max(-*reals[0], *reals[1]));
        // summary_finalize's l2 with its arithmetic (samples_v's l2), without decoding the
        // histogram that summary_finalize also reads: this runs for every row of two runs.
        r.l2 = std::ldexp(std::sqrt(std::ldexp(reals[4].value_or(0.0), exp2 - 2 * half)), half);
        if (sqlite3_column_type(st, 17) != SQLITE_NULL)
          r.fingerprint = uint64_t(sqlite3_column_int64(st, 17));
        out->push_back(r);
      });
  if (!ok) return false;
  return advance_past("reading samples", *out, cursor);
}

bool run_reader::rank_parts(std::vector<rank_part_row> *out) {
  out->clear();
  bool ok = query_each(
      "reading rank_samples",
      "SELECT writer, step, tensor_id, rank, l2, nonfinite, fingerprint FROM rank_samples "
      "ORDER BY step, rank, tensor_id",
      [](sqlite3_stmt *, size_t) {},
      [&](sqlite3_stmt *st, size_t) {
        rank_part_row r;
        r.writer = sqlite3_column_int(st, 0);
        r.step = sqlite3_column_int64(st, 1);
        r.tensor_id = sqlite3_column_int(st, 2);
        r.rank = sqlite3_column_int(st, 3);
        r.l2 = column_double(st, 4);
        r.nonfinite = column_count(st, 5);
        if (sqlite3_column_type(st, 6) != SQLITE_NULL)
          r.fingerprint = uint64_t(sqlite3_column_int64(st, 6));
        out->push_back(r);
      },
      2);  // version 2 added groups
  sort_rows(out, [](const rank_part_row &a, const rank_part_row &b) {
    return std::tie(a.step, a.rank, a.tensor_id) < std::tie(b.step, b.rank, b.tensor_id);
  });
  return ok;
}

bool run_reader::alert_count(uint64_t *out) {
  *out = 0;
  return query_each(
      "counting alerts", "SELECT count(*) FROM alerts", [](sqlite3_stmt *, size_t) {},
      [&](sqlite3_stmt *st, size_t) { *out += column_count(st, 0); });
}

bool run_reader::first_alert_of_type(const std::string &type, std::optional<alert_row> *out) {
  out->reset();
  // The first of each file's first, by step (then file and rowid).
  return query_each(
      "reading alerts",
      std::string(kAlertColumns) + "WHERE type = ?1 ORDER BY step, rowid LIMIT 1",
      [&](sqlite3_stmt *st, size_t) {
        sqlite3_bind_text(st, 1, type.c_str(), -1, SQLITE_TRANSIENT);
      },
      [&](sqlite3_stmt *st, size_t k) {
        alert_row a = read_alert(st);
        a.file = k;
        if (!*out || a.step < (*out)->step) *out = std::move(a);
      });
}

run_counters_row sum_counters(const std::vector<run_counters_row> &rows) {
  run_counters_row total;
  for (const auto &c : rows) {
    total.time = std::max(total.time, c.time);
    total.samples_taken += c.samples_taken;
    total.samples_skipped += c.samples_skipped;
    total.records_dropped += c.records_dropped;
    total.alerts_suppressed += c.alerts_suppressed;
    total.samples_rejected += c.samples_rejected;
    total.overhead_seconds += c.overhead_seconds;
    total.step_seconds += c.step_seconds;
    total.records_lost += c.records_lost;
    total.store_failures += c.store_failures;
    if (total.first_store_failure.empty()) total.first_store_failure = c.first_store_failure;
    total.device_seconds += c.device_seconds;
  }
  return total;
}

}  // namespace ttap

namespace ttap {
namespace {

// The store's views first (the stable interface), then its tables; each with the schema version
// that added it (a file of an older version is left out of that name's view).
struct combined_name {
  const char *name;
  int since_version;
  bool view;
};
constexpr combined_name kCombinedNames[] = {
    {"samples_v", 1, true},     {"alerts_v", 1, true},      {"scalars_v", 1, true},
    {"ranks_v", 2, true},       {"actions_v", 4, true},     {"run_info", 1, false},
    {"run_counters", 1, false}, {"tensors", 1, false},      {"samples", 1, false},
    {"scalars", 1, false},      {"alerts", 1, false},       {"rank_steps", 2, false},
    {"rank_samples", 2, false}, {"actions", 4, false}};

// How many databases SQLite attaches to one connection: SQLITE_LIMIT_ATTACHED, raised as far as
// the library allows (its compile-time SQLITE_MAX_ATTACHED: 10 unless rebuilt, as in Debian's
// library; 125 at most).
constexpr int kAttachCeiling = 125;
size_t raise_attach_limit(sqlite3 *db) {
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, kAttachCeiling);  // clamped to the compiled maximum
  return size_t(sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, -1));
}
size_t library_attach_limit() {
  sqlite3 *raw = nullptr;
  const int rc = sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE, nullptr);
  sqlite::db_handle probe(raw);
  return rc == SQLITE_OK ? raise_attach_limit(probe.get()) : 10;
}

std::string sql_quoted(const std::string &text) {
  std::string q = "'";
  for (char c : text) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

// A file: URI that opens `path` read-only (characters URIs reserve escaped).
std::string read_only_uri(const std::string &path) {
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '.' || c == '-' || c == '_') {
      uri += char(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      uri += hex;
    }
  }
  return uri + "?mode=ro";
}

// The readable store files of a run, with the columns each has of every combined name.
struct readable_file {
  std::string path;  // absolute
  int version = 0;
  std::map<std::string, std::vector<std::string>> columns;  // combined name -> its columns
};

// The columns of each combined name in `f` (of its version), read from a read-only connection.
bool read_columns(readable_file *f, std::string *error) {
  sqlite3 *raw = nullptr;
  const int rc =
      sqlite3_open_v2(read_only_uri(f->path).c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                      nullptr);
  sqlite::db_handle db(raw);
  sqlite::statement st;
  if (rc != SQLITE_OK ||
      !sqlite::prepare(raw, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", &st)) {
    *error = f->path + ": cannot read its columns: " + sqlite3_errmsg(raw);
    return false;
  }
  sqlite3_busy_timeout(raw, 2000);
  for (const combined_name &n : kCombinedNames) {
    if (f->version < n.since_version) continue;
    sqlite3_reset(st.get());
    sqlite3_bind_text(st.get(), 1, n.name, -1, SQLITE_STATIC);
    std::vector<std::string> &names = f->columns[n.name];
    if (!sqlite::for_each_row(st.get(),
                              [&](sqlite3_stmt *s) { names.push_back(column_text(s, 0)); })) {
      *error = f->path + ": cannot read the columns of " + n.name + ": " + sqlite3_errmsg(raw);
      return false;
    }
    if (names.empty()) f->columns.erase(n.name);  // not in this file: left out of the view
  }
  return true;
}

bool readable_files(const std::string &run_dir, std::vector<readable_file> *paths,
                    std::string *error) {
  auto reader = run_reader::open(run_dir, error);
  if (!reader) return false;
  for (const auto &f : reader->files())
    if (f.problem.empty())
      paths->push_back({std::filesystem::absolute(f.path).string(), f.version, {}});
  for (readable_file &f : *paths)
    if (!read_columns(&f, error)) return false;
  return true;
}

std::string views_script(const std::vector<readable_file> &paths) {
  std::string out;
  for (size_t k = 0; k < paths.size(); ++k)
    out +=
        "ATTACH " + sql_quoted(read_only_uri(paths[k].path)) + " AS r" + std::to_string(k) + ";\n";
  for (const combined_name &n : kCombinedNames) {
    // Files of one version can still differ in columns (run_counters.device_seconds joined
    // version 4 late), and UNION ALL needs the same ones in the same order: the view has every
    // column any file has, NULL where a file lacks it.
    std::vector<std::string> all;
    for (const readable_file &f : paths) {
      auto it = f.columns.find(n.name);
      if (it == f.columns.end()) continue;
      for (const std::string &c : it->second)
        if (std::find(all.begin(), all.end(), c) == all.end()) all.push_back(c);
    }
    std::string selects;
    for (size_t k = 0; k < paths.size(); ++k) {
      auto it = paths[k].columns.find(n.name);
      if (paths[k].version < n.since_version || it == paths[k].columns.end()) continue;
      std::string list = "*";
      if (it->second != all) {
        list.clear();
        for (const std::string &c : all) {
          const bool has = std::find(it->second.begin(), it->second.end(), c) != it->second.end();
          list += std::string(list.empty() ? "" : ", ") + (has ? "" : "NULL AS ") + "\"" + c + "\"";
        }
      }
      selects += std::string(selects.empty() ? "" : "\n  UNION ALL") + " SELECT " + list +
                 " FROM r" + std::to_string(k) + "." + n.name;
    }
    if (!selects.empty())
      out += "CREATE TEMP VIEW " + std::string(n.name) + " AS" + selects + ";\n";
  }
  return out;
}

bool exec_sql(sqlite3 *db, const std::string &sql, std::string *error) {
  char *message = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) == SQLITE_OK) return true;
  *error = message ? message : sqlite3_errmsg(db);
  sqlite3_free(message);
  return false;
}

// The first column of every row of `sql`.
bool first_column(sqlite3 *db, const std::string &sql, std::vector<std::string> *out,
                  std::string *error) {
  sqlite::statement st;
  if (sqlite::prepare(db, sql.c_str(), &st) &&
      sqlite::for_each_row(st.get(), [&](sqlite3_stmt *s) { out->push_back(column_text(s, 0)); }))
    return true;
  *error = sqlite3_errmsg(db);
  return false;
}

// More files than SQLite attaches at once: each file's tables are copied into `db` (a temporary
// database) in groups of `limit`, then the store's indexes and views are made over the copies
// from the newest file's schema. The newest file gives each table its columns; an older file's
// rows fill the columns it has (the others NULL).
bool copy_files(sqlite3 *db, std::vector<readable_file> files, size_t limit, std::string *error) {
  std::stable_sort(files.begin(), files.end(),
                   [](const readable_file &a, const readable_file &b) {
                     return a.version > b.version;
                   });
  // The copy is scratch: no journal, no syncs.
  if (!exec_sql(db, "PRAGMA main.journal_mode = OFF; PRAGMA main.synchronous = OFF;", error))
    return false;
  std::vector<std::string> schema_sql;  // the newest file's indexes, then its views
  std::set<std::string> created;
  for (size_t begin = 0; begin < files.size(); begin += limit) {
    const size_t end = std::min(files.size(), begin + limit);
    for (size_t k = begin; k < end; ++k) {
      if (!exec_sql(db,
                    "ATTACH " + sql_quoted(read_only_uri(files[k].path)) + " AS f" +
                        std::to_string(k - begin),
                    error)) {
        *error = files[k].path + ": " + *error;
        return false;
      }
    }
    if (begin == 0 &&
        !first_column(db,
                      "SELECT sql FROM f0.sqlite_schema WHERE type IN ('index', 'view') AND sql "
                      "IS NOT NULL ORDER BY type = 'view', rowid",
                      &schema_sql, error))
      return false;
    if (!exec_sql(db, "BEGIN", error)) return false;
    for (size_t k = begin; k < end; ++k) {
      const std::string from = "f" + std::to_string(k - begin);
      for (const combined_name &n : kCombinedNames) {
        if (n.view || files[k].version < n.since_version) continue;
        const std::string table = n.name;
        if (created.insert(table).second &&
            !exec_sql(db, "CREATE TABLE main." + table + " AS SELECT * FROM " + from + "." +
                              table + " WHERE 0",
                      error))
          return false;
        // A column this file has and the files before it lacked (run_counters.device_seconds
        // joined version 4 late) is added, so that no file's values are dropped.
        std::vector<std::string> have;
        if (!first_column(db, "SELECT name FROM pragma_table_info(" + sql_quoted(table) + ", 'main')",
                          &have, error))
          return false;
        for (const std::string &c : files[k].columns[table]) {
          if (std::find(have.begin(), have.end(), c) == have.end() &&
              !exec_sql(db, "ALTER TABLE main." + table + " ADD COLUMN \"" + c + "\"", error))
            return false;
        }
        std::vector<std::string> columns;
        if (!first_column(db,
                          "SELECT f.name FROM pragma_table_info(" + sql_quoted(table) + ", " +
                              sql_quoted(from) + ") AS f JOIN pragma_table_info(" +
                              sql_quoted(table) + ", 'main') AS m ON m.name = f.name ORDER BY f.cid",
                          &columns, error))
          return false;
        std::string list;
        for (const std::string &c : columns) list += (list.empty() ? "\"" : ", \"") + c + "\"";
        if (list.empty()) continue;
        if (!exec_sql(db, "INSERT INTO main." + table + " (" + list + ") SELECT " + list +
                              " FROM " + from + "." + table,
                      error)) {
          *error = files[k].path + ": copying " + table + ": " + *error;
          return false;
        }
      }
    }
    if (!exec_sql(db, "COMMIT", error)) return false;
    for (size_t k = begin; k < end; ++k)
      if (!exec_sql(db, "DETACH f" + std::to_string(k - begin), error)) return false;
  }
  for (const std::string &sql : schema_sql)
    if (!exec_sql(db, sql, error)) return false;
  return true;
}

}  // namespace

bool combined_views_sql(const std::string &run_dir, std::string *sql, std::string *error) {
  std::vector<readable_file> paths;
  if (!readable_files(run_dir, &paths, error)) return false;
  const size_t limit = library_attach_limit();
  if (paths.size() > limit) {
    *error = run_dir + ": " + std::to_string(paths.size()) +
             " store files, and this SQLite attaches at most " + std::to_string(limit) +
             " databases to one connection (the sqlite3 shell's library likely too): query them "
             "all with ttap sql " + run_dir +
             " \"QUERY\" (it copies them into one temporary database), or file by file "
             "(sqlite3 FILE)";
    return false;
  }
  *sql = views_script(paths);
  return true;
}

bool open_combined_run(const std::string &run_dir, sqlite::db_handle *out, std::string *error) {
  std::vector<readable_file> paths;
  if (!readable_files(run_dir, &paths, error)) return false;
  if (paths.empty()) {
    *error = run_dir + ": no readable store file yet";
    return false;
  }
  sqlite3 *raw = nullptr;
  const bool one = paths.size() == 1;
  // Several files: a private temporary database ("": on disk, deleted at close) that attaches
  // them, or holds their copies when there are more than SQLite attaches.
  int rc = sqlite3_open_v2(one ? paths[0].path.c_str() : "", &raw,
                           (one ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                               SQLITE_OPEN_URI,
                           nullptr);
  sqlite::db_handle db(raw);
  if (rc != SQLITE_OK) {
    *error = (one ? paths[0].path : run_dir) + ": cannot open: " + sqlite3_errmsg(raw);
    return false;
  }
  sqlite3_busy_timeout(raw, 2000);
  if (!one) {
    const size_t limit = raise_attach_limit(raw);
    std::string message;
    const bool combined = paths.size() <= limit ? exec_sql(raw, views_script(paths), &message)
                                                : copy_files(raw, paths, limit, &message);
    if (!combined) {
      *error = run_dir + ": cannot combine the store files: " + message;
      return false;
    }
  }
  *out = std::move(db);
  return true;
}

}  // namespace ttap
