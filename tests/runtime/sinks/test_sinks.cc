// The sinks one by one: the fan-out's order and failure reporting, the store sink (and a store
// that fails), the JSONL stream's lines, the response sink (abort's action and exit, a dump
// written and its action, the training thread's alert inbox), and a session writing jsonl=PATH
// end to end, with and without a store.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/config.h"
#include "runtime/response/forensic_dump.h"
#include "runtime/sinks/alert_printer.h"
#include "runtime/sinks/sink.h"
#include "runtime/store/store_files.h"
#include "tests/runtime/store_query.h"
#include "tests/temp_dir.h"
#include "ttap/ttap.h"

namespace {

using namespace ttap;
using ttap::testing::temp_dir;

// Records the calls it gets into a shared log.
class logging_sink final : public sink {
 public:
  logging_sink(std::string tag, std::vector<std::string> *log, bool healthy = true)
      : m_tag(std::move(tag)), m_log(log), m_healthy(healthy) {}
  const char *name() const override { return m_tag.c_str(); }
  void on_alert(const alert &a) override { m_log->push_back(m_tag + ":alert:" + a.message); }
  void on_action(const action_record &a) override {
    m_log->push_back(m_tag + ":action:" + action_kind_name(a.action) + ":" + a.reason + ":" +
                     std::to_string(a.step) + ":" + a.detail);
  }
  void flush(const run_counters &c, bool now) override {
    m_log->push_back(m_tag + ":flush:" + std::to_string(c.alerts_suppressed) + (now ? "!" : ""));
  }
  // Said on stderr: the death tests below see it only in the child's output.
  void before_exit() override { std::fprintf(stderr, "%s:before_exit\n", m_tag.c_str()); }
  void count(run_counters &c) const override { c.alerts_suppressed += 1; }
  bool healthy(std::string *why) const override {
    if (!m_healthy) *why = m_tag + " broke";
    return m_healthy;
  }

 private:
  std::string m_tag;
  std::vector<std::string> *m_log;
  bool m_healthy;
};

alert make_alert(alert_type type, const char *message, int64_t step = 3) {
  alert a;
  a.step = step;
  a.tensor_id = 0;
  a.tensor = "w.grad";
  a.type = type;
  a.message = message;
  return a;
}

sample_record make_record(int32_t id, int64_t step, float value) {
  sample_record r;
  r.tensor_id = id;
  r.step = step;
  r.sample_size = 1;
  summary_clear(r.stats);
  r.stats.count = 4;
  r.stats.min = r.stats.max = r.stats.abs_max = value;
  r.stats.sum = 4 * value;
  r.stats.sum_abs = 4 * std::fabs(value);
  r.stats.sum_sq = 4 * value * value;
  return r;
}

TEST(SinkFanout, HandsEverythingToEverySinkInOrderAndReportsTheFirstFailure) {
  std::vector<std::string> log;
  sink_fanout fanout;
  fanout.add(std::make_unique<logging_sink>("a", &log));
  fanout.add(std::make_unique<logging_sink>("b", &log, false));
  fanout.add(std::make_unique<logging_sink>("c", &log, false));
  fanout.on_alert(make_alert(alert_type::spike, "x"));
  run_counters c;
  fanout.count(c);
  EXPECT_EQ(c.alerts_suppressed, 3u);
  fanout.flush(c, true);
  EXPECT_EQ(log, (std::vector<std::string>{"a:alert:x", "b:alert:x", "c:alert:x", "a:flush:3!",
                                           "b:flush:3!", "c:flush:3!"}));
  std::string why;
  EXPECT_FALSE(fanout.healthy(&why));
  EXPECT_EQ(why, "b broke");
}

run_info info_for(const std::string &dir) {
  run_info info;
  info.run_dir = dir;
  info.version = "test";
  return info;
}

TEST(StoreSink, WritesWhatItIsHandedAndCommitsAtFlush) {
  temp_dir dir;
  std::string error;
  auto st = store::open(info_for(dir.path), &error);
  ASSERT_TRUE(st) << error;
  auto s = make_store_sink(std::move(st));
  tensor_info t;
  t.id = 0;
  t.name = "w.grad";
  t.numel = 4;
  s->on_tensor(t);
  std::vector<sample_record> records{make_record(0, 3, 2.0f)};
  s->on_records(records, nullptr);
  s->on_alert(make_alert(alert_type::spike, "spike in w.grad"));
  run_counters c;
  c.samples_taken = 7;
  s->flush(c, false);
  EXPECT_EQ(ttap::testing::query(dir.path, "select step, tensor, l2 from samples_v"),
            (std::vector<std::vector<std::string>>{{"3", "w.grad", "4.0"}}));
  EXPECT_EQ(ttap::testing::query(dir.path, "select message from alerts_v").size(), 1u);
  EXPECT_TRUE(s->healthy(&error));
}

// A store whose commits fail while `full` is set (a full disk, say), as the SQLite store's do: it
// keeps the rows and retries at the next commit.
class failing_store final : public store {
 public:
  explicit failing_store(const bool *full) : m_full(full) {}
  bool add_tensor(const tensor_info &) override { return true; }
  bool add_samples(std::span<const sample_record>) override { return true; }
  bool add_scalar(const scalar_record &) override { return true; }
  bool add_alert(const alert &) override { return true; }
  bool add_action(const action_record &) override { return true; }
  bool set_counters(const run_counters &) override { return true; }
  bool set_group(const group_info &) override { return true; }
  bool add_group_sample(const group_sample &) override { return true; }
  bool commit(bool) override { return !*m_full; }
  bool close() override { return !*m_full; }
  const std::string &last_error() const override { return m_error; }
  const std::string &path() const override { return m_path; }
  uint64_t size_bytes() const override { return 0; }

