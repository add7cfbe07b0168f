// `ttap report RUN RUN...` with more than one run: a comparison, one row per run as text, JSON,
// or an HTML page with every run's loss and global gradient norm overlaid.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace ttap::cli {

// Returns 0, or 2 with one line on `err` (a directory that is not a run, a corrupt store, the same
// run given twice, an unwritable output). `output` "" writes text and JSON to `out` and HTML to
// ./ttap-runs.html. Never throws.
int run_report_runs(const std::vector<std::string> &dirs, const std::string &format,
                    const std::string &output, std::FILE *out, std::FILE *err);

}  // namespace ttap::cli
