// The training command `ttap run` supervises: started with tensortap's environment, signals
// forwarded to it, its exit status reported the way a shell would (128 + signal when killed).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ttap {

class child_process {
 public:
  child_process() = default;
  ~child_process();
  child_process(const child_process &) = delete;
  child_process &operator=(const child_process &) = delete;

  // Starts argv[0] (searched in PATH) with the current environment plus `extra_env` ("NAME=value").
  // False with *error ("cannot start 'x': No such file or directory") when it cannot start;
  // *exit_code is then what a shell would return (127 not found, 126 not executable).
  bool start(const std::vector<std::string> &argv, const std::vector<std::string> &extra_env,
             std::string *error, int *exit_code);

  // Waits up to timeout_ms for the child to end, asleep (a pidfd where the kernel has them, else
  // a check every 20 ms); a signal to this process may end the wait early. True once the child
  // has ended; exit_code() is then valid.
  bool wait_for(int timeout_ms);

  // Sends `signal` to the child (SIGTERM, SIGINT, ...) if it is still running.
  void signal(int signal);

  int exit_code() const { return m_exit_code; }
  bool running() const { return m_pid > 0 && !m_done; }
  pid_t pid() const { return m_pid; }

 private:
  bool reap();  // the child's status if it has ended (waitpid WNOHANG)

  pid_t m_pid = -1;
  int m_pidfd = -1;  // the child's pidfd (Linux 5.3), -1 without
  bool m_done = false;
  int m_exit_code = 0;
};

// Installs handlers for SIGINT, SIGTERM, SIGHUP and SIGQUIT that only record the signal (the
// supervisor forwards it and keeps going until the child ends). Returns the signal received since
// the last call, or 0.
void install_forwarding_handlers();
int take_pending_signal();

}  // namespace ttap
