// `ttap export` end to end: known runs written through the C API, exported by the ttap binary to
// CSV, JSONL and TensorBoard event files, and read back (CSV by an RFC 4180 parser, JSONL by
// nlohmann::json, event files by the test's own TFRecord/protobuf reader) against the values
// written and the store; and every way the verb must fail with one line and status 2.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/tools/export/export_test_run.h"
#include "tests/tools/export/proto_reader.h"
#include "tests/tools/ttap/tool_runner.h"
#include "runtime/store/run_reader.h"

namespace ttap::test {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kCsvColumns = {
    "rank",    "step",    "time",    "tensor",  "kind",      "dtype", "count",
    "nan",     "pos_inf", "neg_inf", "zero",    "subnormal", "min",   "max",
    "abs_max", "sum",     "sum_sq",  "sum_abs", "l2",        "mean",  "std"};

// RFC 4180: fields separated by commas, quoted fields may hold commas, doubled quotes, newlines.
std::vector<std::vector<std::string>> parse_csv(const std::string &text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
    } else if (c == '\n') {
      rows.back().push_back(field);
      field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (!rows.back().empty() || !field.empty())
    rows.back().push_back(field);
  else
    rows.pop_back();
  return rows;
}

std::optional<double> cell(const std::string &text) {
  if (text.empty()) return std::nullopt;
  return std::strtod(text.c_str(), nullptr);  // stod refuses subnormals
}

// One line on stderr, starting with the verb's error prefix.
void expect_one_error_line(const tool_run &run, const std::string &needle) {
  EXPECT_EQ(run.status, 2) << run.err;
  EXPECT_EQ(run.err.rfind("ttap export: error: ", 0), 0u) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_NE(run.err.find(needle), std::string::npos) << run.err;
}

std::vector<sample_row> stored_samples(const std::string &dir) {
  std::string error;
  auto reader = run_reader::open(dir, &error);
  EXPECT_TRUE(reader) << error;
  std::vector<sample_row> rows;
  if (reader) {
    EXPECT_TRUE(reader->samples(nullptr, true, &rows));
  }
  return rows;
}

std::vector<std::string> files_in(const std::string &dir) {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The exponent histogram of values, computed here from the definition (2^e <= |x| < 2^(e+1)).
std::map<int, uint64_t> expected_bins(const std::vector<float> &values) {
  std::map<int, uint64_t> bins;
  for (float v : values)
    if (std::isfinite(v) && v != 0) ++bins[std::ilogb(v)];
  return bins;
}

struct run_fixture : ::testing::Test {
  temp_dir tmp;
  std::string run_dir = tmp.path("run");
  void write(int world) { ASSERT_EQ(write_test_run(run_dir, world), ""); }
};

using ExportCsv = run_fixture;

TEST_F(ExportCsv, HeaderRowsAndValues) {
  write(1);
  const std::string out = tmp.path("out.csv");
  auto run = run_ttap({"export", run_dir, "--csv", out}, tmp);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.err, "wrote " + std::to_string(3 * kTestSteps) + " samples to " + out + "\n");
  auto rows = parse_csv(read_whole_file(out));
  ASSERT_EQ(rows.size(), size_t(1 + 3 * kTestSteps));
  EXPECT_EQ(rows[0], kCsvColumns);

  // Every cell against the store, exactly: numbers are written in round-trip form.
  const auto stored = stored_samples(run_dir);
  ASSERT_EQ(stored.size(), rows.size() - 1);
  int odd_rows = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto &r = rows[i];
    const auto &s = stored[i - 1];
    ASSERT_EQ(r.size(), kCsvColumns.size()) << i;
    EXPECT_EQ(std::stoll(r[1]), s.step);
    EXPECT_EQ(std::stod(r[2]), s.time);
    EXPECT_EQ(r[3], s.tensor);
    EXPECT_EQ(std::stoull(r[6]), s.count);
    EXPECT_EQ(std::stoull(r[7]), s.nan);
    EXPECT_EQ(std::stoull(r[8]), s.pos_inf);
    EXPECT_EQ(cell(r[12]), s.min);
    EXPECT_EQ(cell(r[14]), s.abs_max);
    EXPECT_EQ(cell(r[16]), s.sum_sq);
    EXPECT_EQ(cell(r[18]), s.l2);
    EXPECT_EQ(cell(r[20]), s.std);
    const int step = int(s.step);
    if (r[3] == kOddName) {
      // Ten values of 2.0 (F64): known in closed form.
      ++odd_rows;
      EXPECT_EQ(r[4], "other");
      EXPECT_EQ(r[5], "F64");
      EXPECT_EQ(r[6], "10");
      EXPECT_EQ(r[12], "2");
      EXPECT_EQ(r[13], "2");
      EXPECT_EQ(r[15], "20");
      EXPECT_EQ(r[16], "40");
      EXPECT_DOUBLE_EQ(*cell(r[18]), std::sqrt(40.0));
      EXPECT_EQ(r[19], "2");
      EXPECT_EQ(r[20], "0");
    } else if (r[3] == "layers.0.weight") {
      EXPECT_EQ(r[4], "param");
      EXPECT_EQ(r[5], "F32");
      EXPECT_EQ(r[10], "1");  // one exact zero
      EXPECT_EQ(*cell(r[12]), -4.0 * (1 + step));
      EXPECT_EQ(*cell(r[13]), 3.875 * (1 + step));
      EXPECT_EQ(*cell(r[15]), -4.0 * (1 + step));
    } else {
      EXPECT_EQ(r[3], "layers.0.weight.grad");
      EXPECT_EQ(r[4], "grad");
      EXPECT_EQ(r[7], step == kNanStep ? "1" : "0");
      EXPECT_EQ(r[8], step == kNanStep ? "1" : "0");
    }
  }
  EXPECT_EQ(odd_rows, kTestSteps);
}

