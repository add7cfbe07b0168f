// The thread-local "last error" message behind device::last_error(), in a fixed buffer. It is
// trivially destructible on purpose: a std::string thread_local is destroyed with the thread's
// storage, and the hooks close their session from an atexit handler that runs after glibc has done
// that for the main thread, so a device error recorded there would write into freed memory.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace ttap {

class device_error_buffer {
 public:
  // Keeps the message, cut to the buffer (any device message fits; a cut one still says what
  // failed).
  void set(std::string_view message) {
    const size_t n = std::min(message.size(), sizeof(m_text) - 1);
    std::memcpy(m_text, message.data(), n);
    m_text[n] = '\0';
  }
  std::string get() const { return m_text; }

 private:
  char m_text[1024];  // zero-initialized as a thread_local: "" until the first error
};
static_assert(std::is_trivially_destructible_v<device_error_buffer>);

}  // namespace ttap
