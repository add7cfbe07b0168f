// The one escaping of untrusted text for terminals and text exposition formats (see printable.h);
// strict UTF-8 per RFC 3629, the same rules Prometheus and JSON readers apply.
#include "runtime/text/printable.h"

#include <vector>

namespace ttap::text {

size_t utf8_sequence_length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  const size_t n = lead >= 0xc2 && lead <= 0xdf   ? 2
                   : lead >= 0xe0 && lead <= 0xef ? 3
                   : lead >= 0xf0 && lead <= 0xf4 ? 4
                                                  : 0;
  if (n == 0 || i + n > text.size()) return 0;
  // The second byte's range excludes overlong forms (E0, F0), surrogates (ED) and code points
  // past U+10FFFF (F4).
  const unsigned char second = byte(i + 1);
  const unsigned char lo = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80;
  const unsigned char hi = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;
  if (second < lo || second > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  return n;
}

std::string printable(std::string_view text, size_t max_chars) {
  static const char kHex[] = "0123456789abcdef";
  // Pieces are whole characters, so the cut below never splits a UTF-8 sequence.
  std::vector<std::string_view> pieces;
  std::string escapes;  // backing store of the \xNN pieces, reserved so views stay valid
  escapes.reserve(text.size() * 4);
  for (size_t i = 0; i < text.size();) {
    const unsigned char u = static_cast<unsigned char>(text[i]);
    const size_t n = utf8_sequence_length(text, i);
    const bool c1 = n == 2 && u == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0;
    if (n == 0 || c1 || u < 0x20 || u == 0x7f) {
      const size_t at = escapes.size();
      escapes += "\\x";
      escapes += kHex[u >> 4];
      escapes += kHex[u & 15];
      pieces.emplace_back(escapes.data() + at, 4);
      i += 1;
    } else {
      pieces.push_back(text.substr(i, n));
      i += n;
    }
  }
  std::string out;
  if (pieces.size() > max_chars && max_chars >= 8) {
    const size_t keep = (max_chars - 3) / 2;
    for (size_t k = 0; k < keep; ++k) out += pieces[k];
    out += "...";
    for (size_t k = pieces.size() - keep; k < pieces.size(); ++k) out += pieces[k];
  } else {
    for (const auto &p : pieces) out += p;
  }
  return out;
}

}  // namespace ttap::text
