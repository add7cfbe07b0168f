// The webhook sink against a local receiver: the JSON it posts, the per-type rate limit, the bound
// on its queue, retries and refusals, one warning for a dead receiver, finish() bounded by the
// timeout when the receiver never answers, and the alert_webhook knob through the C API.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/http_receiver.h"
#include "runtime/sinks/webhook_sink.h"
#include "tests/temp_dir.h"
#include "ttap/ttap.h"

namespace ttap {
namespace {

using json = nlohmann::json;

std::unique_ptr<http_receiver> receiver(http_receiver::options o = {}) {
  std::string error;
  auto r = http_receiver::start(o, &error);
  EXPECT_TRUE(r) << error;
  return r;
}

alert make_alert(alert_type type, int64_t step, const std::string &tensor) {
  alert a;
  a.type = type;
  a.step = step;
  a.rank = 0;
  a.time = 1700000000.5;
  a.tensor = tensor;
  a.message = std::string(alert_type_name(type)) + " in " + tensor;
  return a;
}

// Captures what the sink logs (its one warning and its summary line).
struct captured_log {
  FILE *file = std::tmpfile();
  ~captured_log() { std::fclose(file); }
  std::string text() const {
    std::fflush(file);
    std::rewind(file);
    std::string s;
    char buf[512];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) s.append(buf, n);
    return s;
  }
};

size_t count_of(const std::string &haystack, const std::string &needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

webhook_options options_for(const std::string &url, FILE *log) {
  webhook_options o;
  o.url = url;
  o.run = "run-7";
  o.host = "node3";
  o.rank = 0;
  o.log = log;
  o.timeout_s = 2.0;
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(WebhookSink, PostsEachAlertAsJsonWithSlackText) {
  auto r = receiver();
  captured_log log;
  std::string error;
  auto sink = webhook_sink::start(options_for(r->url(), log.file), &error);
  ASSERT_TRUE(sink) << error;
  sink->offer(make_alert(alert_type::nonfinite, 200, "fc1.weight.grad"));
  sink->offer(make_alert(alert_type::loss_spike, 201, "loss"));
  const webhook_counts c = sink->finish();
  EXPECT_EQ(c.delivered, 2u);
  EXPECT_EQ(c.failed + c.dropped + c.suppressed, 0u);
  auto bodies = r->bodies();
  ASSERT_EQ(bodies.size(), 2u);
  json j = json::parse(bodies[0]);
  EXPECT_EQ(j["run"], "run-7");
  EXPECT_EQ(j["host"], "node3");
  EXPECT_EQ(j["rank"], 0);
  EXPECT_EQ(j["step"], 200);
  EXPECT_EQ(j["type"], "nonfinite");
  EXPECT_EQ(j["tensor"], "fc1.weight.grad");
  EXPECT_EQ(j["message"], "nonfinite in fc1.weight.grad");
  EXPECT_EQ(j["text"], "ttap run-7 on node3: step 200: nonfinite in fc1.weight.grad");
  EXPECT_EQ(json::parse(bodies[1])["type"], "loss_spike");
  EXPECT_NE(log.text().find("ttap: alert webhook http://127.0.0.1:" + std::to_string(r->port()) +
                            "/...: 2 delivered, 0 suppressed"),
            std::string::npos)
      << log.text();
}

TEST(WebhookSink, InvalidUtf8InANameIsReplacedNotFatal) {
  webhook_options o = options_for("http://127.0.0.1:9/", nullptr);
  std::string error;
  auto sink = webhook_sink::start(o, &error);
  ASSERT_TRUE(sink) << error;
  std::string body = sink->payload(make_alert(alert_type::spike, 1, "bad\xff\xfename"), 0);
  EXPECT_NO_THROW(json::parse(body));
  EXPECT_EQ(json::parse(body)["tensor"], "bad\xEF\xBF\xBD\xEF\xBF\xBDname");
}

TEST(WebhookSink, RateLimitIsPerTypeAndReportsWhatWasHeldBack) {
  auto r = receiver();
  captured_log log;
  webhook_options o = options_for(r->url(), log.file);
  o.limit.burst = 3;
  o.limit.lines_per_second = 1;
  o.queue_capacity = 1000;
  std::string error;
  auto sink = webhook_sink::start(o, &error);
  ASSERT_TRUE(sink) << error;
  // 20 spikes at one instant: a burst of 3 goes out, 17 are suppressed; a divergence alert at the
  // same instant has its own bucket.
  for (int i = 0; i < 20; ++i) sink->offer(make_alert(alert_type::spike, i, "t"), 100.0);
  sink->offer(make_alert(alert_type::divergence, 20, "w"), 100.0);
  // Two seconds later the spike bucket holds two tokens again; the first spike sent then says how
  // many were held back before it.
  sink->offer(make_alert(alert_type::spike, 30, "t"), 102.0);
  const webhook_counts c = sink->finish();
  EXPECT_EQ(c.offered, 22u);
  EXPECT_EQ(c.suppressed, 17u);
  EXPECT_EQ(c.delivered, 5u);
  auto bodies = r->bodies();
  ASSERT_EQ(bodies.size(), 5u);
  int divergence = 0;
  bool reported = false;
  for (const auto &b : bodies) {
    json j = json::parse(b);
    divergence += j["type"] == "divergence";
    if (j["step"] == 30) {
      EXPECT_EQ(j["suppressed_before"], 17);
      EXPECT_NE(j["text"].get<std::string>().find("17 earlier spike alerts not sent"),
                std::string::npos);
      reported = true;
    }
  }
  EXPECT_EQ(divergence, 1);
  EXPECT_TRUE(reported);
}

TEST(WebhookSink, FirstNonFiniteOfAStepIsNeverSuppressed) {
  auto r = receiver();
  webhook_options o = options_for(r->url(), nullptr);
  o.limit.burst = 1;
  o.limit.lines_per_second = 0;
  std::string error;
  auto sink = webhook_sink::start(o, &error);
  ASSERT_TRUE(sink) << error;
  sink->offer(make_alert(alert_type::nonfinite, 5, "a"), 1.0);  // the token
  sink->offer(make_alert(alert_type::nonfinite, 5, "b"), 1.0);  // same step: suppressed
  sink->offer(make_alert(alert_type::nonfinite, 6, "c"), 1.0);  // a new step: exempt
  const webhook_counts c = sink->finish();
  EXPECT_EQ(c.delivered, 2u);
  EXPECT_EQ(c.suppressed, 1u);
}

TEST(WebhookSink, QueueIsBoundedAndDropsAreCounted) {
  // A receiver that holds the first request: the sender is stuck on it, so exactly the queue's
  // capacity waits and everything else offered is dropped, however slow this machine is.
  http_receiver::options holding;
  holding.answer = false;
  auto r = receiver(holding);
  webhook_options o = options_for(r->url(), nullptr);
  o.queue_capacity = 4;
  o.limit.burst = 1e9;  // only the queue decides here
  o.timeout_s = 3.0;    // far longer than the offers below take
  o.attempts = 1;
  std::string error;
  auto sink = webhook_sink::start(o, &error);
  ASSERT_TRUE(sink) << error;
  sink->offer(make_alert(alert_type::spike, 0, "t"));
  // The first one is in flight once the receiver has read it.
  for (int i = 0; i < 400 && r->requests() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(r->requests(), 1u);
  for (int i = 1; i < 200; ++i) sink->offer(make_alert(alert_type::spike, i, "t"));
  const webhook_counts before = sink->counts();
  EXPECT_EQ(before.peak_queue, 4u);
  EXPECT_EQ(before.dropped, 200u - 1u - 4u);
  const webhook_counts c = sink->finish();
  EXPECT_EQ(c.offered, 200u);
  EXPECT_EQ(c.delivered, 0u);
  EXPECT_EQ(c.dropped + c.failed, 200u);
}

TEST(WebhookSink, NeverAnsweringReceiverCostsOneWarningAndCloseKeepsItsTimeout) {
  http_receiver::options dead;
  dead.answer = false;
  auto r = receiver(dead);
  captured_log log;
  webhook_options o = options_for(r->url(), log.file);
  o.timeout_s = 0.5;
  o.backoff_s = 0.05;
  o.limit.burst = 1e9;
  std::string error;
  auto sink = webhook_sink::start(o, &error);
  ASSERT_TRUE(sink) << error;
  for (int i = 0; i < 50; ++i) sink->offer(make_alert(alert_type::spike, i, "t"));
  // Until the first alert's three attempts have timed out (the warning), then close. Waited for,
  // not slept: 2 s was too short under ASan at a load average of 12 on two cores.
  for (int i = 0; i < 6000 && sink->counts().failed == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = std::chrono::steady_clock::now();
  const webhook_counts c = sink->finish();
  const double close_s = seconds_since(t0);
  // The configured 0.5 s, plus scheduling slack on a loaded machine.
  EXPECT_LT(close_s, 0.5 + 1.0) << close_s;
  EXPECT_EQ(c.delivered, 0u);
  EXPECT_EQ(c.failed + c.dropped, 50u);
  EXPECT_GE(c.failed, 1u);
  const std::string text = log.text();
  EXPECT_EQ(count_of(text, "cannot deliver"), 1u) << text;
  EXPECT_NE(text.find("0 delivered"), std::string::npos) << text;
}

TEST(WebhookSink, UnreachableUrlWarnsOnceAndCountsFailures) {
  // A port that was just free: nothing listens there.
  int port;
  {
    auto r = receiver();
    port = r->port();
  }
  captured_log log;
  webhook_options o = options_for("http://127.0.0.1:" + std::to_string(port) + "/x", log.file);
  o.backoff_s = 0.01;
  std::string error;
  auto sink = webhook_sink::start(o, &error);
  ASSERT_TRUE(sink) << error;
  for (int i = 0; i < 5; ++i) sink->offer(make_alert(alert_type::spike, i, "t"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const webhook_counts c = sink->finish();
  EXPECT_EQ(c.delivered, 0u);
  EXPECT_EQ(c.failed + c.dropped, 5u);
  EXPECT_EQ(count_of(log.text(), "cannot deliver"), 1u) << log.text();
}

TEST(WebhookSink, ServerErrorsAreRetriedRefusalsAreNot) {
  http_receiver::options failing;
  failing.status = 503;
  auto r503 = receiver(failing);
  webhook_options o = options_for(r503->url(), nullptr);
  o.attempts = 3;
  o.backoff_s = 0.01;
  std::string error;
  auto sink = webhook_sink::start(o, &error);
  ASSERT_TRUE(sink) << error;
  sink->offer(make_alert(alert_type::spike, 1, "t"));
  webhook_counts c = sink->finish();
  EXPECT_EQ(c.failed, 1u);
  EXPECT_EQ(r503->requests(), 3u);

  http_receiver::options refusing;
  refusing.status = 400;
  auto r400 = receiver(refusing);
  sink = webhook_sink::start(options_for(r400->url(), nullptr), &error);
  ASSERT_TRUE(sink) << error;
  sink->offer(make_alert(alert_type::spike, 1, "t"));
  c = sink->finish();
  EXPECT_EQ(c.failed, 1u);
  EXPECT_EQ(r400->requests(), 1u);
}

TEST(WebhookSink, RejectsWhatIsNotAnHttpUrl) {
  std::string error;
  for (const char *bad : {"ftp://x/y", "127.0.0.1:80", "", "http://a b/"}) {
    webhook_options o = options_for(bad, nullptr);
    EXPECT_FALSE(webhook_sink::start(o, &error)) << bad;
    EXPECT_NE(error.find("alert_webhook"), std::string::npos) << error;
  }
}

TEST(WebhookSink, LogLinesNeverShowTheUrlsSecret) {
  EXPECT_EQ(redacted_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/...");
  EXPECT_EQ(redacted_url("http://user:pw@host:8080/"), "http://host:8080");
  EXPECT_EQ(redacted_url("http://host:8080"), "http://host:8080");
}

// ---- through the C API: the alert_webhook knob ----

TEST(WebhookKnob, ANaNInAWatchedTensorReachesTheReceiver) {
  auto r = receiver();
  ttap::testing::temp_dir dir;
  ttap_session *s = nullptr;
  const std::string options = "budget=0,alert_webhook=" + r->url();
  ASSERT_EQ(ttap_open(dir.path.c_str(), options.c_str(), &s), TTAP_OK) << ttap_last_error();
  std::vector<float> w(64, 1.0f);
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "layer0.weight.grad", w.data(), TTAP_F32, w.size(), TTAP_GRAD, &h),
            TTAP_OK);
  for (int64_t step = 0; step < 5; ++step) {
    if (step == 3) w[7] = std::nanf("");
    ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK);
  }
  ASSERT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();
  auto bodies = r->bodies();
  ASSERT_GE(bodies.size(), 1u);
  json j = json::parse(bodies[0]);
  EXPECT_EQ(j["type"], "nonfinite");
  EXPECT_EQ(j["step"], 3);
  EXPECT_EQ(j["tensor"], "layer0.weight.grad");
  EXPECT_EQ(j["run"], std::filesystem::path(dir.path).filename().string());
}

TEST(WebhookKnob, OnNonfiniteAbortSendsTheAlertBeforeTheProcessStops) {
  auto r = receiver();
  ttap::testing::temp_dir dir;
  const std::string options = "budget=0,on_nonfinite=abort,alert_webhook=" + r->url();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The trainer: a NaN at step 2 ends it with status 3 from the collector thread.
    ttap_session *s = nullptr;
    if (ttap_open(dir.path.c_str(), options.c_str(), &s) != TTAP_OK) _exit(100);
    std::vector<float> w(16, 1.0f);
    int32_t h;
    ttap_watch(s, "w.grad", w.data(), TTAP_F32, w.size(), TTAP_GRAD, &h);
    for (int64_t step = 0; step < 1000; ++step) {
      if (step == 2) w[3] = std::nanf("");
      ttap_step(s, step, nullptr);
      usleep(10000);
    }
    _exit(101);  // not reached: the abort came first
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  auto bodies = r->bodies();
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(json::parse(bodies[0])["tensor"], "w.grad");
}

TEST(WebhookKnob, ABadUrlIsRefusedAtOpen) {
  ttap::testing::temp_dir dir;
  ttap_session *s = nullptr;
  EXPECT_EQ(ttap_open(dir.path.c_str(), "alert_webhook=hooks.example.com", &s),
            TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ttap_last_error()).find("alert_webhook"), std::string::npos)
      << ttap_last_error();
  EXPECT_EQ(ttap_open(dir.path.c_str(), "alert_webhook_timeout_ms=0", &s),
            TTAP_ERR_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace ttap
