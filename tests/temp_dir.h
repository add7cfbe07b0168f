// A fresh directory under /tmp for one test, removed with everything in it when the test ends.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace ttap::testing {

struct temp_dir {
  std::string path;
  // under: the parent directory (another file system than /tmp's, e.g. a tmpfs).
  explicit temp_dir(const std::string &under = "/tmp") {
    std::string tmpl = under + "/ttap-test-XXXXXX";
    path = mkdtemp(tmpl.data());
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  temp_dir(const temp_dir &) = delete;
  temp_dir &operator=(const temp_dir &) = delete;
};

}  // namespace ttap::testing
