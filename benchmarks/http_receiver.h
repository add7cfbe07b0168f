// A local HTTP receiver for the alert webhook's benchmark and tests: listens on 127.0.0.1 on an
// ephemeral port, keeps the bodies POSTed to it, answers each after a set delay (or never), so the
// webhook sink can be measured against a slow or dead receiver without any network.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ttap {

class http_receiver {
 public:
  struct options {
    double delay_s = 0;           // before each answer
    bool answer = true;           // false: read requests, never answer (until stopped)
    int status = 200;             // the answer's status
    size_t keep_bodies = 100000;  // bodies kept beyond this are only counted
  };

  // Null with *error when no port can be bound.
  static std::unique_ptr<http_receiver> start(const options &o, std::string *error);
  ~http_receiver();  // stop()
  // Closes the listening socket and every connection, joins the threads. Idempotent.
  void stop();

  int port() const { return m_port; }
  std::string url(const std::string &path = "/hook") const;
  uint64_t requests() const { return m_requests.load(); }  // requests read completely
  std::vector<std::string> bodies() const;

 private:
  http_receiver() = default;
  void accept_loop();
  void serve(int fd);
  // Waits until `fd` is readable or the receiver stops; false when stopping or on error.
  bool wait_readable(int fd);

  options m_options;
  int m_listen_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stopping{false};
  std::atomic<uint64_t> m_requests{0};
  mutable std::mutex m_mutex;
  std::vector<std::string> m_bodies;
  std::vector<int> m_open_fds;
  std::vector<std::thread> m_connections;
  std::thread m_acceptor;
};

}  // namespace ttap
