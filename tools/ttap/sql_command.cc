// `ttap sql`: one query over the whole run. The store opens it as one connection (the file itself
// for a run of one file, else every file attached with combined TEMP views, or copied into a
// temporary database when there are more files than SQLite attaches: run_reader.h), so a
// query written for one ttap.db runs over every rank; the rows are printed as the sqlite3 shell
// prints them.
#include "tools/ttap/sql_command.h"

#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "runtime/store/run_reader.h"
#include "runtime/store/sqlite_db.h"
#include "tools/ttap/stats_command.h"
#include "tools/ttap/verb_errors.h"

namespace ttap::cli {
namespace {

int fail(std::FILE *err, const std::string &message) { return verb_error(err, "sql", message); }

int run_sql_or_throw(const sql_options &options, std::FILE *out, std::FILE *err) {
  std::string error;
  if (options.print_setup) {
    std::string setup;
    if (!combined_views_sql(options.run_dir, &setup, &error)) return fail(err, error);
    std::fputs(setup.c_str(), out);
    return kExitOk;
  }
  if (options.query.empty())
    return fail(err, "no query (usage: ttap sql DIR \"SELECT ...\"; --setup prints the views)");
  sqlite::db_handle db;
  if (!open_combined_run(options.run_dir, &db, &error)) return fail(err, error);
  sqlite3 *h = db.get();
  // Every statement of the query runs; the rows of each are printed.
  const char *tail = options.query.c_str();
  while (tail && *tail) {
    sqlite3_stmt *raw = nullptr;
    if (sqlite3_prepare_v2(h, tail, -1, &raw, &tail) != SQLITE_OK)
      return fail(err, options.run_dir + ": " + sqlite3_errmsg(h));
    sqlite::statement st(raw);
    if (!raw) continue;  // whitespace or a comment
    const int columns = sqlite3_column_count(raw);
    if (options.header && columns > 0) {
      for (int c = 0; c < columns; ++c)
        std::fprintf(out, "%s%s", c ? "|" : "", sqlite3_column_name(raw, c));
      std::fputc('\n', out);
    }
    const bool ok = sqlite::for_each_row(raw, [&](sqlite3_stmt *row) {
      for (int c = 0; c < columns; ++c)
        std::fprintf(out, "%s%s", c ? "|" : "", sqlite::column_text(row, c).c_str());
      std::fputc('\n', out);
    });
    if (!ok) return fail(err, options.run_dir + ": " + sqlite3_errmsg(h));
  }
  std::fflush(out);
  return kExitOk;
}

}  // namespace

int run_sql(const sql_options &options, std::FILE *out, std::FILE *err) {
  return run_verb(err, "sql", options.run_dir, [&] { return run_sql_or_throw(options, out, err); });
}

void add_sql_command(CLI::App &app) {
  auto options = std::make_shared<sql_options>();
  auto *cmd = app.add_subcommand(
      "sql",
      "Run SQL over every store file of a run at once (all ranks), with the views and tables of "
      "runtime/store/SCHEMA.md");
  cmd->add_option("dir", options->run_dir, "Run directory")->required();
  cmd->add_option("query", options->query,
                  "SQL, e.g. \"SELECT rank, count(*) FROM samples_v GROUP BY rank\"");
  cmd->add_flag("--header", options->header, "Print the column names first");
  cmd->add_flag("--setup", options->print_setup,
                "Print the ATTACH and CREATE TEMP VIEW statements instead, for the sqlite3 shell: "
                "sqlite3 -cmd \"$(ttap sql DIR --setup)\" (up to the number of files SQLite "
                "attaches, 10 in most builds)");
  cmd->callback([options] {
    const int status = run_sql(*options, stdout, stderr);
    if (status != kExitOk) throw CLI::RuntimeError(status);
  });
}

}  // namespace ttap::cli
