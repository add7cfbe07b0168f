// The run reader: a read-only SQLite connection (so a live writer is never blocked), the checks
// that tell "not a run" from "not a tensortap store" from "corrupted", and queries over the views.
#include "runtime/store/run_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "runtime/store/schema.h"
#include "runtime/store/sqlite_db.h"
#include "runtime/store/store_files.h"

namespace ttap {
namespace {

using sqlite::column_count;
using sqlite::column_double;
using sqlite::column_text;

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

}  // namespace

run_reader::~run_reader() {
  if (m_db) sqlite3_close(m_db);
}

bool run_reader::fail(const std::string &what) {
  m_error = m_dir + ": " + what + ": " + (m_db ? sqlite3_errmsg(m_db) : "no database");
  return false;
}

template <class Bind, class Row>
bool run_reader::query(const char *what, const std::string &sql, Bind &&bind, Row &&row) {
  sqlite::statement st;
  if (!sqlite::prepare(m_db, sql.c_str(), &st)) return fail(what);
  bind(st.get());
  return sqlite::for_each_row(st.get(), row) || fail(what);
}

std::unique_ptr<run_reader> run_reader::open(const std::string &run_dir, std::string *error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(run_dir, ec)) {
    *error = run_dir + ": no such directory";
    return nullptr;
  }
  if (!fs::is_directory(run_dir, ec)) {
    *error = run_dir + ": not a directory (a run is a directory holding " + kStoreFileName + ")";
    return nullptr;
  }
  const std::string path = run_dir + "/" + kStoreFileName;
  if (!fs::exists(path, ec)) {
    *error = run_dir + ": not a tensortap run (no " + kStoreFileName + " in it)";
    return nullptr;
  }
  std::unique_ptr<run_reader> r(new run_reader());
  r->m_dir = run_dir;
  // NOMUTEX: a reader is used by one thread at a time, and SQLite's per-connection mutex would
  // otherwise be taken on every column read (half the time of reading a million rows).
  if (sqlite3_open_v2(path.c_str(), &r->m_db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    *error = path + ": cannot open: " + sqlite3_errmsg(r->m_db);
    return nullptr;
  }
  sqlite3_busy_timeout(r->m_db, 2000);
  // A file that is not SQLite, or an SQLite file of another kind or version, fails here.
  sqlite::statement st;
  if (!sqlite::prepare(r->m_db, "PRAGMA user_version", &st) ||
      sqlite3_step(st.get()) != SQLITE_ROW) {
    *error = path + ": not a readable SQLite database (" + sqlite3_errmsg(r->m_db) + ")";
    return nullptr;
  }
  const int version = sqlite3_column_int(st.get(), 0);
  if (auto problem = schema_version_problem(path, version, 0, /*for_writing=*/false)) {
    *error = *problem;
    return nullptr;
  }
  r->m_version = version;
  sqlite::statement probe;
  if (!sqlite::prepare(r->m_db, "SELECT count(*) FROM samples_v LIMIT 1", &probe)) {
    *error = path + ": not a tensortap store (" + sqlite3_errmsg(r->m_db) + ")";
    return nullptr;
  }
  return r;
}

bool run_reader::sessions(std::vector<run_session_info> *out) {
  out->clear();
  const bool groups = m_version >= 2;  // version 2 added the group columns
  const char *sql =
      groups ? "SELECT session, rank, world, options, version, host, pid, start_time, group_kind, "
               "group_size, group_rank FROM run_info ORDER BY session"
             : "SELECT session, rank, world, options, version, host, pid, start_time FROM run_info "
               "ORDER BY session";
  return query(
      "reading run_info", sql, [](sqlite3_stmt *) {},
      [&](sqlite3_stmt *st) {
        run_session_info s;
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
        out->push_back(s);
      });
}

bool run_reader::counters(std::vector<run_counters_row> *out) {
  out->clear();
  return query(
      "reading run_counters",
      "SELECT rank, time, samples_taken, samples_skipped, records_dropped, alerts_suppressed, "
      "samples_rejected, overhead_seconds, step_seconds FROM run_counters ORDER BY session",
      [](sqlite3_stmt *) {},
      [&](sqlite3_stmt *st) {
        run_counters_row c;
        c.rank = sqlite3_column_int(st, 0);
        c.time = sqlite3_column_double(st, 1);
        c.samples_taken = column_count(st, 2);
        c.samples_skipped = column_count(st, 3);
        c.records_dropped = column_count(st, 4);
        c.alerts_suppressed = column_count(st, 5);
        c.samples_rejected = column_count(st, 6);
        c.overhead_seconds = sqlite3_column_double(st, 7);
        c.step_seconds = sqlite3_column_double(st, 8);
        out->push_back(c);
      });
}

bool run_reader::tensors(std::vector<tensor_row> *out) {
  out->clear();
  return query(
      "reading tensors", "SELECT rank, id, name, kind, dtype, numel FROM tensors ORDER BY rank, id",
      [](sqlite3_stmt *) {},
      [&](sqlite3_stmt *st) {
        tensor_row t;
        t.rank = sqlite3_column_int(st, 0);
        t.id = sqlite3_column_int(st, 1);
        t.name = column_text(st, 2);
        t.kind = column_text(st, 3);
        t.dtype = column_text(st, 4);
        t.numel = column_count(st, 5);
        out->push_back(t);
      });
}

bool run_reader::samples(int64_t after_rowid, bool with_histograms, std::vector<sample_row> *out,
                         size_t limit) {
  out->clear();
  return query(
      "reading samples", sample_select() + "WHERE s.rowid > ?1 ORDER BY s.rowid LIMIT ?2",
      [&](sqlite3_stmt *st) {
        sqlite3_bind_int64(st, 1, after_rowid);
        sqlite3_bind_int64(st, 2, limit ? int64_t(limit) : -1);  // a negative LIMIT means none
      },
      [&](sqlite3_stmt *st) { out->push_back(read_sample(st, with_histograms)); });
}

bool run_reader::samples_of(const std::string &tensor, bool with_histograms,
                            std::vector<sample_row> *out) {
  out->clear();
  return query(
      "reading samples", sample_select() + "WHERE t.name = ?1 ORDER BY s.step, s.rank",
      [&](sqlite3_stmt *st) { sqlite3_bind_text(st, 1, tensor.c_str(), -1, SQLITE_TRANSIENT); },
      [&](sqlite3_stmt *st) { out->push_back(read_sample(st, with_histograms)); });
}

bool run_reader::alerts(int64_t after_rowid, std::vector<alert_row> *out) {
  out->clear();
  return query(
      "reading alerts",
      "SELECT rowid, rank, step, time, tensor, type, message FROM alerts WHERE rowid > ?1 "
      "ORDER BY time, rowid",
      [&](sqlite3_stmt *st) { sqlite3_bind_int64(st, 1, after_rowid); },
      [&](sqlite3_stmt *st) {
        alert_row a;
        a.rowid = sqlite3_column_int64(st, 0);
        a.rank = sqlite3_column_int(st, 1);
        a.step = sqlite3_column_int64(st, 2);
        a.time = sqlite3_column_double(st, 3);
        a.tensor = column_text(st, 4);
        a.type = column_text(st, 5);
        a.message = column_text(st, 6);
        out->push_back(a);
      });
}

bool run_reader::scalars(const std::string &name, std::vector<scalar_row> *out) {
  out->clear();
  return query(
      "reading scalars",
      name.empty() ? "SELECT rank, step, time, name, value FROM scalars_v ORDER BY name, rank, step"
                   : "SELECT rank, step, time, name, value FROM scalars_v WHERE name = ?1 ORDER BY "
                     "rank, step",
      [&](sqlite3_stmt *st) {
        if (!name.empty()) sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
      },
      [&](sqlite3_stmt *st) {
        scalar_row s;
        s.rank = sqlite3_column_int(st, 0);
        s.step = sqlite3_column_int64(st, 1);
        s.time = sqlite3_column_double(st, 2);
        s.name = column_text(st, 3);
        s.value = column_double(st, 4);
        out->push_back(s);
      });
}

bool run_reader::latest_step(int64_t *out) {
  *out = -1;
  return query(
      "reading the latest step", "SELECT coalesce(max(step), -1) FROM samples",
      [](sqlite3_stmt *) {}, [&](sqlite3_stmt *st) { *out = sqlite3_column_int64(st, 0); });
}

bool run_reader::rank_totals(std::vector<rank_total_row> *out) {
  out->clear();
  if (m_version < 2) return true;  // version 2 added groups
  std::map<int32_t, rank_total_row> rows;
  auto none = [](sqlite3_stmt *) {};
  bool ok = query("reading rank_steps",
                  "SELECT rank, sum(present), sum(1 - present), avg(step_seconds) "
                  "FROM rank_steps GROUP BY rank",
                  none,
                  [&](sqlite3_stmt *st) {
                    rank_total_row &r = rows[sqlite3_column_int(st, 0)];
                    r.rank = sqlite3_column_int(st, 0);
                    r.samples = column_count(st, 1);
                    r.absent = column_count(st, 2);
                    r.step_seconds = column_double(st, 3);
                  }) &&
            query("reading rank_samples",
                  "SELECT rank, sum(nonfinite) FROM rank_samples GROUP BY rank", none,
                  [&](sqlite3_stmt *st) {
                    auto it = rows.find(sqlite3_column_int(st, 0));
                    if (it != rows.end()) it->second.nonfinite = column_count(st, 1);
                  }) &&
            query("reading rank_samples",
                  "SELECT r.rank, sqrt(sum(r.l2 * r.l2)) FROM rank_samples AS r "
                  "JOIN tensors AS t ON t.rank = r.writer AND t.id = r.tensor_id "
                  "WHERE t.kind = 'grad' AND r.step = (SELECT max(step) FROM rank_samples) "
                  "GROUP BY r.rank",
                  none, [&](sqlite3_stmt *st) {
                    auto it = rows.find(sqlite3_column_int(st, 0));
                    if (it != rows.end()) it->second.last_grad_l2 = column_double(st, 1);
                  });
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

bool run_reader::sample_values(int64_t after_rowid, size_t limit,
                               std::vector<sample_values_row> *out) {
  out->clear();
  return query(
      "reading samples",
      "SELECT rowid, rank, step, tensor_id, count, nan, pos_inf, neg_inf, zero, subnormal, min, "
      "max, abs_max, sum, sum_sq, sum_sq_exp2, sum_abs, fingerprint, hist FROM samples "
      "WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
      [&](sqlite3_stmt *st) {
        sqlite3_bind_int64(st, 1, after_rowid);
        sqlite3_bind_int64(st, 2, limit ? int64_t(limit) : -1);  // a negative LIMIT means none
      },
      [&](sqlite3_stmt *st) {
        // Columns: 0 rowid, 1 rank, 2 step, 3 tensor_id, 4-9 count, nan, pos_inf, neg_inf, zero,
        // subnormal, 10 min, 11 max, 12 abs_max, 13 sum, 14 sum_sq, 15 sum_sq_exp2, 16 sum_abs,
        // 17 fingerprint, 18 hist. Each is read once (a column read is most of the cost here),
        // then hashed and used.
        sample_values_row r;
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
}

bool run_reader::rank_parts(std::vector<rank_part_row> *out) {
  out->clear();
  if (m_version < 2) return true;
  return query(
      "reading rank_samples",
      "SELECT writer, step, tensor_id, rank, l2, nonfinite, fingerprint FROM rank_samples "
      "ORDER BY step, rank, tensor_id",
      [](sqlite3_stmt *) {},
      [&](sqlite3_stmt *st) {
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
      });
}

bool run_reader::alert_count(uint64_t *out) {
  *out = 0;
  return query(
      "counting alerts", "SELECT count(*) FROM alerts", [](sqlite3_stmt *) {},
      [&](sqlite3_stmt *st) { *out = column_count(st, 0); });
}

bool run_reader::first_alert_of_type(const std::string &type, std::optional<alert_row> *out) {
  out->reset();
  return query(
      "reading alerts",
      "SELECT rowid, rank, step, time, tensor, type, message FROM alerts WHERE type = ?1 "
      "ORDER BY step, rowid LIMIT 1",
      [&](sqlite3_stmt *st) { sqlite3_bind_text(st, 1, type.c_str(), -1, SQLITE_TRANSIENT); },
      [&](sqlite3_stmt *st) {
        alert_row a;
        a.rowid = sqlite3_column_int64(st, 0);
        a.rank = sqlite3_column_int(st, 1);
        a.step = sqlite3_column_int64(st, 2);
        a.time = sqlite3_column_double(st, 3);
        a.tensor = column_text(st, 4);
        a.type = column_text(st, 5);
        a.message = column_text(st, 6);
        *out = std::move(a);
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
  }
  return total;
}

}  // namespace ttap
