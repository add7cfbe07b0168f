// The one place the verbs that render text in memory hand it out: to stdout, or to a file written
// whole with a line saying where it went.
#include "tools/ttap/verb_output.h"

#include "runtime/text/printable.h"
#include "tools/export/output_file.h"
#include "tools/ttap/stats_report.h"

namespace ttap::cli {

bool put_verb_output(const std::string &path, const std::string &text, const std::string &note,
                     std::FILE *out, std::string *error) {
  if (path.empty() || path == "-") {
    std::fputs(text.c_str(), out);
    std::fflush(out);
    return true;
  }
  exports::output_file file;
  if (!file.open(path, error)) return false;
  file.write(text);
  if (!file.commit(error)) return false;
  std::fprintf(out, "wrote %s (%s)%s%s\n", text::printable(path).c_str(),
               format_bytes(text.size()).c_str(), note.empty() ? "" : ": ", note.c_str());
  return true;
}

}  // namespace ttap::cli
