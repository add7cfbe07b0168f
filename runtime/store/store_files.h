// The files a run directory's store is made of: one SQLite database per writer (ttap.db for rank 0,
// ttap.rank-R.db for the others, ttap.rank-R.K.db for a second writer of a rank), each with a lock
// file its live writer holds, which is how readers tell a live run from a finished or crashed one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ttap {

// The first writer of rank 0 writes this file; every name of the store is derived here.
inline constexpr const char *kStoreFileName = "ttap.db";

// "ttap.db" (rank 0, first writer), "ttap.rank-3.db", "ttap.rank-3.2.db" (writer 2 of rank 3).
std::string store_file_name(int32_t rank, int writer);

// Tensor ids a session may use; a later session of the same rank in a file (mode=append) starts its
// ids past the earlier ones' range (2^20 tensors each, up to 2047 sessions of one rank in int32):
// 64 ranges per writer file, so that (rank, id) is unique across every file of the run directory.
inline constexpr int32_t kTensorIdsPerSession = int32_t(1) << 20;
inline constexpr int kSessionsPerWriter = 64;

// Which of its rank's sessions in its store file registered tensor `id`: 1 for the first, 2 for
// the first one added with mode=append, and so on.
inline int session_ordinal_of_tensor(int32_t id) {
  return id < 0 ? 1 : id / kTensorIdsPerSession % kSessionsPerWriter + 1;
}

// One database file of a run, as found in its directory.
struct store_file {
  std::string path;  // DIR/NAME
  std::string name;
  int32_t rank = 0;  // from the name
  int writer = 1;
};

// The store files in `dir`, ttap.db first, then by rank and writer. An unreadable directory is an
// error (message naming it); a directory without store files gives an empty list.
bool list_store_files(const std::string &dir, std::vector<store_file> *out, std::string *error);

// The lock file of a database file ("DIR/ttap.db.lock").
std::string writer_lock_path(const std::string &db_path);

// Whether a live process holds the writer lock of `db_path` (never blocks, takes no lock).
bool writer_is_live(const std::string &db_path);

// The writer lock of one database file: an open-file-description lock (F_OFD_SETLK) on its lock
// file, held while the store is open, released when the process dies however it dies. Two
// sessions of one process conflict like two processes do.
class writer_lock {
 public:
  writer_lock() = default;
  ~writer_lock();
  writer_lock(const writer_lock &) = delete;
  writer_lock &operator=(const writer_lock &) = delete;

  // Takes the lock of `db_path` without waiting. False when another writer holds it (*busy set)
  // or the lock file cannot be created (*busy clear, *error says why).
  bool try_lock(const std::string &db_path, bool *busy, std::string *error);
  bool held() const { return m_fd >= 0; }

 private:
  int m_fd = -1;
};

// Whether `dir` holds store files of which none has a live writer: a run that finished or died
// there. *first names one of them. `own_file` (the caller's, whose lock it holds) does not count as
// live.
bool holds_earlier_run(const std::string &dir, std::string *first = nullptr,
                       const std::string &own_file = "");

// Removes every store file of `dir` (databases, WAL, shared-memory and lock files): what
// `ttap run --force` replaces.
bool remove_store_files(const std::string &dir, std::string *error);

}  // namespace ttap
