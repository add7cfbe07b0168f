// The one SQLite RAII wrapper the store's writer and reader share: owned connections and
// statements, typed column reads (NULL as nullopt), and one loop over a statement's rows.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace ttap::sqlite {

struct db_closer {
  void operator()(sqlite3 *db) const { sqlite3_close_v2(db); }
};
struct statement_finalizer {
  void operator()(sqlite3_stmt *s) const { sqlite3_finalize(s); }
};
using db_handle = std::unique_ptr<sqlite3, db_closer>;
using statement = std::unique_ptr<sqlite3_stmt, statement_finalizer>;

// Prepares `sql` on `db` into `out`; false (SQLite's message in db) when it does not compile.
inline bool prepare(sqlite3 *db, const char *sql, statement *out, unsigned flags = 0) {
  sqlite3_stmt *raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql, -1, flags, &raw, nullptr);
  out->reset(raw);
  return rc == SQLITE_OK;
}

inline std::optional<double> column_double(sqlite3_stmt *s, int c) {
  if (sqlite3_column_type(s, c) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_double(s, c);
}

inline std::string column_text(sqlite3_stmt *s, int c) {
  const unsigned char *t = sqlite3_column_text(s, c);
  return t ? reinterpret_cast<const char *>(t) : "";
}

inline uint64_t column_count(sqlite3_stmt *s, int c) {
  return uint64_t(sqlite3_column_int64(s, c));
}

// Steps `s` to its end, calling row(s) on every row; true when it ended without an error.
template <class Row>
bool for_each_row(sqlite3_stmt *s, Row &&row) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) row(s);
  return rc == SQLITE_DONE;
}

}  // namespace ttap::sqlite
