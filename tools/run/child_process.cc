// Process start with posix_spawnp (so a missing command is an error of the parent, not a message
// from a half-started child), a wait that sleeps on a pidfd, and signal handlers that only set a
// flag.
#include "tools/run/child_process.h"

#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

extern char **environ;

namespace ttap {
namespace {

std::atomic<int> g_pending_signal{0};

void record_signal(int sig) { g_pending_signal.store(sig); }

}  // namespace

void install_forwarding_handlers() {
  struct sigaction sa {};
  sa.sa_handler = record_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(sig, &sa, nullptr);
}

int take_pending_signal() { return g_pending_signal.exchange(0); }

bool child_process::start(const std::vector<std::string> &argv,
                          const std::vector<std::string> &extra_env, std::string *error,
                          int *exit_code) {
  std::vector<std::string> env_strings;
  for (char **e = environ; *e; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto &x : extra_env) overridden = overridden || x.substr(0, x.find('=')) == name;
    if (!overridden) env_strings.push_back(entry);
  }
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char *> envp, args;
  for (auto &e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto &a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);

  // The child starts with default signal dispositions (ours only record signals).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  int rc = posix_spawnp(&m_pid, args[0], nullptr, &attr, args.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    *error = "cannot start '" + argv[0] + "': " + std::strerror(rc);
    *exit_code = (rc == ENOENT) ? 127 : 126;
    m_pid = -1;
    return false;
  }
#ifdef SYS_pidfd_open
  // -1 on kernels before 5.3: wait_for then polls.
  m_pidfd = int(syscall(SYS_pidfd_open, m_pid, 0));
#endif
  return true;
}

child_process::~child_process() {
  if (m_pidfd >= 0) close(m_pidfd);
}

bool child_process::reap() {
  int status = 0;
  pid_t r = waitpid(m_pid, &status, WNOHANG);
  if (r == m_pid) {
    m_done = true;
    m_exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
                  : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                        : 1;
    return true;
  }
  if (r < 0 && errno != EINTR) {
    m_done = true;
    m_exit_code = 1;
    return true;
  }
  return false;
}

bool child_process::wait_for(int timeout_ms) {
  if (m_pid <= 0 || m_done) return true;
  if (reap()) return true;
  if (m_pidfd >= 0) {
    // Asleep until the child ends, the time is up or a signal arrives (poll is never restarted:
    // the caller's loop forwards the signal at once). Polling every 20 ms woke ttap run 50 times
    // a second on its rank's core, which under mpirun it shares with the program.
    pollfd p{m_pidfd, POLLIN, 0};
    poll(&p, 1, timeout_ms);
    return reap();
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (reap()) return true;
  }
}

void child_process::signal(int sig) {
  if (running()) kill(m_pid, sig);
}

}  // namespace ttap
