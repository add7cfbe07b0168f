// The knob registry: defaults that agree with the configuration structs, values refused with the
// knob's name and range, process knobs that fall back to their default, and detector thresholds
// that reach the detectors of a session.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/config.h"
#include "tests/runtime/store_query.h"
#include "tests/temp_dir.h"
#include "ttap/ttap.h"

namespace {

using namespace ttap;

TEST(Knobs, RegistryDefaultsAreTheConfigurationDefaults) {
  session_config resolved;
  std::string error;
  ASSERT_TRUE(make_session_config(nullptr, nullptr, &resolved, &error)) << error;
  const session_config plain;
  const detector_config d;
  EXPECT_EQ(resolved.every, plain.every);
  EXPECT_EQ(resolved.interval_ms, plain.interval_ms);
  EXPECT_EQ(resolved.budget, plain.budget);
  EXPECT_EQ(resolved.backend, plain.backend);
  EXPECT_EQ(resolved.emulated_gbps, plain.emulated_gbps);
  EXPECT_EQ(resolved.flush_ms, plain.flush_ms);
  EXPECT_EQ(resolved.on_nonfinite, plain.on_nonfinite);
  EXPECT_EQ(resolved.on_spike, plain.on_spike);
  EXPECT_EQ(resolved.dump_max_mb, plain.dump_max_mb);
  EXPECT_EQ(resolved.dump_max, plain.dump_max);
  EXPECT_EQ(resolved.append, plain.append);
  EXPECT_EQ(resolved.alert_webhook, plain.alert_webhook);
  EXPECT_EQ(resolved.alert_webhook_timeout_ms, plain.alert_webhook_timeout_ms);
  EXPECT_EQ(resolved.detectors.spike_threshold, d.spike_threshold);
  EXPECT_EQ(resolved.detectors.spike_window, d.spike_window);
  EXPECT_EQ(resolved.detectors.spike_min_samples, d.spike_min_samples);
  EXPECT_EQ(resolved.detectors.loss_spike_threshold, d.loss_spike_threshold);
  EXPECT_EQ(resolved.detectors.vanishing_floor, d.vanishing_floor);
  EXPECT_EQ(resolved.detectors.vanishing_samples, d.vanishing_samples);
  EXPECT_EQ(resolved.detectors.fp8_underflow_threshold, d.fp8_underflow_threshold);
  EXPECT_EQ(resolved.detectors.fp8_overflow_threshold, d.fp8_overflow_threshold);
  EXPECT_EQ(resolved.detectors.group_min_ranks, d.group_min_ranks);
  EXPECT_EQ(resolved.detectors.outlier_threshold, d.outlier_threshold);
  EXPECT_EQ(resolved.detectors.outlier_min_scale, d.outlier_min_scale);
  EXPECT_EQ(resolved.detectors.straggler_threshold, d.straggler_threshold);
  EXPECT_EQ(resolved.detectors.straggler_min_scale, d.straggler_min_scale);
  EXPECT_EQ(resolved.detectors.straggler_min_excess_seconds, d.straggler_min_excess_seconds);
}

TEST(Knobs, EveryKnobIsDeclaredCompletelyAndItsDefaultParses) {
  for (const knob &k : knobs()) {
    SCOPED_TRACE(k.name);
    EXPECT_EQ(std::string(k.env).rfind("TTAP_", 0), 0u);
    EXPECT_GT(std::string(k.meaning).size(), 5u);
    EXPECT_EQ(find_knob(k.name), &k) << "names are unique";
    EXPECT_EQ(k.scope == knob_scope::session, k.apply != nullptr);
    knob_value v;
    std::string error;
    if (*k.default_value || k.type != knob_type::text) {
      EXPECT_TRUE(parse_knob(k, k.default_value, &v, &error)) << error;
    }
  }
}

TEST(Knobs, BadValuesAreRefusedWithTheKnobAndItsRange) {
  session_config c;
  std::string error;
  EXPECT_FALSE(make_session_config(nullptr, "every=0", &c, &error));
  EXPECT_EQ(error,
            "options: every=0 is out of range: every (TTAP_EVERY) takes an integer from 1 to "
            "1099511627776");
  EXPECT_FALSE(make_session_config(nullptr, "budget=lots", &c, &error));
  EXPECT_NE(error.find("budget=lots is not a number: budget (TTAP_BUDGET) takes a number from 0 "
                       "to 1"),
            std::string::npos)
      << error;
  EXPECT_FALSE(make_session_config(nullptr, "backend=tpu", &c, &error));
  EXPECT_NE(error.find("takes auto, cpu, emulated or cuda"), std::string::npos) << error;
  EXPECT_FALSE(make_session_config(nullptr, "emulated_gbps=0", &c, &error));
  EXPECT_NE(error.find("emulated_gbps=0 is out of range: emulated_gbps (TTAP_EMULATED_GBPS) takes "
                       "a number from 1e-06 to 1000000"),
            std::string::npos)
      << error;
  EXPECT_FALSE(make_session_config(nullptr, "emulated_gbps=2e6", &c, &error));
  EXPECT_NE(error.find("is out of range: emulated_gbps"), std::string::npos) << error;
  ASSERT_TRUE(make_session_config(nullptr, "emulated_gbps=0.5", &c, &error)) << error;
  EXPECT_EQ(c.emulated_gbps, 0.5);
  EXPECT_FALSE(make_session_config(nullptr, "spike_window=2", &c, &error));
  EXPECT_NE(error.find("spike_window (TTAP_SPIKE_WINDOW) takes an integer from 3 to 100000"),
            std::string::npos)
      << error;
  EXPECT_FALSE(make_session_config(nullptr, "every=12abc", &c, &error));
  EXPECT_NE(error.find("is not an integer"), std::string::npos) << error;
  EXPECT_FALSE(make_session_config(nullptr, "every=99999999999999999999999", &c, &error));
  EXPECT_NE(error.find("is not an integer"), std::string::npos) << error;
  EXPECT_FALSE(make_session_config(nullptr, "colour=blue", &c, &error));
  EXPECT_NE(error.find("unknown option 'colour' (known: every, "), std::string::npos) << error;
  EXPECT_FALSE(make_session_config(nullptr, "debug=INFO", &c, &error));
  EXPECT_NE(error.find("environment only (set TTAP_DEBUG)"), std::string::npos) << error;
  EXPECT_FALSE(make_session_config(nullptr, "replicated=a||b", &c, &error));
  EXPECT_NE(error.find("globs joined by '|'"), std::string::npos) << error;
}

TEST(Knobs, OptionsSetDetectorThresholdsAndAreRecordedForTheRun) {
  session_config c;
  std::string error;
  ASSERT_TRUE(make_session_config(
      nullptr, "spike_threshold=6.5,vanishing_samples=2,straggler_threshold=3,every=4", &c, &error))
      << error;
  EXPECT_EQ(c.detectors.spike_threshold, 6.5);
  EXPECT_EQ(c.detectors.vanishing_samples, 2);
  EXPECT_EQ(c.detectors.straggler_threshold, 3.0);
  EXPECT_EQ(c.every, 4);
  const std::string text = c.to_string();
  EXPECT_NE(text.find("every=4,"), std::string::npos) << text;
  EXPECT_NE(text.find("spike_threshold=6.5"), std::string::npos) << text;
  EXPECT_EQ(text.find("replicated="), std::string::npos) << "unset text knobs are left out";
}

TEST(Knobs, RunModeAndWebhookAreKnobsAndTheStoredTextHidesTheWebhookSecret) {
  session_config c;
  std::string error;
  ASSERT_TRUE(make_session_config(
      nullptr, "mode=append,alert_webhook=https://hooks.example.com/services/T/B/secret", &c,
      &error))
      << error;
  EXPECT_TRUE(c.append);
  EXPECT_EQ(c.alert_webhook, "https://hooks.example.com/services/T/B/secret");
  const std::string text = c.to_string();
  EXPECT_NE(text.find("mode=append"), std::string::npos) << text;
  EXPECT_NE(text.find("alert_webhook=https://hooks.example.com/..."), std::string::npos) << text;
  EXPECT_EQ(text.find("secret"), std::string::npos) << text;
  EXPECT_FALSE(make_session_config(nullptr, "mode=maybe", &c, &error));
  EXPECT_NE(error.find("mode (TTAP_MODE) takes new or append"), std::string::npos) << error;
  EXPECT_FALSE(make_session_config(nullptr, "alert_webhook=hooks.example.com", &c, &error));
  EXPECT_NE(error.find("an http:// or https:// URL"), std::string::npos) << error;
  EXPECT_FALSE(make_session_config(nullptr, "alert_webhook_timeout_ms=0", &c, &error));
  EXPECT_NE(error.find("from 1 to 3600000"), std::string::npos) << error;
}

TEST(Knobs, AProcessKnobWithABadValueFallsBackToItsDefault) {
  // Not read before in this process: the environment is cached on first read.
  ::setenv("TTAP_FLIGHT_ENTRIES", "3", 1);
  EXPECT_EQ(process_knob("flight_entries").integer, 1024);
  ::setenv("TTAP_HOOKS_RECV", "1", 1);
  EXPECT_EQ(process_knob("hooks_recv").integer, 1);
  EXPECT_EQ(process_knob("step_range").text, "");
  ::setenv("TTAP_HOOKS_MIN_ELEMENTS", "-1", 1);
  EXPECT_EQ(process_knob("hooks_min_elements").integer, 4096);
  ::setenv("TTAP_HOOKS_GRAD", "mpi.allreduce.*", 1);
  EXPECT_EQ(process_knob("hooks_grad").text, "mpi.allreduce.*");
}

// A threshold knob changes what a session's detector says: two all-zero gradient samples are a
// vanishing gradient with vanishing_samples=2, not yet with the default of 5.
int vanishing_alerts(const char *options) {
  ttap::testing::temp_dir dir;
  ttap_session *s = nullptr;
  EXPECT_EQ(ttap_open(dir.path.c_str(), options, &s), TTAP_OK) << ttap_last_error();
  if (!s) return -1;
  std::vector<float> zeros(64, 0.0f);
  int32_t h;
  EXPECT_EQ(ttap_watch(s, "w.grad", zeros.data(), TTAP_F32, zeros.size(), TTAP_GRAD, &h), TTAP_OK);
  for (int step = 0; step < 3; ++step) EXPECT_EQ(ttap_step(s, step, nullptr), TTAP_OK);
  EXPECT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();
  return int(
      ttap::testing::query(dir.path, "select 1 from alerts_v where type = 'vanishing'").size());
}

TEST(Knobs, DetectorThresholdsReachTheSessionsDetectors) {
  EXPECT_EQ(vanishing_alerts("backend=cpu,budget=0"), 0);
  EXPECT_EQ(vanishing_alerts("backend=cpu,budget=0,vanishing_samples=2"), 1);
}

}  // namespace
