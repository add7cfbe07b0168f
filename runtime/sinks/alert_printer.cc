// The stderr alert sink: formats each alert into one stack buffer and writes it with one call,
// behind a token bucket. Alerts are rare, so the cost that matters is that a flood stays cheap.
#include "runtime/sinks/alert_printer.h"

#include <cinttypes>
#include <cmath>
#include <cstring>
#include <string_view>

#include "runtime/clock.h"
#include "runtime/text/printable.h"

namespace ttap {
namespace {

// A fixed line buffer: appends never overflow; what does not fit is cut and marked.
class line_buffer {
 public:
  static constexpr size_t kCapacity = 2048;
  static constexpr char kCut[] = " [...]\n";

  // Tensor names come from the trainer: whatever could drive a terminal (C0 and C1 controls,
  // DEL) or is not UTF-8 is shown as \xNN, the rules of text::printable, without allocating.
  void append(const char *s, size_t n) {
    const std::string_view text(s, n);
    for (size_t i = 0; i < n;) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      const size_t len = text::utf8_sequence_length(text, i);
      const bool c1 = len == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0;
      if (len == 0 || c1 || c < 0x20 || c == 0x7f) {
        static constexpr char kHex[] = "0123456789abcdef";
        const char escape[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
        if (!put(escape, 4)) return;
        i += 1;
      } else {
        if (!put(s + i, len)) return;
        i += len;
      }
    }
  }
  void append(const char *s) { append(s, std::strlen(s)); }
  // Ends the line; the newline (or the cut marker) always fits in the reserved tail.
  void end_line() {
    if (m_cut) {
      std::memcpy(m_buf + m_size, kCut, sizeof kCut - 1);
      m_size += sizeof kCut - 1;
      m_cut = false;
    } else {
      m_buf[m_size++] = '\n';
    }
  }
  const char *data() const { return m_buf; }
  size_t size() const { return m_size; }

 private:
  // Whole characters or nothing: a cut never splits an escape or a UTF-8 sequence.
  bool put(const char *s, size_t n) {
    if (m_size + n > kRoom) {
      m_cut = true;
      return false;
    }
    std::memcpy(m_buf + m_size, s, n);
    m_size += n;
    return true;
  }

  static constexpr size_t kTail = sizeof kCut - 1;
  static constexpr size_t kRoom = kCapacity - kTail;  // leaves room to end the line
  char m_buf[kCapacity];
  size_t m_size = 0;
  bool m_cut = false;
};

}  // namespace

alert_printer::alert_printer(FILE *out, int32_t rank, int32_t world,
                             alert_rate_limit limit) noexcept
    : m_out(out), m_limit(limit) {
  // A bucket that cannot hold one token would suppress everything but first NaNs.
  if (!(m_limit.burst >= 1.0)) m_limit.burst = 1.0;
  if (!(m_limit.lines_per_second >= 0.0)) m_limit.lines_per_second = 0.0;
  m_tokens = m_limit.burst;
  if (world > 1)
    std::snprintf(m_prefix, sizeof m_prefix, "ttap[rank %" PRId32 "]", rank);
  else
    std::snprintf(m_prefix, sizeof m_prefix, "ttap");
}

void alert_printer::print(const alert &a) noexcept { print(a, monotonic_seconds()); }

void alert_printer::refill(double now_s) noexcept {
  if (!std::isfinite(now_s)) return;
  if (m_clock_started && now_s > m_last_refill) {
    m_tokens += (now_s - m_last_refill) * m_limit.lines_per_second;
    if (m_tokens > m_limit.burst) m_tokens = m_limit.burst;
  }
  // A clock that steps back only restarts the interval; it never adds tokens.
  m_last_refill = now_s;
  m_clock_started = true;
}

void alert_printer::print(const alert &a, double now_s) noexcept {
  if (!m_out) return;
  refill(now_s);
  bool exempt = false;
  if (a.type == alert_type::nonfinite) {
    exempt = !m_nonfinite_seen || a.step != m_nonfinite_step;
    m_nonfinite_seen = true;
    m_nonfinite_step = a.step;
  }
  if (m_tokens >= 1.0) {
    m_tokens -= 1.0;
  } else if (!exempt) {
    ++m_suppressed;
    ++m_unreported;
    return;
  }
  write_line(&a);
}

void alert_printer::finalize() noexcept {
  if (m_out && m_unreported) write_line(nullptr);
}

void alert_printer::write_line(const alert *a) noexcept {
  line_buffer line;
  char head[96];
  if (m_unreported) {
    std::snprintf(head, sizeof head, "%s: %" PRIu64 " more alert%s suppressed (see the store)",
                  m_prefix, m_unreported, m_unreported == 1 ? "" : "s");
    line.append(head);
    line.end_line();
    m_unreported = 0;
  }
  if (a) {
    std::snprintf(head, sizeof head, "%s: step %" PRId64 ": ", m_prefix, a->step);
    line.append(head);
    line.append(a->message.data(), a->message.size());
    line.end_line();
    ++m_printed;
  }
  // One write for both lines; stderr is unbuffered, other streams are flushed so a crash right
  // after the alert does not lose it.
  std::fwrite(line.data(), 1, line.size(), m_out);
  std::fflush(m_out);
}

}  // namespace ttap
