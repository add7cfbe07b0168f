// Naming, listing and locking the database files of a run directory. The lock is an OFD lock so
// that it is per open file (two sessions of one process exclude each other), readers can test it
// without taking it (F_OFD_GETLK), and the kernel drops it when its holder dies.
#include "runtime/store/store_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>

namespace ttap {
namespace {

struct flock whole_file(short type) {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = 0;
  l.l_len = 0;  // to the end, however long
  return l;
}

}  // namespace

std::string store_file_name(int32_t rank, int writer) {
  if (rank == 0 && writer <= 1) return kStoreFileName;
  std::string name = "ttap.rank-" + std::to_string(rank);
  if (writer > 1) name += "." + std::to_string(writer);
  return name + ".db";
}

bool list_store_files(const std::string &dir, std::vector<store_file> *out, std::string *error) {
  namespace fs = std::filesystem;
  static const std::regex rank_file(R"(ttap\.rank-(\d{1,8})(?:\.(\d{1,6}))?\.db)");
  out->clear();
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    *error = dir + ": cannot list the directory: " + ec.message();
    return false;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    store_file f;
    std::smatch m;
    if (name == kStoreFileName) {
      f.rank = 0;
      f.writer = 1;
    } else if (std::regex_match(name, m, rank_file)) {
      f.rank = std::stoi(m[1].str());
      f.writer = m[2].matched ? std::stoi(m[2].str()) : 1;
    } else {
      continue;
    }
    f.name = name;
    f.path = (fs::path(dir) / name).string();
    out->push_back(std::move(f));
  }
  if (ec) {
    *error = dir + ": cannot list the directory: " + ec.message();
    return false;
  }
  std::sort(out->begin(), out->end(), [](const store_file &a, const store_file &b) {
    const bool a_main = a.name == kStoreFileName, b_main = b.name == kStoreFileName;
    if (a_main != b_main) return a_main;
    return std::tie(a.rank, a.writer) < std::tie(b.rank, b.writer);
  });
  return true;
}

std::string writer_lock_path(const std::string &db_path) { return db_path + ".lock"; }

bool writer_is_live(const std::string &db_path) {
  int fd = ::open(writer_lock_path(db_path).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct flock l = whole_file(F_WRLCK);
  const bool live = ::fcntl(fd, F_OFD_GETLK, &l) == 0 && l.l_type != F_UNLCK;
  ::close(fd);
  return live;
}

writer_lock::~writer_lock() {
  if (m_fd >= 0) ::close(m_fd);  // closing the description releases its lock
}

bool writer_lock::try_lock(const std::string &db_path, bool *busy, std::string *error) {
  *busy = false;
  const std::string path = writer_lock_path(db_path);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) {
    *error = "cannot create its writer lock file " + path + ": " + std::strerror(errno);
    return false;
  }
  struct flock l = whole_file(F_WRLCK);
  if (::fcntl(fd, F_OFD_SETLK, &l) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EAGAIN || e == EACCES) {
      *busy = true;
      return false;
    }
    *error = path + ": cannot lock: " + std::strerror(e);
    return false;
  }
  if (m_fd >= 0) ::close(m_fd);
  m_fd = fd;
  return true;
}

bool holds_earlier_run(const std::string &dir, std::string *first, const std::string &own_file) {
  std::vector<store_file> files;
  std::string error;
  if (!list_store_files(dir, &files, &error)) return false;
  if (files.empty()) return false;
  // The caller's own file is locked by the caller itself: it is not another live writer.
  const std::string own_name = std::filesystem::path(own_file).filename().string();
  for (const store_file &f : files)
    if (!(!own_file.empty() && f.name == own_name) && writer_is_live(f.path)) return false;
  if (first) *first = files.front().name;
  return true;
}

bool remove_store_files(const std::string &dir, std::string *error) {
  std::vector<store_file> files;
  if (!list_store_files(dir, &files, error)) return false;
  for (const store_file &f : files) {
    for (const char *suffix : {"", "-wal", "-shm", "-journal", ".lock"}) {
      std::error_code ec;
      std::filesystem::remove(f.path + suffix, ec);
      if (ec) {
        *error = f.path + suffix + ": cannot remove: " + ec.message();
        return false;
      }
    }
  }
  return true;
}

}  // namespace ttap