 private:
  const bool *m_full;
  std::string m_error = "database or disk is full";
  std::string m_path = "ttap.db";
};

TEST(StoreSink, AFailingCommitIsReportedUntilACommitSucceedsAgain) {
  bool full = true;
  auto s = make_store_sink(std::make_unique<failing_store>(&full));
  std::vector<sample_record> records{make_record(0, 1, 1.0f)};
  s->on_records(records, nullptr);
  s->on_alert(make_alert(alert_type::nonfinite, "NaN"));
  std::string why;
  EXPECT_TRUE(s->healthy(&why)) << "nothing failed before the flush";
  s->flush(run_counters{}, true);
  EXPECT_FALSE(s->healthy(&why));
  EXPECT_EQ(why, "commit: database or disk is full");
  full = false;  // space freed: the store's retry succeeds
  s->flush(run_counters{}, false);
  EXPECT_TRUE(s->healthy(&why)) << why;
  full = true;
  s->close();
  EXPECT_FALSE(s->healthy(&why));
  EXPECT_EQ(why, "closing the store: database or disk is full");
}

std::vector<nlohmann::json> read_lines(const std::string &path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(JsonlSink, OneLinePerRecordScalarAndAlertFlushedAtEachFlush) {
  temp_dir dir;
  const std::string path = dir.path + "/out.jsonl";
  std::string error;
  auto s = make_jsonl_sink(path, &error);
  ASSERT_TRUE(s) << error;
  tensor_info t;
  t.id = 0;
  t.name = "w.grad";
  t.kind = tensor_kind::grad;
  t.type = dtype::bf16;
  s->on_tensor(t);
  sample_record nan_record = make_record(0, 5, 3.0f);
  nan_record.stats.nan = 1;
  std::vector<sample_record> records{make_record(0, 4, 3.0f), nan_record};
  s->on_records(records, nullptr);
  scalar_record loss;
  loss.step = 5;
  loss.name = "loss";
  loss.value = std::nan("");
  s->on_scalar(loss);
  s->on_alert(make_alert(alert_type::nonfinite, "NaN in w.grad", 5));
  EXPECT_TRUE(read_lines(path).empty()) << "buffered until the flush";
  s->flush(run_counters{}, false);
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["record"], "sample");
  EXPECT_EQ(lines[0]["tensor"], "w.grad");
  EXPECT_EQ(lines[0]["kind"], "grad");
  EXPECT_EQ(lines[0]["dtype"], "BF16");
  EXPECT_EQ(lines[0]["step"], 4);
  EXPECT_DOUBLE_EQ(lines[0]["l2"].get<double>(), 6.0);
  EXPECT_EQ(lines[1]["nan"], 1);
  EXPECT_EQ(lines[2]["record"], "scalar");
  EXPECT_TRUE(lines[2]["value"].is_null()) << "NaN has no JSON spelling";
  EXPECT_EQ(lines[3]["record"], "alert");
  EXPECT_EQ(lines[3]["type"], "nonfinite");
  EXPECT_EQ(lines[3]["message"], "NaN in w.grad");
  EXPECT_TRUE(s->healthy(&error));
}

TEST(JsonlSink, APathThatCannotBeOpenedIsRefusedWithItsReason) {
  std::string error;
  EXPECT_FALSE(make_jsonl_sink("/proc/no-such-dir/x.jsonl", &error));
  EXPECT_NE(error.find("jsonl=/proc/no-such-dir/x.jsonl: cannot open for writing"),
            std::string::npos)
      << error;
}

TEST(ResponseSink, AbortRecordsItsActionAndExitsWithStatus3AtTheFlushAfterTheAlert) {
  session_config c;
  c.on_nonfinite.abort = true;
  std::vector<std::string> log;
  logging_sink others("webhook", &log);
  auto policy = make_response_sink(c, &others, nullptr);
  policy->on_alert(make_alert(alert_type::spike, "spike"));
  policy->flush(run_counters{}, false);  // not a non-finite alert: goes on
  EXPECT_TRUE(log.empty());
  policy->on_alert(make_alert(alert_type::nonfinite, "NaN", 7));
  // The abort reaches the other sinks (the store) as an action before the flush that ends it.
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0], "webhook:action:abort:nonfinite:7:w.grad");
  // The other sinks hand on what they hold (the webhook its queue) before the process ends.
  EXPECT_EXIT(policy->flush(run_counters{}, true), ::testing::ExitedWithCode(3),
              "webhook:before_exit\n.*on_nonfinite=abort: stopping the process");
  c.on_nonfinite = response_policy{};
  auto warn = make_response_sink(c, &others, nullptr);
  warn->on_alert(make_alert(alert_type::nonfinite, "NaN"));
  warn->flush(run_counters{}, true);
  EXPECT_EQ(log.size(), 1u) << "warn records no action and does not exit";
}

