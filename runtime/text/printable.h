// Text that came from a file, a store or a trainer (tensor names, alert messages, SQLite errors),
// made safe to print: terminals, log lines and the Prometheus text format all go through here, so
// no output path can forget to neutralize a hostile name.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ttap::text {

// `text` fit for one line of a terminal or a log: C0 controls (newlines included), DEL, C1
// controls (U+0080..U+009F, which some terminals obey) and bytes that are not well-formed UTF-8
// (overlong forms, surrogates, past U+10FFFF) become the four characters \xNN, so a name cannot
// move the cursor, retitle the window, clear the screen or split one error over several lines.
// Longer than max_chars characters: cut in the middle with "...". Valid, printable UTF-8 is kept.
std::string printable(std::string_view text, size_t max_chars = std::string::npos);

// Length of the well-formed UTF-8 sequence at text[i] (1 for ASCII), or 0 when the bytes there
// are not UTF-8.
size_t utf8_sequence_length(std::string_view text, size_t i);

}  // namespace ttap::text
