// `ttap report` end to end on runs written through the C API: the text report (NaN alert first,
// table rows), the JSON document against values recomputed here, a run without samples, a run
// still being written, and every way the directory can be wrong (exit 2, one line on stderr).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "runtime/store/store.h"
#include "tests/tools/report/report_test_support.h"

namespace ttap::test {
namespace {

// The line of a text table whose first cell (after the indent) is `name`.
std::string row_of(const std::string &text, const std::string &name) {
  for (const auto &line : lines_of(text)) {
    std::istringstream in(line);
    std::string first;
    in >> first;
    if (first == name) return line;
  }
  return "";
}

std::vector<std::string> cells_of(const std::string &line) {
  std::istringstream in(line);
  std::vector<std::string> cells;
  for (std::string c; in >> c;) cells.push_back(c);
  return cells;
}

TEST(ReportCommand, TextReportPutsTheNanFirstAndListsEveryTensor) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run(run);
  const tool_run r = run_ttap({"report", run}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string &out = r.out;
  EXPECT_TRUE(contains(out, "ttap report  " + run)) << out;
  EXPECT_TRUE(contains(out, "latest step 29")) << out;
  EXPECT_TRUE(contains(out, "\noptions   ") && contains(out, "budget=0,backend=cpu")) << out;

  // The first alert row is the NaN: step, rank, type, tensor.
  const auto lines = lines_of(out);
  size_t header = 0;
  while (header < lines.size() && lines[header].rfind("  step  rank  type", 0) != 0) ++header;
  ASSERT_LT(header + 1, lines.size()) << out;
  const auto first = cells_of(lines[header + 1]);
  ASSERT_GE(first.size(), 4u) << lines[header + 1];
  EXPECT_EQ(first[0], std::to_string(kNanStep));
  EXPECT_EQ(first[1], "0");
  EXPECT_EQ(first[2], "nonfinite!");
  EXPECT_EQ(first[3], kNanTensor);
  EXPECT_TRUE(contains(lines[header + 1], "first non-finite value in this run")) << out;

  // Table rows: name kind dtype samples steps last-l2 max-l2 at-step min max nan/inf e4m3.
  const auto mlp = cells_of(row_of(out, kNanTensor));
  ASSERT_EQ(mlp.size(), 12u) << out;
  EXPECT_EQ(mlp[1], "grad");
  EXPECT_EQ(mlp[2], "F32");
  EXPECT_EQ(mlp[3], std::to_string(kSteps));
  EXPECT_EQ(mlp[4], "0-" + std::to_string(kSteps - 1));
  EXPECT_EQ(mlp[7], std::to_string(kSteps - 1));  // norms grow with the step: max at the last
  EXPECT_EQ(mlp[10], "1!");                       // one NaN element in one sample
  const auto act = cells_of(row_of(out, kActTensor));
  ASSERT_EQ(act.size(), 12u) << out;
  EXPECT_EQ(act[1], "activation");
  EXPECT_EQ(act[2], "BF16");
  EXPECT_EQ(act[10], "0");
  EXPECT_EQ(act[11], "0/25!");  // a quarter of the values (1024) overflow e4m3
  const auto param = cells_of(row_of(out, kParamTensor));
  ASSERT_EQ(param.size(), 12u) << out;
  EXPECT_EQ(param[8], "0.01");  // min
  EXPECT_EQ(param[9], "0.07");  // max
  EXPECT_FALSE(row_of(out, kAttnGrad).empty()) << out;

  EXPECT_TRUE(contains(out, "\noverhead  ")) << out;
  EXPECT_TRUE(contains(out, "counts    " + std::to_string(kSteps) + " samples taken, 0 skipped"))
      << out;
  EXPECT_TRUE(contains(out, "! marks")) << out;
  EXPECT_FALSE(contains(out, "\x1b[")) << "no color into a file";
}

TEST(ReportCommand, GroupRunNamesItsGroupAndListsItsRanks) {
  temp_dir dir;
  const std::string run = dir.path("run");
  {
    run_writer w(run, 1000, "single");
    for (int64_t s = 0; s < kSteps; ++s) w.step(s);
    w.close();
  }
  tool_run r = run_ttap({"report", run}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\ngroup     single, 1 rank; rank 0 stored the merged samples"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "\nranks     1 (" + std::to_string(kSteps) + " group samples;"))
      << r.out;
  // rank, samples, absent, step s, last grad l2, nan/inf (the planted NaN), group alerts.
  const auto lines = lines_of(r.out);
  size_t header = 0;
  while (header < lines.size() && lines[header].rfind("  rank  samples  absent", 0) != 0) ++header;
  ASSERT_LT(header + 1, lines.size()) << r.out;
  const auto row = cells_of(lines[header + 1]);
  ASSERT_EQ(row.size(), 7u) << lines[header + 1];
  EXPECT_EQ(row[0], "0");
  EXPECT_EQ(row[1], std::to_string(kSteps));
  EXPECT_EQ(row[2], "0");
  EXPECT_EQ(row[5], "1!");
  EXPECT_EQ(row[6], "-");

  r = run_ttap({"report", run, "--format", "json"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::ordered_json::parse(r.out);
  EXPECT_EQ(j["run"]["group"]["kind"], "single");
  EXPECT_EQ(j["run"]["group"]["size"], 1);
  EXPECT_EQ(j["run"]["group"]["writer"], 0);
  ASSERT_EQ(j["ranks"].size(), 1u);
  EXPECT_EQ(j["ranks"][0]["samples"], kSteps);
  EXPECT_EQ(j["ranks"][0]["nonfinite"], 1);
  EXPECT_GT(j["ranks"][0]["last_grad_l2"].get<double>(), 0.0);
}

TEST(ReportCommand, JsonHasTheDocumentedKeysAndValues) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run(run);
  const tool_run r = run_ttap({"report", run, "--format", "json"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  // Parsing fails on NaN or Inf, which JSON does not have.
  const auto j = nlohmann::ordered_json::parse(r.out);
  std::vector<std::string> keys;
  for (const auto &[k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"run", "alerts", "actions", "tensors", "ranks", "overhead"}));
  EXPECT_EQ(j["actions"], nlohmann::json::array());  // no response policy acted
  EXPECT_EQ(j["ranks"], nlohmann::json::array());  // no group

  const auto &info = j["run"];
  EXPECT_TRUE(info["group"].is_null());
  EXPECT_EQ(info["dir"], run);
  EXPECT_EQ(info["ranks"], nlohmann::json::array({0}));
  EXPECT_EQ(info["world"], 1);
  EXPECT_EQ(info["sessions"], 1);
  EXPECT_EQ(info["pid"], int64_t(getpid()));
  EXPECT_EQ(info["latest_step"], kSteps - 1);
  EXPECT_EQ(info["sample_rows"], 4 * kSteps);
  EXPECT_EQ(info["first_nonfinite"]["step"], kNanStep);
  EXPECT_EQ(info["first_nonfinite"]["tensor"], kNanTensor);
  EXPECT_GE(info["duration_s"].get<double>(), 0.0);

  ASSERT_GE(j["alerts"].size(), 1u);
  double previous_time = 0;
  bool nan_alert = false;
  for (const auto &a : j["alerts"]) {
    for (const char *key : {"step", "rank", "time", "tensor", "type", "message"}) {
      EXPECT_TRUE(a.contains(key)) << key << " in " << a.dump();
    }
    EXPECT_GE(a["time"].get<double>(), previous_time) << "alerts in time order";
    previous_time = a["time"].get<double>();
    nan_alert = nan_alert ||
                (a["type"] == "nonfinite" && a["step"] == kNanStep && a["tensor"] == kNanTensor);
  }
  EXPECT_TRUE(nan_alert) << j["alerts"].dump();

  ASSERT_EQ(j["tensors"].size(), 4u);
  auto tensor = [&](const std::string &name) {
    for (const auto &t : j["tensors"]) {
      if (t["name"] == name) return t;
    }
    ADD_FAILURE() << "no tensor " << name;
    return nlohmann::ordered_json();
  };
  run_values last, nan_step;
  last.fill(kSteps - 1, kNanStep);
  nan_step.fill(kNanStep, kNanStep);
  const auto mlp = tensor(kNanTensor);
  EXPECT_EQ(mlp["kind"], "grad");
  EXPECT_EQ(mlp["dtype"], "F32");
  EXPECT_EQ(mlp["numel"], 1024);
  EXPECT_EQ(mlp["samples"], kSteps);
  EXPECT_EQ(mlp["first_step"], 0);
  EXPECT_EQ(mlp["last_step"], kSteps - 1);
  EXPECT_NEAR(mlp["last_l2"].get<double>(), l2_of(last.mlp), 1e-9 * l2_of(last.mlp));
  EXPECT_NEAR(mlp["max_l2"].get<double>(), l2_of(last.mlp), 1e-9 * l2_of(last.mlp));
  EXPECT_EQ(mlp["last_nonfinite"], false);
  EXPECT_EQ(mlp["max_l2_step"], kSteps - 1);
  EXPECT_EQ(mlp["nonfinite_total"], 1);
  EXPECT_EQ(mlp["first_nonfinite_step"], kNanStep);
  EXPECT_FLOAT_EQ(mlp["max"].get<double>(), 1e-2f * float(kSteps));  // cos(0) at the last step
  const auto act = tensor(kActTensor);
  EXPECT_EQ(act["dtype"], "BF16");
  EXPECT_DOUBLE_EQ(act["fp8"]["e4m3"]["overflow"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(act["fp8"]["e4m3"]["underflow"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(act["fp8"]["e5m2"]["overflow"].get<double>(), 0.0);
  EXPECT_TRUE(tensor(kAttnGrad)["first_nonfinite_step"].is_null());
  EXPECT_DOUBLE_EQ(tensor(kParamTensor)["min"].get<double>(), double(0.01f));

  const auto &overhead = j["overhead"];
  for (const char *key : {"seconds", "step_seconds", "fraction", "samples_taken", "samples_skipped",
                          "records_dropped", "samples_rejected", "alerts_suppressed"}) {
    EXPECT_TRUE(overhead.contains(key)) << key;
  }
  EXPECT_EQ(overhead["samples_taken"], kSteps);
  EXPECT_EQ(overhead["samples_skipped"], 0);
  EXPECT_EQ(overhead["samples_rejected"], 0);
  EXPECT_TRUE(overhead["fraction"].is_null() || overhead["fraction"].get<double>() >= 0);
}

// A run whose response policies acted (a later session of the run, as a resumed job would add):
// the actions are listed under the alerts in all three formats.
TEST(ReportCommand, ListsActionsUnderTheAlertsInEveryFormat) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run(run);
  run_info info;
  info.run_dir = run;
  info.append = true;
  info.options = "on_nonfinite=skip+dump";
  std::string error;
  auto st = store::open(info, &error);
  ASSERT_TRUE(st) << error;
  const std::string dump_dir = run + "/dumps/step-17-rank-0";
  ASSERT_TRUE(st->add_action({0, kNanStep, 1.7e9, action_kind::skip, "nonfinite", kNanTensor}));
  ASSERT_TRUE(st->add_action({0, kNanStep, 1.7e9 + 1, action_kind::dump, "nonfinite", dump_dir}));
  ASSERT_TRUE(st->close()) << st->last_error();
  st.reset();

  const tool_run text = run_ttap({"report", run}, dir);
  ASSERT_EQ(text.status, 0) << text.err;
  const size_t alerts_at = text.out.find("\nalerts ");
  const size_t actions_at = text.out.find("\nactions   2: 1 dump, 1 skip (in time order)");
  ASSERT_NE(actions_at, std::string::npos) << text.out;
  EXPECT_LT(alerts_at, actions_at) << text.out;
  const auto skip_row = cells_of(row_of(text.out.substr(actions_at), std::to_string(kNanStep)));
  ASSERT_GE(skip_row.size(), 5u) << text.out;
  EXPECT_EQ(skip_row[2].rfind("skip", 0), 0u) << text.out;
  EXPECT_EQ(skip_row[3], "nonfinite");
  EXPECT_EQ(skip_row[4], kNanTensor);
  EXPECT_TRUE(contains(text.out.substr(actions_at), dump_dir)) << text.out;

  const tool_run json = run_ttap({"report", run, "--format", "json"}, dir);
  ASSERT_EQ(json.status, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  ASSERT_EQ(j["actions"].size(), 2u) << json.out;
  EXPECT_EQ(j["actions"][0]["action"], "skip");
  EXPECT_EQ(j["actions"][0]["step"], kNanStep);
  EXPECT_EQ(j["actions"][0]["reason"], "nonfinite");
  EXPECT_EQ(j["actions"][1]["action"], "dump");
  EXPECT_EQ(j["actions"][1]["detail"], dump_dir);

  const std::string html = dir.path("page.html");
  ASSERT_EQ(run_ttap({"report", run, "--format", "html", "-o", html}, dir).status, 0);
  const std::string page = read_whole_file(html);
  const size_t table = page.find("<table id=\"ttap-actions\">");
  ASSERT_NE(table, std::string::npos);
  EXPECT_LT(page.find("<table id=\"ttap-alerts\">"), table);
  EXPECT_TRUE(contains(page.substr(table), dump_dir));
  EXPECT_TRUE(contains(page.substr(table), "<td class=\"text\">skip</td>"));
}

// The same script run twice into one directory, the second time with mode=append: the report
// keeps the two sessions apart in every format (a session list, and a session column in the
// tensor and alert tables), instead of listing every tensor and alert twice as if they were one.
TEST(ReportCommand, AppendedSessionsAreKeptApartInEveryFormat) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run(run);
  {
    run_writer second(run, 1000, nullptr, "mode=append");
    for (int64_t s = 0; s < kSteps; ++s) second.step(s);
    second.close();
  }

  const tool_run text = run_ttap({"report", run}, dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "\nsession   1: started ")) << text.out;
  EXPECT_TRUE(std::regex_search(text.out, std::regex("\nsession   2: started [^\n]*, closed "
                                                     "after [^\n]*, rank 0, pid [0-9]+ "
                                                     "\\(mode=append\\)\n")))
      << text.out;
  // Tensor table: name, session, kind, ...; each tensor once per session.
  std::vector<std::string> nan_tensor_sessions, alert_sessions;
  const size_t tensors_at = text.out.find("\ntensors ");
  ASSERT_NE(tensors_at, std::string::npos) << text.out;
  for (const std::string &line : lines_of(text.out.substr(tensors_at))) {
    const auto cells = cells_of(line);
    if (cells.size() > 2 && cells[0] == "name") {
      EXPECT_EQ(cells[1], "session") << line;
    }
    if (cells.size() > 2 && cells[0] == kNanTensor) nan_tensor_sessions.push_back(cells[1]);
  }
  EXPECT_EQ(nan_tensor_sessions, (std::vector<std::string>{"1", "2"})) << text.out;
  // Alert table: step, rank, session, type, ...: the NaN of each session under its own session.
  const size_t alerts_at = text.out.find("\nalerts ");
  ASSERT_NE(alerts_at, std::string::npos) << text.out;
  for (const std::string &line : lines_of(text.out.substr(alerts_at, tensors_at - alerts_at))) {
    const auto cells = cells_of(line);
    if (cells.size() > 3 && cells[0] == "step") {
      EXPECT_EQ(cells[2], "session") << line;
    }
    if (cells.size() > 3 && cells[0] == std::to_string(kNanStep) && cells[3] == "nonfinite!")
      alert_sessions.push_back(cells[2]);
  }
  std::sort(alert_sessions.begin(), alert_sessions.end());
  EXPECT_EQ(alert_sessions, (std::vector<std::string>{"1", "2"})) << text.out;

  const tool_run json = run_ttap({"report", run, "--format", "json"}, dir);
  ASSERT_EQ(json.status, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  const auto &spans = j["run"]["session_list"];
  ASSERT_EQ(spans.size(), 2u) << json.out;
  EXPECT_EQ(spans[0]["session"], 1);
  EXPECT_EQ(spans[1]["session"], 2);
  EXPECT_EQ(spans[1]["closed"], true);
  EXPECT_EQ(spans[1]["ranks"], nlohmann::json::array({0}));
  EXPECT_LE(spans[0]["start_time"].get<double>(), spans[1]["start_time"].get<double>());
  std::vector<int> json_tensor_sessions, json_alert_sessions;
  for (const auto &t : j["tensors"])
    if (t["name"] == kNanTensor) json_tensor_sessions.push_back(t["session"].get<int>());
  for (const auto &a : j["alerts"])
    if (a["type"] == "nonfinite") json_alert_sessions.push_back(a["session"].get<int>());
  std::sort(json_alert_sessions.begin(), json_alert_sessions.end());
  EXPECT_EQ(json_tensor_sessions, (std::vector<int>{1, 2})) << json.out;
  EXPECT_EQ(json_alert_sessions, (std::vector<int>{1, 2})) << json.out;

  const std::string html = dir.path("page.html");
  ASSERT_EQ(run_ttap({"report", run, "--format", "html", "-o", html}, dir).status, 0);
  const std::string page = read_whole_file(html);
  const size_t sessions_table = page.find("<table id=\"ttap-sessions\">");
  ASSERT_NE(sessions_table, std::string::npos);
  EXPECT_TRUE(contains(page.substr(sessions_table), "<tr><td>2</td>"));
  for (const char *table : {"<table id=\"ttap-alerts\">", "<table id=\"ttap-tensors\">"}) {
    const size_t at = page.find(table);
    ASSERT_NE(at, std::string::npos) << table;
    EXPECT_TRUE(contains(page.substr(at, page.find("</thead>", at) - at), "<th>session</th>"))
        << table;
  }
}

// A run of one session has no session labels anywhere.
TEST(ReportCommand, OneSessionHasNoSessionColumn) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run(run);
  const tool_run text = run_ttap({"report", run}, dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_FALSE(contains(text.out, "session   ")) << text.out;
  EXPECT_FALSE(contains(row_of(text.out, "name"), "session")) << text.out;
  const std::string html = dir.path("page.html");
  ASSERT_EQ(run_ttap({"report", run, "--format", "html", "-o", html}, dir).status, 0);
  const std::string page = read_whole_file(html);
  EXPECT_FALSE(contains(page, "ttap-sessions"));
  EXPECT_FALSE(contains(page, "<th>session</th>"));
}

// A rank of the job that never stored anything is named in every format, the HTML page included;
// a complete run says nothing is missing.
TEST(ReportCommand, GapsAreInEveryFormat) {
  temp_dir dir;
  const std::string run = dir.path("run");
  {
    run_writer rank0(run, 1000, nullptr, "rank=0,world=2");  // rank 1 never opens its store
    for (int64_t s = 0; s < kSteps; ++s) rank0.step(s);
    rank0.close();
  }
  const tool_run text = run_ttap({"report", run}, dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "\ngap       rank 1: no store file and no rows")) << text.out;

  const tool_run json = run_ttap({"report", run, "--format", "json"}, dir);
  ASSERT_EQ(json.status, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  ASSERT_EQ(j["run"]["gaps"].size(), 1u) << json.out;
  EXPECT_EQ(j["run"]["gaps"][0]["rank"], 1);

  const std::string html = dir.path("page.html");
  ASSERT_EQ(run_ttap({"report", run, "--format", "html", "-o", html}, dir).status, 0);
  const std::string page = read_whole_file(html);
  const size_t table = page.find("<table id=\"ttap-gaps\">");
  ASSERT_NE(table, std::string::npos) << page.substr(0, 3000);
  const std::string gaps = page.substr(table, page.find("</table>", table) - table);
  EXPECT_TRUE(contains(gaps, "<td>1</td>")) << gaps;
  EXPECT_TRUE(contains(gaps, "no store file and no rows")) << gaps;
  EXPECT_LT(table, page.find("id=\"heatmap\"")) << "the gaps come before the plots";
  EXPECT_FALSE(contains(page, "ttap-no-gaps"));

  const std::string complete = dir.path("complete");
  write_run(complete);
  ASSERT_EQ(run_ttap({"report", complete, "--format", "html", "-o", html}, dir).status, 0);
  const std::string clean = read_whole_file(html);
  EXPECT_TRUE(contains(clean, "<p id=\"ttap-no-gaps\">")) << clean.substr(0, 3000);
  EXPECT_FALSE(contains(clean, "ttap-gaps\""));
  EXPECT_TRUE(contains(clean, "<th>state</th><td>closed</td>"));
}

// A reader inside a read while the writer closed: the writer could not fold its WAL into ttap.db.
// The run is closed and nothing is lost, and the report says the database file alone is not all
// of it.
TEST(ReportCommand, SaysWhenTheCloseCouldNotCheckpoint) {
  temp_dir dir;
  const std::string run = dir.path("run");
  run_writer w(run);
  for (int64_t s = 0; s < kSteps; ++s) w.step(s);
  w.flush();
  sqlite3 *reader = nullptr;
  ASSERT_EQ(sqlite3_open_v2((run + "/ttap.db").c_str(), &reader, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM samples", nullptr, nullptr, nullptr),
            SQLITE_OK);
  w.close();  // waits for the read up to its bound, then leaves the WAL
  sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close_v2(reader);  // read-only: does not checkpoint

  const tool_run text = run_ttap({"report", run}, dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "state     closed, not fully checkpointed: ttap.db-wal ("))
      << text.out;
  EXPECT_TRUE(contains(text.out, "latest step " + std::to_string(kSteps - 1))) << text.out;

  // Folded (a writing connection's close checkpoints), the state is plain "closed" again.
  sqlite3 *writer = nullptr;
  ASSERT_EQ(sqlite3_open((run + "/ttap.db").c_str(), &writer), SQLITE_OK);
  sqlite3_exec(writer, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  sqlite3_close_v2(writer);
  const tool_run again = run_ttap({"report", run}, dir);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_TRUE(contains(again.out, "state     closed\n")) << again.out;
}

TEST(ReportCommand, WritesToTheOutputFile) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run(run);
  const std::string path = dir.path("report.json");
  const tool_run r = run_ttap({"report", run, "--format", "json", "-o", path}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("wrote " + path, 0), 0u) << r.out;
  EXPECT_EQ(nlohmann::json::parse(read_whole_file(path))["run"]["latest_step"], kSteps - 1);
}

TEST(ReportCommand, RunWithoutSamplesSaysSo) {
  temp_dir dir;
  const std::string run = dir.path("run");
  {
    run_writer w(run);  // tensors watched, no step taken
    w.close();
  }
  const tool_run text = run_ttap({"report", run}, dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "no samples yet")) << text.out;
  EXPECT_TRUE(contains(text.out, "alerts    none")) << text.out;
  const tool_run json = run_ttap({"report", run, "--format", "json"}, dir);
  ASSERT_EQ(json.status, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_TRUE(j["run"]["latest_step"].is_null());
  EXPECT_EQ(j["run"]["sample_rows"], 0);
  EXPECT_EQ(j["tensors"].size(), 4u);
  EXPECT_TRUE(j["tensors"][0]["last_l2"].is_null());
  EXPECT_EQ(j["tensors"][0]["samples"], 0);
}

TEST(ReportCommand, ReportsOnALiveRun) {
  temp_dir dir;
  const std::string run = dir.path("run");
  run_writer w(run, 100);
  for (int64_t s = 0; s <= kNanStep; ++s) w.step(s);
  w.flush();  // the session stays open: the store is being written
  tool_run r = run_ttap({"report", run}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "latest step " + std::to_string(kNanStep))) << r.out;
  EXPECT_TRUE(contains(r.out, "first non-finite value in this run")) << r.out;
  // The NaN sample is the tensor's last so far: its l2 (over the finite values) is marked.
  auto mlp = cells_of(row_of(r.out, kNanTensor));
  ASSERT_EQ(mlp.size(), 12u) << r.out;
  EXPECT_EQ(mlp[5].back(), '!') << r.out;

  for (int64_t s = kNanStep + 1; s <= kNanStep + 3; ++s) w.step(s);
  w.flush();
  r = run_ttap({"report", run}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "latest step " + std::to_string(kNanStep + 3))) << r.out;
  mlp = cells_of(row_of(r.out, kNanTensor));
  ASSERT_EQ(mlp.size(), 12u) << r.out;
  EXPECT_NE(mlp[5].back(), '!') << r.out;
  w.close();
}

// A diverged run: the loss near -1e20 moving by one ulp (16384) per step, at step counters near
// 2^62 and up to INT64_MAX. Every format finishes (the HTML plot's axis loop used to spin forever
// while its tick vector grew) and the page holds no non-number coordinates.
TEST(ReportCommand, DivergedLossAndHugeStepsFinish) {
  temp_dir dir;
  const std::string run = dir.path("run");
  std::vector<float> grad(64, 1.0f);
  {
    ttap_session *s = nullptr;
    ASSERT_EQ(ttap_open(run.c_str(), "backend=cpu,budget=0", &s), TTAP_OK) << ttap_last_error();
    int32_t h;
    ASSERT_EQ(ttap_watch(s, "w.grad", grad.data(), TTAP_F32, grad.size(), TTAP_GRAD, &h), TTAP_OK);
    const int64_t base = int64_t(1) << 62;
    for (int64_t k = 0; k < 6; ++k) {
      grad[0] = float(k + 1);
      ASSERT_EQ(ttap_step(s, base + k, nullptr), TTAP_OK) << ttap_last_error();
      ASSERT_EQ(ttap_log_scalar(s, "loss", -1e20 + 16384.0 * double(k), base + k), TTAP_OK);
    }
    ASSERT_EQ(ttap_step(s, std::numeric_limits<int64_t>::max(), nullptr), TTAP_OK)
        << ttap_last_error();
    ASSERT_EQ(ttap_close(s), TTAP_OK);
  }
  for (const char *format : {"text", "json", "html"}) {
    const tool_run r = run_with_deadline(TTAP_BINARY, {"report", run, "--format", format}, dir, 60);
    ASSERT_EQ(r.status, 0) << format << ": " << r.err;
  }
  const std::string page = read_whole_file(run + "/report.html");
  EXPECT_TRUE(contains(page, "ttap-loss")) << "no loss plot";
  std::smatch m;
  EXPECT_FALSE(
      std::regex_search(page, m, std::regex(R"((x|y|x1|x2|y1|y2|points|d)="[^"]*(nan|inf))")))
      << m.str();
}

// Exactly one line on stderr, naming the problem; nothing on stdout.
void expect_one_error_line(const tool_run &r, const std::string &part) {
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_TRUE(contains(r.err, part)) << r.err;
}

TEST(ReportCommand, BadDirectoriesAreOneLineErrors) {
  temp_dir dir;
  expect_one_error_line(run_ttap({"report", dir.path("missing")}, dir), "no such directory");
  std::filesystem::create_directory(dir.path("empty"));
  expect_one_error_line(run_ttap({"report", dir.path("empty")}, dir), "not a tensortap run");
  std::filesystem::create_directory(dir.path("garbage"));
  dir.write("garbage/ttap.db", std::string(8192, 'Z'));
  expect_one_error_line(run_ttap({"report", dir.path("garbage")}, dir),
                        "not a readable SQLite database");
}

TEST(ReportCommand, CorruptedStoreIsAOneLineError) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run(run);
  // Keep the header page (so the file still opens as SQLite) and overwrite every later page.
  const std::string db = run + "/ttap.db";
  const auto size = std::filesystem::file_size(db);
  ASSERT_GT(size, 3 * 4096u);
  {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    const std::string junk(size - 4096, char(0xa5));
    f.write(junk.data(), std::streamsize(junk.size()));
  }
  for (const char *format : {"text", "json", "html"}) {
    const tool_run r = run_ttap({"report", run, "--format", format}, dir);
    expect_one_error_line(r, "ttap report: error: " + run);
    EXPECT_TRUE(contains(r.err, "malformed") || contains(r.err, "not a tensortap store")) << r.err;
  }
}

TEST(ReportCommand, UsageErrors) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run(run);
  expect_one_error_line(run_ttap({"report", run, "--format", "pdf"}, dir), "--format");
  expect_one_error_line(run_ttap({"report", run, "--format", "html", "--tensor", "nope"}, dir),
                        "no tensor named 'nope'");
  expect_one_error_line(run_ttap({"report", run, "-o", dir.path("no/such/dir/r.txt")}, dir),
                        "cannot create");
}

}  // namespace
}  // namespace ttap::test