TEST(ResponseSink, PutsEveryAlertIntoTheTrainingThreadsInbox) {
  session_config c;
  auto inbox = std::make_shared<alert_inbox>();
  auto policy = make_response_sink(c, nullptr, inbox);
  policy->on_alert(make_alert(alert_type::spike, "first", 1));
  policy->on_alert(make_alert(alert_type::nonfinite, "second", 2));
  alert a;
  ASSERT_TRUE(inbox->take(&a));
  EXPECT_EQ(a.message, "first");
  ASSERT_TRUE(inbox->take(&a));
  EXPECT_EQ(a.step, 2);
  EXPECT_FALSE(inbox->take(&a));
  for (size_t i = 0; i < alert_inbox::kMaxAlerts + 5; ++i)
    policy->on_alert(make_alert(alert_type::spike, "s", int64_t(i)));
  ASSERT_TRUE(inbox->take(&a));
  EXPECT_EQ(a.step, 5) << "the latest kMaxAlerts are kept";
}

TEST(ResponseSink, WritesADumpAndHandsOnItsActionOrWhyItFailed) {
  temp_dir dir;
  session_config c;
  c.run_dir = dir.path;
  std::vector<std::string> log;
  logging_sink others("store", &log);
  auto policy = make_response_sink(c, &others, nullptr);
  dump_contents d;
  d.step = 12;
  d.rank = 0;
  d.reason = "nonfinite";
  dump_tensor t;
  t.name = "w.grad";
  t.why = "nonfinite";
  t.shape = {2};
  t.bytes.assign(8, 0);
  d.tensors.push_back(t);
  policy->on_dump(d);
  const std::string where = dump_directory(dir.path, 12, 0);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0], "store:action:dump:nonfinite:12:" + where);
  EXPECT_TRUE(std::filesystem::exists(where + "/tensors.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(where + "/summaries.json"));
  // A run directory where nothing can be created: the action says why, and nothing throws.
  c.run_dir = "/proc/no-such-dir";
  auto failing = make_response_sink(c, &others, nullptr);
  failing->on_dump(d);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[1].find("store:action:dump:nonfinite:12:failed: "), std::string::npos) << log[1];
}

