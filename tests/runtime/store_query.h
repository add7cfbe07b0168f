// Reading a run's store from a test: rows of a query over every store file of RUN_DIR at once
// (open_combined_run: the one file itself, or all of them attached with combined views), opened
// read-only, with every SQLite failure reported as a test failure naming the query.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <string>
#include <vector>

#include "runtime/store/run_reader.h"

namespace ttap::testing {

// Every row, every column as text (NULL as "NULL").
inline std::vector<std::vector<std::string>> query(const std::string &run_dir,
                                                   const std::string &sql) {
  std::vector<std::vector<std::string>> rows;
  sqlite::db_handle run;
  std::string error;
  if (!open_combined_run(run_dir, &run, &error)) {
    ADD_FAILURE() << "cannot open the store: " << error;
    return rows;
  }
  sqlite3 *db = run.get();
  sqlite3_stmt *stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
  } else {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const unsigned char *t = sqlite3_column_text(stmt, c);
        row.push_back(t ? reinterpret_cast<const char *>(t) : "NULL");
      }
      rows.push_back(row);
    }
  }
  sqlite3_finalize(stmt);
  return rows;
}

// The first column of the first row as text; a failure when there is no row or it is NULL.
inline std::string query_one(const std::string &run_dir, const std::string &sql) {
  const auto rows = query(run_dir, sql);
  if (rows.empty() || rows[0].empty() || rows[0][0] == "NULL") {
    ADD_FAILURE() << sql << ": no value";
    return "";
  }
  return rows[0][0];
}

// The first column of the first row as a double, exactly as stored (NaN and a failure when there
// is no row).
inline double query_double(const std::string &run_dir, const std::string &sql) {
  double v = NAN;
  sqlite::db_handle run;
  std::string error;
  if (!open_combined_run(run_dir, &run, &error)) {
    ADD_FAILURE() << "cannot open the store: " << error;
    return v;
  }
  sqlite3 *db = run.get();
  sqlite3_stmt *stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW)
    v = sqlite3_column_double(stmt, 0);
  else
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  return v;
}

// Runs `sql` on one store file, opened read-write outside the store: how a test makes the file an
// older writer left (a dropped column, an older user_version). A failure naming the statement and
// SQLite's message when it does not run.
inline void rewrite_store_file(const std::string &path, const std::string &sql) {
  sqlite3 *raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  sqlite::db_handle db(raw);
  ASSERT_EQ(rc, SQLITE_OK) << path << ": " << sqlite3_errmsg(raw);
  ASSERT_EQ(sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << path << ": " << sql << ": " << sqlite3_errmsg(db.get());
}

}  // namespace ttap::testing