TEST_F(ExportCsv, StdoutAndReplacingAnEarlierExport) {
  write(1);
  auto run = run_ttap({"export", run_dir, "--csv", "-"}, tmp);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(parse_csv(run.out).size(), size_t(1 + 3 * kTestSteps));
  EXPECT_NE(run.err.find("to -"), std::string::npos) << run.err;

  const std::string out = tmp.write("old.csv", "stale\n");
  run = run_ttap({"export", run_dir, "--csv", out}, tmp);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(read_whole_file(out).rfind("rank,step,", 0), 0u);
  for (const auto &name : files_in(tmp.path("")))
    EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name;
}

using ExportJsonl = run_fixture;

TEST_F(ExportJsonl, EveryLineParsesWithRecordKinds) {
  write(1);
  const std::string out = tmp.path("out.jsonl");
  auto run = run_ttap({"export", run_dir, "--jsonl", out}, tmp);
  ASSERT_EQ(run.status, 0) << run.err;
  const std::string text = read_whole_file(out);
  std::map<std::string, int> records;
  bool nonfinite_alert = false, nan_loss = false;
  std::string last_record;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);  // throws, failing the test, on a bad line
    const std::string record = j.at("record");
    ++records[record];
    // Order: samples, then scalars, then alerts.
    if (!last_record.empty() && record != last_record) {
      EXPECT_TRUE((last_record == "sample" && record == "scalar") ||
                  (last_record == "scalar" && record == "alert") ||
                  (last_record == "sample" && record == "alert"))
          << last_record << " then " << record;
    }
    last_record = record;
    if (record == "sample") {
      for (const auto &c : kCsvColumns) EXPECT_TRUE(j.contains(c)) << c;
      if (j["tensor"] == "layers.0.weight") {
        const int step = j["step"];
        std::map<int, uint64_t> got;
        for (auto &[e, count] : j["exp_hist"].items()) got[std::stoi(e)] = count.get<uint64_t>();
        EXPECT_EQ(got, expected_bins(test_weight(step, 0))) << "step " << step;
        EXPECT_EQ(j["kind"], "param");
      }
      if (j["tensor"] == "layers.0.weight.grad" && j["step"] == kNanStep) {
        EXPECT_EQ(j["nan"], 1);
        EXPECT_EQ(j["pos_inf"], 1);
      }
    } else if (record == "scalar") {
      EXPECT_EQ(j.size(), 6u);
      if (j["name"] == "loss" && j["step"] == kNanLossStep) nan_loss = j["value"].is_null();
      if (j["name"] == "loss" && j["step"] == 2) {
        EXPECT_EQ(j["value"], 8.0);
      }
    } else {
      ASSERT_EQ(record, "alert");
      EXPECT_TRUE(j["message"].is_string());
      nonfinite_alert |= j["type"] == "nonfinite" && j["step"] == kNanStep &&
                         j["tensor"] == "layers.0.weight.grad";
    }
  }
  EXPECT_EQ(records["sample"], 3 * kTestSteps);
  EXPECT_EQ(records["scalar"], 2 * kTestSteps);
  EXPECT_GE(records["alert"], 1);
  EXPECT_TRUE(nonfinite_alert);
  EXPECT_TRUE(nan_loss);
  EXPECT_EQ(run.err, "wrote " + std::to_string(3 * kTestSteps) + " samples, " +
                         std::to_string(2 * kTestSteps) + " scalars, " +
                         std::to_string(records["alert"]) + " alerts to " + out + "\n");
}