TEST(AlertPrinterSink, CountsSuppressedLinesIntoTheRunCounters) {
  alert_printer printer(nullptr);
  run_counters c;
  printer.count(c);
  EXPECT_EQ(c.alerts_suppressed, 0u);
  std::FILE *sink_file = std::tmpfile();
  alert_printer limited(sink_file, 0, 1, alert_rate_limit{1.0, 2.0});
  for (int i = 0; i < 5; ++i) limited.print(make_alert(alert_type::spike, "s", i), 100.0);
  limited.count(c);
  EXPECT_EQ(c.alerts_suppressed, 3u);
  std::fclose(sink_file);
}

// A session writing jsonl=PATH into a fresh directory: a 16-element fp32 gradient `w`, finite at
// step 0 and with a NaN at step 1. The tests differ in the store knob and what they ask after.
class JsonlSession : public ::testing::Test {
 protected:
  void open_and_take_two_steps(const std::string &options) {
    ASSERT_EQ(ttap_open(run.c_str(), (options + ",jsonl=" + path).c_str(), &s), TTAP_OK)
        << ttap_last_error();
    int32_t h;
    ASSERT_EQ(ttap_watch(s, "w", w.data(), TTAP_F32, w.size(), TTAP_GRAD, &h), TTAP_OK);
    ASSERT_EQ(ttap_step(s, 0, nullptr), TTAP_OK);
    w[3] = std::nanf("");
    ASSERT_EQ(ttap_step(s, 1, nullptr), TTAP_OK);
  }

  // How many lines of the stream are of `record` ("sample", "scalar", "alert").
  int lines_of(const char *record) const {
    int n = 0;
    for (const auto &line : read_lines(path)) n += line["record"] == record;
    return n;
  }

  temp_dir dir;
  const std::string path = dir.path + "/run.jsonl";
  const std::string run = dir.path + "/run";
  ttap_session *s = nullptr;
  std::vector<float> w = std::vector<float>(16, 1.0f);
};

TEST_F(JsonlSession, StreamsItsSamplesScalarsAndAlerts) {
  ASSERT_NO_FATAL_FAILURE(open_and_take_two_steps("backend=cpu,budget=0"));
  ASSERT_EQ(ttap_log_scalar(s, "loss", 0.5, 1), TTAP_OK);
  ASSERT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();
  for (const auto &line : read_lines(path)) {
    if (line["record"] != "alert") continue;
    EXPECT_EQ(line["type"], "nonfinite");
    EXPECT_EQ(line["step"], 1);
  }
  EXPECT_EQ(lines_of("sample"), 2);
  EXPECT_EQ(lines_of("scalar"), 1);
  EXPECT_EQ(lines_of("alert"), 1);
  EXPECT_EQ(ttap_open((dir.path + "/run2").c_str(), "jsonl=/proc/nope/x", &s), TTAP_ERR_IO);
  EXPECT_NE(std::string(ttap_last_error()).find("jsonl=/proc/nope/x"), std::string::npos);
}

// store=off: no store file in the run directory, and the other sinks get everything: the JSONL
// stream its samples and the alert, the training thread the alert (ttap_next_alert).
TEST_F(JsonlSession, WithoutAStoreStreamsAndHandsOnItsAlerts) {
  ASSERT_NO_FATAL_FAILURE(open_and_take_two_steps("backend=cpu,budget=0,store=off"));
  ASSERT_EQ(ttap_flush(s), TTAP_OK) << ttap_last_error();
  ttap_alert_t a;
  int32_t has_alert = 0;
  ASSERT_EQ(ttap_next_alert(s, &a, &has_alert), TTAP_OK);
  ASSERT_EQ(has_alert, 1);
  EXPECT_STREQ(a.type, "nonfinite");
  EXPECT_STREQ(a.tensor, "w");
  EXPECT_EQ(a.step, 1);
  ASSERT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();
  std::vector<store_file> files;
  std::string error;
  ASSERT_TRUE(list_store_files(run, &files, &error)) << error;
  EXPECT_TRUE(files.empty()) << files.front().path;
  EXPECT_EQ(lines_of("sample"), 2);
  EXPECT_EQ(lines_of("alert"), 1);
}

}  // namespace
