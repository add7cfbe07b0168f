// Finding and describing runs for `ttap ls`: a bounded directory walk, then a handful of indexed
// lookups per store. The state comes from the writer's pid (on this host), the time of its last
// write and whether a write-ahead log is left: a clean close checkpoints and removes it.
#include "tools/compare/run_listing.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <system_error>

#include "runtime/clock.h"
#include "runtime/store/store_files.h"

namespace ttap::compare {
namespace fs = std::filesystem;
namespace {

bool is_run_dir(const fs::path &dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / kStoreFileName, ec);
}

void walk(const fs::path &dir, int depth, std::vector<std::string> *out) {
  if (is_run_dir(dir)) {
    out->push_back(dir.string());
    return;  // a run's own subdirectories (exports) are not runs
  }
  if (depth == kListDepth) return;
  std::error_code ec;
  // Unreadable subdirectories are passed over: a listing shows what it can see.
  for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    // Symbolic links are not followed, so a link loop cannot make the walk endless.
    if (it->is_directory(type_ec) && !it->is_symlink(type_ec)) walk(it->path(), depth + 1, out);
  }
}

double mtime_seconds(const fs::path &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return double(st.st_mtim.tv_sec) + double(st.st_mtim.tv_nsec) * 1e-9;
}

// A store file whose write-ahead log still holds frames was not closed cleanly (or is still open).
bool wal_left(const fs::path &dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 8 && name.ends_with(".db-wal") && it->file_size(ec) > 0 && !ec) return true;
  }
  return false;
}

bool process_alive(int64_t pid) {
  // kill(pid, 0) probes without signalling: ESRCH means no such process (EPERM means it exists).
  return pid > 0 && (::kill(pid_t(pid), 0) == 0 || errno != ESRCH);
}

}  // namespace

bool find_run_dirs(const std::vector<std::string> &roots, std::vector<std::string> *out,
                   std::string *error) {
  out->clear();
  for (const std::string &root : roots) {
    std::error_code ec;
    if (!fs::exists(root, ec)) {
      *error = root + ": no such directory";
      return false;
    }
    if (!fs::is_directory(root, ec)) {
      *error = root + ": not a directory";
      return false;
    }
    walk(root, 0, out);
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return true;
}

run_listing describe_run(const std::string &dir, double now, const std::string &host) {
  run_listing r;
  r.dir = dir;
  std::string error;
  auto reader = run_reader::open(dir, &error);
  std::vector<run_session_info> sessions;
  std::vector<run_counters_row> counters;
  const bool ok = reader && reader->sessions(&sessions) && reader->counters(&counters) &&
                  reader->latest_step(&r.last_step) && reader->alert_count(&r.alerts) &&
                  reader->first_alert_of_type("nonfinite", &r.first_nonfinite);
  if (!ok) {
    r.state = "unreadable";
    r.error = reader ? reader->last_error() : error;
    return r;
  }
  bool writer_alive = false;
  for (const run_session_info &s : sessions) {
    if (std::find(r.ranks.begin(), r.ranks.end(), s.rank) == r.ranks.end())
      r.ranks.push_back(s.rank);
    r.world = std::max(r.world, s.world);
    if (r.start_time == 0 || s.start_time < r.start_time) r.start_time = s.start_time;
    writer_alive = writer_alive || (s.host == host && process_alive(s.pid));
  }
  std::sort(r.ranks.begin(), r.ranks.end());
  std::map<int32_t, uint64_t> taken;
  for (const run_counters_row &c : counters) taken[c.rank] += c.samples_taken;
  r.gaps = report::gaps_of(sessions, counters, taken);
  const run_counters_row totals = sum_counters(counters);
  r.samples = totals.samples_taken;
  // The budget's measure: host and device time together.
  if (totals.step_seconds > 0)
    r.overhead_fraction = (totals.overhead_seconds + totals.device_seconds) / totals.step_seconds;
  // Counters are rewritten at every flush; the files' times cover a writer that stored samples
  // but has not updated its counters yet.
  r.end_time = std::max(totals.time, r.start_time);
  r.last_write = std::max({totals.time, mtime_seconds(fs::path(dir) / kStoreFileName),
                           mtime_seconds(fs::path(dir) / (std::string(kStoreFileName) + "-wal"))});
  // Every session marked closed: finished, even with a WAL its writer could not fold in at close
  // (a reader was inside a read); nothing of it is lost.
  const bool all_closed =
      !sessions.empty() && std::all_of(sessions.begin(), sessions.end(),
                                       [](const run_session_info &s) { return s.end_time; });
  if (writer_alive && now - r.last_write <= kLiveSeconds) {
    r.state = "live";
  } else if (all_closed || !wal_left(dir)) {
    r.state = "finished";
  } else {
    r.state = "crashed";
  }
  return r;
}

bool list_runs(const std::vector<std::string> &roots, std::vector<run_listing> *out,
               std::string *error) {
  std::vector<std::string> dirs;
  if (!find_run_dirs(roots, &dirs, error)) return false;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const double now = wall_seconds();
  out->clear();
  for (const std::string &dir : dirs) out->push_back(describe_run(dir, now, host));
  std::stable_sort(out->begin(), out->end(), [](const run_listing &a, const run_listing &b) {
    const bool a_bad = a.state == "unreadable", b_bad = b.state == "unreadable";
    if (a_bad != b_bad) return b_bad;
    return a.start_time < b.start_time;
  });
  return true;
}

}  // namespace ttap::compare