// The values of one event file: tag -> step -> value, histograms and texts by (tag, step).
struct event_file {
  std::string file_version;
  std::map<std::string, std::map<int64_t, float>> scalars;
  std::map<std::string, std::map<int64_t, std::pair<std::vector<double>, std::vector<double>>>>
      histograms;
  std::vector<std::pair<int64_t, std::string>> texts;
};

event_file read_event_file(const std::string &path) {
  event_file f;
  const auto records = read_tfrecords(path);
  EXPECT_FALSE(records.empty());
  for (size_t i = 0; i < records.size(); ++i) {
    const auto event = parse_proto(records[i]);
    if (i == 0) {
      f.file_version = fields_numbered(event, 3).at(0).bytes;
      continue;
    }
    EXPECT_GT(fields_numbered(event, 1).at(0).as_double(), 1e9);  // a real wall time
    const int64_t step = int64_t(fields_numbered(event, 2).at(0).value);
    for (const auto &v : fields_numbered(parse_proto(fields_numbered(event, 5).at(0).bytes), 1)) {
      const auto value = parse_proto(v.bytes);
      const std::string tag = fields_numbered(value, 1).at(0).bytes;
      if (auto simple = fields_numbered(value, 2); !simple.empty()) {
        EXPECT_FALSE(f.scalars[tag].count(step)) << tag << " twice at step " << step;
        f.scalars[tag][step] = simple[0].as_float();
      } else if (auto histo = fields_numbered(value, 5); !histo.empty()) {
        const auto h = parse_proto(histo[0].bytes);
        f.histograms[tag][step] = {packed_doubles(fields_numbered(h, 6).at(0).bytes),
                                   packed_doubles(fields_numbered(h, 7).at(0).bytes)};
      } else {
        const auto tensor = parse_proto(fields_numbered(value, 8).at(0).bytes);
        EXPECT_EQ(tag, "alerts");
        f.texts.emplace_back(step, fields_numbered(tensor, 8).at(0).bytes);
      }
    }
  }
  return f;
}

using ExportTensorboard = run_fixture;

TEST_F(ExportTensorboard, OneRankFlatDirectory) {
  write(1);
  const std::string out = tmp.path("tb");
  auto run = run_ttap({"export", run_dir, "--tensorboard", out}, tmp);
  ASSERT_EQ(run.status, 0) << run.err;
  auto names = files_in(out);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind("events.out.tfevents.", 0), 0u) << names[0];
  const auto f = read_event_file(out + "/" + names[0]);
  EXPECT_EQ(f.file_version, "brain.Event:2");

  const auto stored = stored_samples(run_dir);
  for (const auto &s : stored) {
    const std::string t = s.tensor;
    EXPECT_EQ(f.scalars.at(t + "/l2").at(s.step), float(*s.l2)) << t;
    EXPECT_EQ(f.scalars.at(t + "/nonfinite").at(s.step), float(s.nonfinite())) << t;
    EXPECT_EQ(f.scalars.at(t + "/abs_max").at(s.step), float(*s.abs_max)) << t;
    EXPECT_EQ(f.scalars.at(t + "/mean").at(s.step), float(*s.mean)) << t;
    EXPECT_EQ(f.scalars.at(t + "/std").at(s.step), float(*s.std)) << t;
  }
  EXPECT_EQ(f.scalars.at("layers.0.weight.grad/nonfinite").at(kNanStep), 2.0f);
  ASSERT_EQ(f.scalars.at("scalars/loss").size(), size_t(kTestSteps));
  for (int step = 0; step < kTestSteps; ++step) {
    const float loss = f.scalars.at("scalars/loss").at(step);
    if (step == kNanLossStep) {
      EXPECT_TRUE(std::isnan(loss));
    } else {
      EXPECT_EQ(loss, float(10 - step));
    }
    EXPECT_EQ(f.scalars.at("scalars/lr").at(step), 0.5f);
  }
  // The weight's histogram: bucket [e, e+1] per exponent, contiguous from lowest to highest.
  for (int step = 0; step < kTestSteps; ++step) {
    const auto &[limits, counts] = f.histograms.at("layers.0.weight/exp_hist").at(step);
    const auto bins = expected_bins(test_weight(step, 0));
    ASSERT_EQ(limits.size(), size_t(bins.rbegin()->first - bins.begin()->first + 1));
    for (size_t i = 0; i < limits.size(); ++i) {
      const int e = bins.begin()->first + int(i);
      EXPECT_EQ(limits[i], e + 1);
      EXPECT_EQ(counts[i], bins.count(e) ? double(bins.at(e)) : 0.0) << "e " << e;
    }
  }
  bool alert = false;
  for (const auto &[step, text] : f.texts)
    alert |= step == kNanStep && text.find("**nonfinite** `layers.0.weight.grad`") == 0;
  EXPECT_TRUE(alert);

  // Exporting again replaces the file rather than adding a second one TensorBoard would merge.
  run = run_ttap({"export", run_dir, "--tensorboard", out}, tmp);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(files_in(out), names);
}

