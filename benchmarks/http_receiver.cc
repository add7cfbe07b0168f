// The receiver: one thread accepts, one thread per connection reads requests (keep-alive, as
// libcurl reuses its connection) and answers them after the configured delay. Every wait polls
// with a short timeout so stop() ends everything promptly.
#include "benchmarks/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace ttap {

std::unique_ptr<http_receiver> http_receiver::start(const options &o, std::string *error) {
  std::unique_ptr<http_receiver> r(new http_receiver());
  r->m_options = o;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // ephemeral: tests of several agents run at once
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
    *error = std::string("bind/listen on 127.0.0.1: ") + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  r->m_listen_fd = fd;
  r->m_port = ntohs(addr.sin_port);
  r->m_acceptor = std::thread([p = r.get()] { p->accept_loop(); });
  return r;
}

http_receiver::~http_receiver() { stop(); }

std::string http_receiver::url(const std::string &path) const {
  return "http://127.0.0.1:" + std::to_string(m_port) + path;
}

std::vector<std::string> http_receiver::bodies() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_bodies;
}

void http_receiver::stop() {
  if (m_stopping.exchange(true)) return;
  if (m_acceptor.joinable()) m_acceptor.join();
  std::vector<std::thread> connections;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    for (int fd : m_open_fds) ::shutdown(fd, SHUT_RDWR);
    connections.swap(m_connections);
  }
  for (auto &t : connections) t.join();
  if (m_listen_fd >= 0) ::close(m_listen_fd);
  m_listen_fd = -1;
}

bool http_receiver::wait_readable(int fd) {
  while (!m_stopping.load()) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, 50);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
  return false;
}

void http_receiver::accept_loop() {
  while (wait_readable(m_listen_fd)) {
    int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(m_mutex);
    m_open_fds.push_back(fd);
    m_connections.emplace_back([this, fd] { serve(fd); });
  }
}

void http_receiver::serve(int fd) {
  std::string buffer;
  char chunk[4096];
  for (;;) {
    // One request: headers up to the blank line, then Content-Length bytes of body.
    size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!wait_readable(fd)) goto done;
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) goto done;
      buffer.append(chunk, size_t(n));
    }
    {
      std::string headers = buffer.substr(0, header_end);
      std::transform(headers.begin(), headers.end(), headers.begin(),
                     [](unsigned char c) { return char(std::tolower(c)); });
      size_t length = 0;
      if (size_t at = headers.find("content-length:"); at != std::string::npos)
        length = std::strtoull(headers.c_str() + at + 15, nullptr, 10);
      const size_t body_begin = header_end + 4;
      while (buffer.size() < body_begin + length) {
        if (!wait_readable(fd)) goto done;
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) goto done;
        buffer.append(chunk, size_t(n));
      }
      {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_bodies.size() < m_options.keep_bodies)
          m_bodies.push_back(buffer.substr(body_begin, length));
      }
      ++m_requests;
      buffer.erase(0, body_begin + length);
    }
    if (!m_options.answer) {
      while (wait_readable(fd)) {
        if (::recv(fd, chunk, sizeof chunk, 0) <= 0) break;
      }
      goto done;
    }
    // The delay, in slices so that stop() is not held up by it.
    for (auto until =
             std::chrono::steady_clock::now() + std::chrono::duration<double>(m_options.delay_s);
         std::chrono::steady_clock::now() < until && !m_stopping.load();)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    {
      const std::string answer = "HTTP/1.1 " + std::to_string(m_options.status) +
                                 " X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
      if (::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) goto done;
    }
  }
done:
  std::lock_guard<std::mutex> lock(m_mutex);
  std::erase(m_open_fds, fd);
  ::close(fd);
}

}  // namespace ttap
