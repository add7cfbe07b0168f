// A fresh directory under /tmp for one test, removed with everything in it when the test ends.
#pragma once

#include <linux/magic.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ttap::testing {

// A parent for directories that many stores are written in: a tmpfs (/dev/shm) when there is a
// writable one, so a test measures tensortap and not the disk (a store syncs its file about 8
// times from open to close: ~60 ms on a busy shared disk, nothing on a tmpfs); else /tmp.
inline std::string memory_backed_parent() {
  struct statfs fs;
  if (::statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC &&
      ::access("/dev/shm", W_OK | X_OK) == 0)
    return "/dev/shm";
  return "/tmp";
}

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