TEST_F(ExportTensorboard, OneSubdirectoryPerRank) {
  write(2);
  const std::string out = tmp.path("tb");
  auto run = run_ttap({"export", run_dir, "--tensorboard", out}, tmp);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(files_in(out), (std::vector<std::string>{"rank0", "rank1"}));
  for (int rank = 0; rank < 2; ++rank) {
    const std::string dir = out + "/rank" + std::to_string(rank);
    auto names = files_in(dir);
    ASSERT_EQ(names.size(), 1u);
    const auto f = read_event_file(dir + "/" + names[0]);
    EXPECT_EQ(f.scalars.at("scalars/loss").at(2), float(8 + rank));
    EXPECT_EQ(f.scalars.at("layers.0.weight/abs_max").at(1), 4.0f * 2 * (1 + rank));
    EXPECT_EQ(f.scalars.at("layers.0.weight.grad/nonfinite").at(kNanStep), rank == 0 ? 2.0f : 0.f);
  }
}

using ExportErrors = run_fixture;

TEST_F(ExportErrors, UsageNeedsExactlyOneOutput) {
  write(1);
  expect_one_error_line(run_ttap({"export", run_dir}, tmp), "no output given");
  expect_one_error_line(
      run_ttap({"export", run_dir, "--csv", tmp.path("a"), "--jsonl", tmp.path("b")}, tmp),
      "more than one output");
  expect_one_error_line(run_ttap({"export", run_dir, "--csv", ""}, tmp), "non-empty path");
  expect_one_error_line(run_ttap({"export", run_dir, "--tensorboard", "-"}, tmp), "directory");
  EXPECT_FALSE(fs::exists(tmp.path("a")));
  EXPECT_FALSE(fs::exists(tmp.path("b")));
}

TEST_F(ExportErrors, NotARun) {
  expect_one_error_line(run_ttap({"export", tmp.path("missing"), "--csv", tmp.path("x")}, tmp),
                        "no such directory");
  fs::create_directory(tmp.path("empty"));
  expect_one_error_line(run_ttap({"export", tmp.path("empty"), "--jsonl", tmp.path("x")}, tmp),
                        "not a tensortap run");
  fs::create_directory(tmp.path("garbage"));
  tmp.write("garbage/ttap.db", std::string(8192, 'Z'));
  expect_one_error_line(
      run_ttap({"export", tmp.path("garbage"), "--tensorboard", tmp.path("tb")}, tmp),
      "not a readable SQLite database");
  EXPECT_FALSE(fs::exists(tmp.path("x")));
  EXPECT_FALSE(fs::exists(tmp.path("tb")));
}

TEST_F(ExportErrors, CorruptedSamplesTable) {
  write(1);
  // Overwrite the samples table's root page: the store opens, reading the samples fails.
  const std::string db_path = run_dir + "/ttap.db";
  sqlite3 *db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt *st = nullptr;
  int root = 0, page_size = 0;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_master WHERE name = 'samples'", -1,
                               &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  root = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  page_size = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  ASSERT_GT(root, 1);
  {
    std::fstream f(db_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(root - 1) * page_size);
    const std::string junk(size_t(page_size), '\xa5');
    f.write(junk.data(), std::streamsize(junk.size()));
  }
  for (const char *flag : {"--csv", "--jsonl", "--tensorboard"}) {
    const std::string out = tmp.path(std::string("out") + flag);
    auto run = run_ttap({"export", run_dir, flag, out}, tmp);
    expect_one_error_line(run, "malformed");
    // No half-written export left behind (the TensorBoard directory may exist, without files).
    if (fs::is_directory(out)) {
      EXPECT_TRUE(files_in(out).empty()) << flag;
    } else {
      EXPECT_FALSE(fs::exists(out)) << flag;
    }
  }
  for (const auto &name : files_in(tmp.path("")))
    EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name;
}

TEST_F(ExportErrors, UnwritableOutput) {
  write(1);
  expect_one_error_line(run_ttap({"export", run_dir, "--csv", tmp.path("no/such/dir.csv")}, tmp),
                        "cannot create");
  expect_one_error_line(run_ttap({"export", run_dir, "--jsonl", tmp.path("")}, tmp),
                        "is a directory");
  const std::string file = tmp.write("plain", "x");
  expect_one_error_line(run_ttap({"export", run_dir, "--tensorboard", file}, tmp),
                        "cannot create the output directory");
  if (fs::exists("/dev/full")) {
    expect_one_error_line(run_ttap({"export", run_dir, "--jsonl", "/dev/full"}, tmp),
                          "No space left on device");
  }
}

}  // namespace
}  // namespace ttap::test
