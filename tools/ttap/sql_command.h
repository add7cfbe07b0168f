// `ttap sql DIR QUERY`: one SQL query over every store file of a run at once (each writer, each
// rank, has its own file; the views are combined), and the set-up SQL that gives the plain sqlite3
// shell the same combined views.
#pragma once

#include <cstdio>
#include <string>

namespace CLI {
class App;
}

namespace ttap::cli {

struct sql_options {
  std::string run_dir;
  std::string query;
  bool header = false;       // print the column names first
  bool print_setup = false;  // print the ATTACH / CREATE TEMP VIEW script instead of querying
};

void add_sql_command(CLI::App &app);

// Runs the verb: rows to `out`, one per line, columns separated by '|' (NULL as nothing), as the
// sqlite3 shell prints them. Returns 0, or 2 with one line on `err` naming the problem (not a run,
// a store file that cannot be read, more store files than SQLite can attach, a query SQLite
// refuses). Never throws.
int run_sql(const sql_options &options, std::FILE *out, std::FILE *err);

}  // namespace ttap::cli
