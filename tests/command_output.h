// Runs a shell command line and keeps what it printed on stdout and its exit status: the tests that
// drive the built `ttap` binary (bench, run) read its output through this.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

namespace ttap::testing {

struct command_result {
  int status;       // the exit status (WEXITSTATUS)
  std::string out;  // stdout; a caller that wants stderr too adds 2>&1 to its line
};

inline command_result command_output(const std::string &line) {
  std::unique_ptr<FILE, int (*)(FILE *)> pipe(popen(line.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe.get())) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe.release());
  return {WEXITSTATUS(status), out};
}

}  // namespace ttap::testing
