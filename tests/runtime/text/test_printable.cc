// The escaping every terminal and exposition path uses: printable text passes unchanged, anything
// that could drive a terminal or break a line or a UTF-8 reader becomes \xNN.
#include <gtest/gtest.h>

#include "runtime/text/printable.h"

namespace ttap::text {
namespace {

TEST(Printable, KeepsPrintableUtf8) {
  EXPECT_EQ(printable("layers.0.attn.q_proj.weight"), "layers.0.attn.q_proj.weight");
  EXPECT_EQ(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, EscapesControlsAndTerminalSequences) {
  // An OSC window-title change, a clear-screen, a newline, a carriage return, DEL, C1 CSI.
  EXPECT_EQ(printable("a\x1b]0;pwned\x07"
                      "b"),
            "a\\x1b]0;pwned\\x07b");
  EXPECT_EQ(printable("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(printable("line one\nline two\r"), "line one\\x0aline two\\x0d");
  EXPECT_EQ(printable("x\x7fy"), "x\\x7fy");
  EXPECT_EQ(printable("\xc2\x9b"
                      "31m"),
            "\\xc2\\x9b31m");
  EXPECT_EQ(printable(std::string("a\0b", 3)), "a\\x00b");
}

TEST(Printable, EscapesEveryMalformedUtf8Form) {
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(printable("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");           // overlong, 3 bytes
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // UTF-16 surrogate
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");                    // truncated sequence
  EXPECT_EQ(printable("\x80"), "\\x80");                             // lone continuation byte
}

TEST(Printable, CutsLongTextInTheMiddleOnCharacterBoundaries) {
  const std::string cut = printable(std::string(300, 'a') + "TAIL", 20);
  EXPECT_EQ(cut.size(), 19u) << cut;  // 8 + "..." + 8
  EXPECT_EQ(cut.substr(cut.size() - 4), "TAIL");
  std::string euros;
  for (int i = 0; i < 50; ++i) euros += "\xe2\x82\xac";
  const std::string cut_euros = printable(euros, 11);
  EXPECT_EQ(cut_euros,
            "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac..."
            "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
  EXPECT_EQ(printable(std::string(5000, 'b')).size(), 5000u);  // no limit by default
}

}  // namespace
}  // namespace ttap::text
