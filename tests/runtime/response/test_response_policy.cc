// The on_nonfinite / on_spike values (choice_set knobs of the registry), and every bad knob value
// refused by ttap_open with the allowed values.
#include <gtest/gtest.h>

#include <string>

#include "runtime/config.h"
#include "runtime/response/response_policy.h"
#include "tests/temp_dir.h"
#include "ttap/ttap.h"

namespace ttap {
namespace {

// The knobs' values through the registry: their bits to a policy and the policy back to text.
response_policy parsed(const char *name, const std::string &value) {
  const knob *k = find_knob(name);
  knob_value v;
  std::string error;
  EXPECT_TRUE(k && parse_knob(*k, value, &v, &error)) << error;
  return response_policy_of_bits(v.integer);
}

TEST(ResponsePolicy, ParsesCombinationsAndPrintsThemBack) {
  response_policy p = parsed("on_nonfinite", "skip+dump");
  EXPECT_TRUE(p.skip && p.dump && !p.abort);
  EXPECT_EQ(response_policy_text(p), "skip+dump");
  p = parsed("on_nonfinite", "dump+warn+abort");
  EXPECT_TRUE(!p.skip && p.dump && p.abort);
  EXPECT_EQ(response_policy_text(p), "dump+abort");
  p = parsed("on_spike", "warn");
  EXPECT_EQ(p, response_policy{});
  EXPECT_EQ(response_policy_text(p), "warn");
  EXPECT_FALSE(p.acts_at_verdict());
  // The session's configuration, from the options string.
  session_config c;
  std::string error;
  ASSERT_TRUE(make_session_config("/tmp/x", "on_nonfinite=skip+dump,on_spike=dump,dump_max=5",
                                  &c, &error))
      << error;
  EXPECT_TRUE(c.on_nonfinite.skip && c.on_nonfinite.dump && c.on_spike.dump && !c.on_spike.skip);
  EXPECT_EQ(c.dump_max, 5);
  EXPECT_EQ(c.dump_max_mb, 256);
  EXPECT_NE(c.to_string().find("on_nonfinite=skip+dump"), std::string::npos) << c.to_string();
}

TEST(ResponsePolicy, EveryBadValueIsRefusedWithTheAllowedValues) {
  struct bad {
    const char *knob, *value, *why;
  };
  const bad cases[] = {
      {"on_nonfinite", "", "an empty choice"},
      {"on_nonfinite", "skip+", "an empty choice"},
      {"on_nonfinite", "+skip", "an empty choice"},
      {"on_nonfinite", "skip++dump", "an empty choice"},
      {"on_nonfinite", "skip+skip", "'skip' twice"},
      {"on_nonfinite", "stop", "unknown choice 'stop'"},
      {"on_nonfinite", "Skip", "unknown choice 'Skip'"},
      {"on_nonfinite", "skip+abort", "skip and abort exclude each other"},
      {"on_nonfinite", "abort+dump+skip", "skip and abort exclude each other"},
      {"on_nonfinite", "warn|skip", "unknown choice 'warn|skip'"},
      {"on_spike", "abort", "unknown choice 'abort'"},
      {"on_spike", "skip,dump", "unknown choice 'skip,dump'"},
  };
  for (const bad &b : cases) {
    const knob *k = find_knob(b.knob);
    ASSERT_NE(k, nullptr);
    knob_value v;
    std::string error;
    EXPECT_FALSE(parse_knob(*k, b.value, &v, &error)) << b.value;
    EXPECT_NE(error.find(std::string(b.knob) + "=" + b.value + " is not valid (" + b.why + ")"),
              std::string::npos)
        << error;
    const bool nonfinite = std::string(b.knob) == "on_nonfinite";
    const std::string allowed =
        nonfinite ? "takes warn, skip, dump or abort, or several joined by '+'"
                  : "takes warn, skip or dump, or several joined by '+'";
    EXPECT_NE(error.find(allowed), std::string::npos) << error;
  }
}

// Through ttap_open: the options string names the knob, the value and what it takes.
TEST(ResponsePolicy, TtapOpenRefusesBadValues) {
  testing::temp_dir dir;
  const std::pair<const char *, const char *> cases[] = {
      {"on_nonfinite=skip+fly", "takes warn, skip, dump or abort"},
      {"on_spike=abort", "takes warn, skip or dump"},
      {"on_spike=", "takes warn, skip or dump"},
      {"dump_max=-1", "dump_max (TTAP_DUMP_MAX) takes an integer from 0 to 1000000"},
      {"dump_max=3.5", "dump_max (TTAP_DUMP_MAX) takes an integer from 0 to 1000000"},
      {"dump_max_mb=lots", "dump_max_mb (TTAP_DUMP_MAX_MB) takes a number from 0 to 1048576"},
      {"dump_max_mb=-2", "dump_max_mb (TTAP_DUMP_MAX_MB) takes a number from 0 to 1048576"},
  };
  for (const auto &[options, allowed] : cases) {
    ttap_session *s = nullptr;
    EXPECT_EQ(ttap_open(dir.path.c_str(), options, &s), TTAP_ERR_INVALID_ARGUMENT) << options;
    EXPECT_EQ(s, nullptr);
    const std::string error = ttap_last_error();
    EXPECT_NE(error.find(allowed), std::string::npos) << options << ": " << error;
  }
}

}  // namespace
}  // namespace ttap
