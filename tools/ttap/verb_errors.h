// How every ttap verb fails: one line "ttap VERB: error: MESSAGE" on stderr and exit status 2
// (kExitUsage), whether the verb returns an error or something inside it throws.
#pragma once

#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>

#include "runtime/text/printable.h"
#include "tools/formats/tensor_entry.h"
#include "tools/ttap/backend.h"
#include "tools/ttap/stats_command.h"

namespace ttap::cli {

// Prints the verb's error line, escaped to one printable line (the message may quote store or
// file text: SQLite's schema errors, tensor names, paths); returns kExitUsage.
inline int verb_error(std::FILE *err, const char *verb, const std::string &message) {
  std::fprintf(err, "ttap %s: error: %s\n", verb, text::printable(message).c_str());
  return kExitUsage;
}

// Runs a verb's body and turns every exception into its error line: the file and backend errors
// name their subject already; anything else is prefixed with `subject` (the run directory or
// file the verb was reading). Never throws.
template <class Body>
int run_verb(std::FILE *err, const char *verb, const std::string &subject, Body &&body) noexcept {
  try {
    return body();
  } catch (const formats::file_error &e) {
    return verb_error(err, verb, e.what());
  } catch (const backend_error &e) {
    return verb_error(err, verb, e.what());
  } catch (const std::bad_alloc &) {
    return verb_error(err, verb, subject + ": out of memory");
  } catch (const std::exception &e) {
    return verb_error(err, verb, subject + ": " + e.what());
  } catch (...) {
    return verb_error(err, verb, subject + ": internal error");
  }
}

}  // namespace ttap::cli
