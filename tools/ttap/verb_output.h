// Where a verb's rendered page or table goes: stdout, or a file written whole (the report, diff and
// several-runs verbs render their text in memory first).
#pragma once

#include <cstdio>
#include <string>

namespace ttap::cli {

// With `path` empty or "-", prints `text` on `out`. Otherwise writes it to `path` through
// exports::output_file (a temporary sibling renamed into place, so a failed write never leaves a
// truncated page) and prints "wrote PATH (SIZE)" on `out`, followed by ": NOTE" when
// `note` is not empty. False with *error naming the path when the file cannot be written.
bool put_verb_output(const std::string &path, const std::string &text, const std::string &note,
                     std::FILE *out, std::string *error);

}  // namespace ttap::cli
