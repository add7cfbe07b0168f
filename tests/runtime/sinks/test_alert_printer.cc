// The stderr alert sink: its line format, the rank prefix, the token bucket and the suppressed
// count line, the nonfinite exemption, and that odd messages stay one line.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "runtime/sinks/alert_printer.h"
#include "tests/runtime/detectors/detector_test_support.h"

namespace ttap {
namespace {

using testing::detector_run;
using testing::finite_summary;
using testing::make_record;
using testing::make_tensor;
using testing::with_nonfinite;

// A temporary FILE the printer writes to, read back whole.
class captured_file {
 public:
  captured_file() : m_file(std::tmpfile()) {}
  ~captured_file() {
    if (m_file) std::fclose(m_file);
  }
  FILE *get() const { return m_file; }
  std::string text() const {
    std::fflush(m_file);
    long end = std::ftell(m_file);
    std::string out(size_t(end), '\0');
    std::rewind(m_file);
    size_t n = std::fread(out.data(), 1, out.size(), m_file);
    out.resize(n);
    std::fseek(m_file, 0, SEEK_END);
    return out;
  }

 private:
  FILE *m_file;
};

alert make_alert_at(int64_t step, std::string message, alert_type type = alert_type::spike) {
  alert a;
  a.step = step;
  a.type = type;
  a.message = std::move(message);
  return a;
}

// The issue's example line, produced by the real nonfinite detector and printed.
TEST(AlertPrinter, PrintsTheIssueExampleLine) {
  detector_run run(detector_config{}, "nonfinite");
  tensor_info t = make_tensor(17, "layers.17.mlp.down_proj.grad", tensor_kind::grad, 4194304);
  run.feed(t, make_record(1234, 17, with_nonfinite(finite_summary(4194304 - 37, 1.0), 37, 0, 0)));
  ASSERT_EQ(run.alerts().size(), 1u);

  captured_file f;
  ASSERT_NE(f.get(), nullptr);
  alert_printer printer(f.get());
  printer.print(run.alerts()[0], 0.0);
  EXPECT_EQ(f.text(),
            "ttap: step 1234: NaN in layers.17.mlp.down_proj.grad (37 of 4194304 values), first "
            "non-finite value in this run\n");
  EXPECT_EQ(printer.printed(), 1u);
  EXPECT_EQ(printer.suppressed(), 0u);
}

TEST(AlertPrinter, RankPrefixOnlyInMultiRankRuns) {
  captured_file multi, single;
  alert_printer p3(multi.get(), 3, 8);
  alert_printer p0(single.get(), 3, 1);
  p3.print(make_alert_at(7, "something"), 0.0);
  p0.print(make_alert_at(7, "something"), 0.0);
  EXPECT_EQ(multi.text(), "ttap[rank 3]: step 7: something\n");
  EXPECT_EQ(single.text(), "ttap: step 7: something\n");
}

TEST(AlertPrinter, TokenBucketAndSuppressedCount) {
  captured_file f;
  alert_printer p(f.get(), 0, 1, alert_rate_limit{.lines_per_second = 1.0, .burst = 3.0});
  for (int i = 0; i < 10; ++i)
    p.print(make_alert_at(i, std::string("a").append(std::to_string(i))), 100.0);
  EXPECT_EQ(f.text(), "ttap: step 0: a0\nttap: step 1: a1\nttap: step 2: a2\n");
  EXPECT_EQ(p.printed(), 3u);
  EXPECT_EQ(p.suppressed(), 7u);

  // One second later one token is back: the count of what was dropped comes first.
  p.print(make_alert_at(10, "a10"), 101.0);
  EXPECT_EQ(f.text(),
            "ttap: step 0: a0\nttap: step 1: a1\nttap: step 2: a2\n"
            "ttap: 7 more alerts suppressed (see the store)\nttap: step 10: a10\n");
  // Half a second later: no token yet.
  p.print(make_alert_at(11, "a11"), 101.5);
  EXPECT_EQ(p.suppressed(), 8u);
  // A clock that steps back adds nothing.
  p.print(make_alert_at(12, "a12"), 50.0);
  EXPECT_EQ(p.suppressed(), 9u);

  std::string before = f.text();
  p.finalize();
  std::string text = f.text();
  EXPECT_EQ(text, before + "ttap: 2 more alerts suppressed (see the store)\n");
  p.finalize();  // nothing new to report
  EXPECT_EQ(f.text(), text);
  EXPECT_EQ(p.printed(), 4u);
}

TEST(AlertPrinter, SuppressedLineCarriesTheRankAndSingular) {
  captured_file f;
  alert_printer p(f.get(), 2, 4, alert_rate_limit{.lines_per_second = 0.0, .burst = 1.0});
  p.print(make_alert_at(1, "x"), 0.0);
  p.print(make_alert_at(2, "y"), 0.0);
  p.finalize();
  EXPECT_EQ(f.text(),
            "ttap[rank 2]: step 1: x\nttap[rank 2]: 1 more alert suppressed (see the store)\n");
}

TEST(AlertPrinter, FirstNonfiniteAlertOfAStepIsNeverSuppressed) {
  captured_file f;
  alert_printer p(f.get(), 0, 1, alert_rate_limit{.lines_per_second = 0.0, .burst = 1.0});
  p.print(make_alert_at(4, "spike"), 0.0);  // takes the only token
  p.print(make_alert_at(5, "NaN in a", alert_type::nonfinite), 0.0);
  p.print(make_alert_at(5, "NaN in b", alert_type::nonfinite), 0.0);  // same step: limited
  p.print(make_alert_at(6, "NaN in c", alert_type::nonfinite), 0.0);
  p.print(make_alert_at(6, "another spike"), 0.0);
  EXPECT_EQ(f.text(),
            "ttap: step 4: spike\nttap: step 5: NaN in a\n"
            "ttap: 1 more alert suppressed (see the store)\nttap: step 6: NaN in c\n");
  EXPECT_EQ(p.suppressed(), 2u);
}

TEST(AlertPrinter, MessagesStayOneLine) {
  captured_file f;
  alert_printer p(f.get());
  p.print(make_alert_at(1, "name\nwith\tcontrol\rchars"), 0.0);
  std::string long_message(5000, 'x');
  p.print(make_alert_at(2, long_message), 0.0);
  std::string text = f.text();
  std::string first = "ttap: step 1: name\\x0awith\\x09control\\x0dchars\n";
  ASSERT_EQ(text.substr(0, first.size()), first);
  std::string second = text.substr(first.size());
  EXPECT_EQ(second.find('\n'), second.size() - 1);  // one line
  EXPECT_LT(second.size(), 2100u);
  EXPECT_EQ(second.substr(second.size() - 7), " [...]\n");
  EXPECT_EQ(second.rfind("ttap: step 2: xxx", 0), 0u);
}

// A tensor name holding a window-title change, a C1 CSI and bytes that are not UTF-8 is printed
// escaped; valid UTF-8 stays as it is.
TEST(AlertPrinter, HostileNamesAreEscaped) {
  captured_file f;
  alert_printer p(f.get());
  p.print(make_alert_at(1,
                        "NaN in \x1b]0;pwned\x07\xc2\x9b"
                        "2J\xff caf\xc3\xa9"),
          0.0);
  EXPECT_EQ(f.text(), "ttap: step 1: NaN in \\x1b]0;pwned\\x07\\xc2\\x9b2J\\xff caf\xc3\xa9\n");
}

TEST(AlertPrinter, NullFileIsANoOp) {
  alert_printer p(nullptr);
  p.print(make_alert_at(1, "x"));
  p.finalize();
  EXPECT_EQ(p.printed(), 0u);
  EXPECT_EQ(p.suppressed(), 0u);
}

}  // namespace
}  // namespace ttap
