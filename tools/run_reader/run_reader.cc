// The run reader: a read-only SQLite connection (so a live writer is never blocked), the checks
// that tell "not a run" from "not a tensortap store" from "corrupted", and queries over the views.
#include "tools/run_reader/run_reader.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "runtime/store/schema.h"

namespace ttap {
namespace {

// Keeps one prepared statement for the length of a query.
struct statement {
  sqlite3_stmt *stmt = nullptr;
  ~statement() { sqlite3_finalize(stmt); }
};

std::optional<double> column_double(sqlite3_stmt *s, int c) {
  if (sqlite3_column_type(s, c) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_double(s, c);
}

std::string column_text(sqlite3_stmt *s, int c) {
  const unsigned char *t = sqlite3_column_text(s, c);
  return t ? reinterpret_cast<const char *>(t) : "";
}

// Samples come from the table (with its rowid) joined to the tensor names by primary key; the
// derived values are computed by summary_finalize, the same arithmetic samples_v uses.
constexpr const char *kSampleSelect =
    "SELECT s.rowid, s.rank, s.step, s.time, s.tensor_id, coalesce(t.name, ''), s.count, s.nan, "
    "s.pos_inf, "
    "s.neg_inf, s.zero, s.subnormal, s.min, s.max, s.abs_max, s.sum, s.sum_sq, s.sum_sq_exp2, "
    "s.sum_abs, s.hist "
    "FROM samples AS s LEFT JOIN tensors AS t ON t.rank = s.rank AND t.id = s.tensor_id ";

}  // namespace

run_reader::~run_reader() {
  if (m_db) sqlite3_close(m_db);
}

bool run_reader::fail(const std::string &what) {
  m_error = m_dir + ": " + what + ": " + (m_db ? sqlite3_errmsg(m_db) : "no database");
  return false;
}

std::unique_ptr<run_reader> run_reader::open(const std::string &run_dir, std::string *error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(run_dir, ec)) {
    *error = run_dir + ": no such directory";
    return nullptr;
  }
  if (!fs::is_directory(run_dir, ec)) {
    *error = run_dir + ": not a directory (a run is a directory holding ttap.db)";
    return nullptr;
  }
  const std::string path = run_dir + "/ttap.db";
  if (!fs::exists(path, ec)) {
    *error = run_dir + ": not a tensortap run (no ttap.db in it)";
    return nullptr;
  }
  std::unique_ptr<run_reader> r(new run_reader());
  r->m_dir = run_dir;
  if (sqlite3_open_v2(path.c_str(), &r->m_db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    *error = path + ": cannot open: " + sqlite3_errmsg(r->m_db);
    return nullptr;
  }
  sqlite3_busy_timeout(r->m_db, 2000);
  // A file that is not SQLite, or an SQLite file of another kind or version, fails here.
  statement st;
  int rc = sqlite3_prepare_v2(r->m_db, "PRAGMA user_version", -1, &st.stmt, nullptr);
  if (rc != SQLITE_OK || sqlite3_step(st.stmt) != SQLITE_ROW) {
    *error = path + ": not a readable SQLite database (" + sqlite3_errmsg(r->m_db) + ")";
    return nullptr;
  }
  // Version 2 only added to version 1 (groups), so runs stored before groups stay readable.
  int version = sqlite3_column_int(st.stmt, 0);
  if (version < 1 || version > kSchemaVersion) {
    *error = path + ": store schema version " + std::to_string(version) +
             ", this ttap reads versions 1 to " + std::to_string(kSchemaVersion) +
             (version == 0 ? " (not a tensortap store)" : "");
    return nullptr;
  }
  r->m_version = version;
  statement probe;
  if (sqlite3_prepare_v2(r->m_db, "SELECT count(*) FROM samples_v LIMIT 1", -1, &probe.stmt,
                         nullptr) != SQLITE_OK) {
    *error = path + ": not a tensortap store (" + sqlite3_errmsg(r->m_db) + ")";
    return nullptr;
  }
  return r;
}

bool run_reader::sessions(std::vector<run_session_info> *out) {
  statement st;
  const char *sql =
      m_version >= 2
          ? "SELECT session, rank, world, options, version, host, pid, start_time, group_kind, "
            "group_size, group_rank FROM run_info ORDER BY session"
          : "SELECT session, rank, world, options, version, host, pid, start_time FROM run_info "
            "ORDER BY session";
  if (sqlite3_prepare_v2(m_db, sql, -1, &st.stmt, nullptr) != SQLITE_OK) {
    return fail("reading run_info");
  }
  out->clear();
  int rc;
  while ((rc = sqlite3_step(st.stmt)) == SQLITE_ROW) {
    run_session_info s;
    s.session = sqlite3_column_int64(st.stmt, 0);
    s.rank = sqlite3_column_int(st.stmt, 1);
    s.world = sqlite3_column_int(st.stmt, 2);
    s.options = column_text(st.stmt, 3);
    s.version = column_text(st.stmt, 4);
    s.host = column_text(st.stmt, 5);
    s.pid = sqlite3_column_int64(st.stmt, 6);
    s.start_time = sqlite3_column_double(st.stmt, 7);
    if (m_version >= 2 && sqlite3_column_type(st.stmt, 8) != SQLITE_NULL) {
      s.group_kind = column_text(st.stmt, 8);
      s.group_size = sqlite3_column_int(st.stmt, 9);
      s.group_rank = sqlite3_column_int(st.stmt, 10);
    }
    out->push_back(s);
  }
  return rc == SQLITE_DONE || fail("reading run_info");
}

bool run_reader::counters(std::vector<run_counters_row> *out) {
  statement st;
  if (sqlite3_prepare_v2(
          m_db,
          "SELECT rank, time, samples_taken, samples_skipped, records_dropped, alerts_suppressed, "
          "samples_rejected, overhead_seconds, step_seconds FROM run_counters ORDER BY session",
          -1, &st.stmt, nullptr) != SQLITE_OK) {
    return fail("reading run_counters");
  }
  out->clear();
  int rc;
  while ((rc = sqlite3_step(st.stmt)) == SQLITE_ROW) {
    run_counters_row c;
    c.rank = sqlite3_column_int(st.stmt, 0);
    c.time = sqlite3_column_double(st.stmt, 1);
    c.samples_taken = uint64_t(sqlite3_column_int64(st.stmt, 2));
    c.samples_skipped = uint64_t(sqlite3_column_int64(st.stmt, 3));
    c.records_dropped = uint64_t(sqlite3_column_int64(st.stmt, 4));
    c.alerts_suppressed = uint64_t(sqlite3_column_int64(st.stmt, 5));
    c.samples_rejected = uint64_t(sqlite3_column_int64(st.stmt, 6));
    c.overhead_seconds = sqlite3_column_double(st.stmt, 7);
    c.step_seconds = sqlite3_column_double(st.stmt, 8);
    out->push_back(c);
  }
  return rc == SQLITE_DONE || fail("reading run_counters");
}

bool run_reader::tensors(std::vector<tensor_row> *out) {
  statement st;
  if (sqlite3_prepare_v2(m_db,
                         "SELECT rank, id, name, kind, dtype, numel FROM tensors ORDER BY rank, id",
                         -1, &st.stmt, nullptr) != SQLITE_OK) {
    return fail("reading tensors");
  }
  out->clear();
  int rc;
  while ((rc = sqlite3_step(st.stmt)) == SQLITE_ROW) {
    tensor_row t;
    t.rank = sqlite3_column_int(st.stmt, 0);
    t.id = sqlite3_column_int(st.stmt, 1);
    t.name = column_text(st.stmt, 2);
    t.kind = column_text(st.stmt, 3);
    t.dtype = column_text(st.stmt, 4);
    t.numel = uint64_t(sqlite3_column_int64(st.stmt, 5));
    out->push_back(t);
  }
  return rc == SQLITE_DONE || fail("reading tensors");
}

static bool read_samples(sqlite3_stmt *st, bool with_histograms, std::vector<sample_row> *out) {
  out->clear();
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    sample_row r;
    r.rowid = sqlite3_column_int64(st, 0);
    r.rank = sqlite3_column_int(st, 1);
    r.step = sqlite3_column_int64(st, 2);
    r.time = sqlite3_column_double(st, 3);
    r.tensor_id = sqlite3_column_int(st, 4);
    r.tensor = column_text(st, 5);
    summary s;
    summary_clear(s);
    s.count = r.count = uint64_t(sqlite3_column_int64(st, 6));
    s.nan = r.nan = uint64_t(sqlite3_column_int64(st, 7));
    s.pos_inf = r.pos_inf = uint64_t(sqlite3_column_int64(st, 8));
    s.neg_inf = r.neg_inf = uint64_t(sqlite3_column_int64(st, 9));
    s.zero = r.zero = uint64_t(sqlite3_column_int64(st, 10));
    s.subnormal = r.subnormal = uint64_t(sqlite3_column_int64(st, 11));
    r.min = column_double(st, 12);
    r.max = column_double(st, 13);
    if (r.min && r.max) {
      auto stored_abs_max = column_double(st, 14);
      r.abs_max = stored_abs_max ? *stored_abs_max : std::max(-*r.min, *r.max);
    }
    r.sum = column_double(st, 15);
    s.sum = r.sum.value_or(0.0);
    s.sum_sq = column_double(st, 16).value_or(0.0);
    s.sum_sq_exp2 = sqlite3_column_int(st, 17);
    r.sum_abs = column_double(st, 18);
    auto *blob = static_cast<const uint8_t *>(sqlite3_column_blob(st, 19));
    if (with_histograms) {
      r.hist =
          decode_histogram(std::span<const uint8_t>(blob, size_t(sqlite3_column_bytes(st, 19))));
    }
    summary_derived d = summary_finalize(s);
    r.l2 = d.l2;
    if (std::isfinite(d.sum_sq)) r.sum_sq = d.sum_sq;
    if (d.has_finite) {
      r.mean = d.mean;
      if (r.sum_sq) r.std = d.std;
    }
    out->push_back(std::move(r));
  }
  return rc == SQLITE_DONE;
}

bool run_reader::samples(int64_t after_rowid, bool with_histograms, std::vector<sample_row> *out,
                         size_t limit) {
  statement st;
  std::string sql = std::string(kSampleSelect) + "WHERE s.rowid > ?1 ORDER BY s.rowid LIMIT ?2";
  if (sqlite3_prepare_v2(m_db, sql.c_str(), -1, &st.stmt, nullptr) != SQLITE_OK)
    return fail("reading samples");
  sqlite3_bind_int64(st.stmt, 1, after_rowid);
  sqlite3_bind_int64(st.stmt, 2, limit ? int64_t(limit) : -1);  // a negative LIMIT means none
  return read_samples(st.stmt, with_histograms, out) || fail("reading samples");
}

bool run_reader::samples_of(const std::string &tensor, bool with_histograms,
                            std::vector<sample_row> *out) {
  statement st;
  std::string sql = std::string(kSampleSelect) + "WHERE t.name = ?1 ORDER BY s.step, s.rank";
  if (sqlite3_prepare_v2(m_db, sql.c_str(), -1, &st.stmt, nullptr) != SQLITE_OK)
    return fail("reading samples");
  sqlite3_bind_text(st.stmt, 1, tensor.c_str(), -1, SQLITE_TRANSIENT);
  return read_samples(st.stmt, with_histograms, out) || fail("reading samples");
}

bool run_reader::alerts(int64_t after_rowid, std::vector<alert_row> *out) {
  statement st;
  if (sqlite3_prepare_v2(
          m_db,
          "SELECT rowid, rank, step, time, tensor, type, message FROM alerts WHERE rowid > ?1 "
          "ORDER BY time, rowid",
          -1, &st.stmt, nullptr) != SQLITE_OK) {
    return fail("reading alerts");
  }
  sqlite3_bind_int64(st.stmt, 1, after_rowid);
  out->clear();
  int rc;
  while ((rc = sqlite3_step(st.stmt)) == SQLITE_ROW) {
    alert_row a;
    a.rowid = sqlite3_column_int64(st.stmt, 0);
    a.rank = sqlite3_column_int(st.stmt, 1);
    a.step = sqlite3_column_int64(st.stmt, 2);
    a.time = sqlite3_column_double(st.stmt, 3);
    a.tensor = column_text(st.stmt, 4);
    a.type = column_text(st.stmt, 5);
    a.message = column_text(st.stmt, 6);
    out->push_back(a);
  }
  return rc == SQLITE_DONE || fail("reading alerts");
}

bool run_reader::scalars(const std::string &name, std::vector<scalar_row> *out) {
  statement st;
  const char *sql =
      name.empty() ? "SELECT rank, step, time, name, value FROM scalars_v ORDER BY name, rank, step"
                   : "SELECT rank, step, time, name, value FROM scalars_v WHERE name = ?1 ORDER BY "
                     "rank, step";
  if (sqlite3_prepare_v2(m_db, sql, -1, &st.stmt, nullptr) != SQLITE_OK)
    return fail("reading scalars");
  if (!name.empty()) sqlite3_bind_text(st.stmt, 1, name.c_str(), -1, SQLITE_TRANSIENT);
  out->clear();
  int rc;
  while ((rc = sqlite3_step(st.stmt)) == SQLITE_ROW) {
    scalar_row s;
    s.rank = sqlite3_column_int(st.stmt, 0);
    s.step = sqlite3_column_int64(st.stmt, 1);
    s.time = sqlite3_column_double(st.stmt, 2);
    s.name = column_text(st.stmt, 3);
    s.value = column_double(st.stmt, 4);
    out->push_back(s);
  }
  return rc == SQLITE_DONE || fail("reading scalars");
}

bool run_reader::latest_step(int64_t *out) {
  statement st;
  if (sqlite3_prepare_v2(m_db, "SELECT coalesce(max(step), -1) FROM samples", -1, &st.stmt,
                         nullptr) != SQLITE_OK ||
      sqlite3_step(st.stmt) != SQLITE_ROW) {
    return fail("reading the latest step");
  }
  *out = sqlite3_column_int64(st.stmt, 0);
  return true;
}

bool run_reader::rank_totals(std::vector<rank_total_row> *out) {
  out->clear();
  if (m_version < 2) return true;
  std::map<int32_t, rank_total_row> rows;
  statement steps;
  if (sqlite3_prepare_v2(m_db,
                         "SELECT rank, sum(present), sum(1 - present), avg(step_seconds) "
                         "FROM rank_steps GROUP BY rank",
                         -1, &steps.stmt, nullptr) != SQLITE_OK)
    return fail("reading rank_steps");
  int rc;
  while ((rc = sqlite3_step(steps.stmt)) == SQLITE_ROW) {
    rank_total_row &r = rows[sqlite3_column_int(steps.stmt, 0)];
    r.rank = sqlite3_column_int(steps.stmt, 0);
    r.samples = uint64_t(sqlite3_column_int64(steps.stmt, 1));
    r.absent = uint64_t(sqlite3_column_int64(steps.stmt, 2));
    r.step_seconds = column_double(steps.stmt, 3);
  }
  if (rc != SQLITE_DONE) return fail("reading rank_steps");
  statement cells;
  if (sqlite3_prepare_v2(m_db, "SELECT rank, sum(nonfinite) FROM rank_samples GROUP BY rank", -1,
                         &cells.stmt, nullptr) != SQLITE_OK)
    return fail("reading rank_samples");
  while ((rc = sqlite3_step(cells.stmt)) == SQLITE_ROW) {
    auto it = rows.find(sqlite3_column_int(cells.stmt, 0));
    if (it != rows.end()) it->second.nonfinite = uint64_t(sqlite3_column_int64(cells.stmt, 1));
  }
  if (rc != SQLITE_DONE) return fail("reading rank_samples");
  statement last;
  if (sqlite3_prepare_v2(m_db,
                         "SELECT r.rank, sqrt(sum(r.l2 * r.l2)) FROM rank_samples AS r "
                         "JOIN tensors AS t ON t.rank = r.writer AND t.id = r.tensor_id "
                         "WHERE t.kind = 'grad' AND r.step = (SELECT max(step) FROM rank_samples) "
                         "GROUP BY r.rank",
                         -1, &last.stmt, nullptr) != SQLITE_OK)
    return fail("reading rank_samples");
  while ((rc = sqlite3_step(last.stmt)) == SQLITE_ROW) {
    auto it = rows.find(sqlite3_column_int(last.stmt, 0));
    if (it != rows.end()) it->second.last_grad_l2 = column_double(last.stmt, 1);
  }
  if (rc != SQLITE_DONE) return fail("reading rank_samples");
  for (auto &[rank, row] : rows) out->push_back(row);
  return true;
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
  }
  return total;
}

}  // namespace ttap
