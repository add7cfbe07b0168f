// The run store (runtime/store/): schema and version handling, the views' exact columns and values
// against summary_finalize, transactions seen from a second connection, the step rule, and every
// error path (missing, unwritable or corrupted files, removed run directory, full disk).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "kernels/cpu/cpu_executor.h"
#include "runtime/store/histogram_blob.h"
#include "runtime/store/schema.h"
#include "runtime/store/store.h"
#include "tests/runtime/store/store_test_util.h"

namespace ttap {
namespace {

using testing::reader;
using testing::temp_run_dir;

run_info info_for(const temp_run_dir &dir, int32_t rank = 0) {
  run_info info;
  info.run_dir = dir.path();
  info.rank = rank;
  info.world = 2;
  info.options = "every=1,flush_ms=1000";
  info.version = "0.1.0";
  info.host = "node7";
  info.pid = 4242;
  info.start_time = 1.7e9;
  return info;
}

std::unique_ptr<store> open_store(const run_info &info) {
  std::string error;
  std::unique_ptr<store> s = store::open(info, &error);
  EXPECT_TRUE(s) << error;
  return s;
}

// One thread, with fingerprints: the store must keep every field the executors produce.
summary summarize(const void *data, dtype type, uint64_t numel) {
  static cpu_executor executor({1, true, true});
  return executor.summarize(tensor_view{data, type, numel});
}

summary summarize_f32(const std::vector<float> &v) {
  return summarize(v.data(), dtype::f32, v.size());
}

sample_record record(int32_t tensor, int64_t step, const summary &s, int32_t rank = 0) {
  sample_record r;
  r.rank = rank;
  r.step = step;
  r.time = 1.7e9 + double(step) * 0.5;
  r.tensor_id = tensor;
  r.stats = s;
  return r;
}

tensor_info tensor(int32_t id, std::string name, dtype type = dtype::f32,
                   tensor_kind kind = tensor_kind::grad, uint64_t numel = 8) {
  tensor_info t;
  t.id = id;
  t.name = std::move(name);
  t.type = type;
  t.kind = kind;
  t.numel = numel;
  return t;
}

// One ordinary sample of `tensors` tensors at `step`.
std::vector<sample_record> sample_of(int tensors, int64_t step) {
  static const summary s = summarize_f32({0.5f, -1.5f, 2.0f, 0.25f, 3.0f, -0.125f, 7.0f, 1.0f});
  std::vector<sample_record> out;
  for (int t = 0; t < tensors; ++t) out.push_back(record(t, step, s));
  return out;
}

bool contains(const std::string &haystack, const std::string &needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- Schema and versions ----

TEST(StoreSchema, NewStoreIsVersionedWalAndRecordsTheRun) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir, 3));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->path(), dir.path() + "/ttap.rank-3.db");  // rank 3's own file
  reader r(s->path());
  EXPECT_EQ(r.integer("PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(r.rows("PRAGMA journal_mode")[0][0], "wal");
  auto run = r.rows("SELECT rank, world, options, version, host, pid, start_time FROM run_info");
  ASSERT_EQ(run.size(), 1u);
  std::vector<std::optional<std::string>> want = {"3",     "2",    "every=1,flush_ms=1000", "0.1.0",
                                                  "node7", "4242", "1700000000.0"};
  EXPECT_EQ(run[0], want);
  EXPECT_EQ(r.integer("SELECT count(*) FROM run_counters WHERE rank = 3"), 1);
  EXPECT_GT(s->size_bytes(), 0u);
}

TEST(StoreSchema, ReopenKeepsDataAndAddsASession) {
  temp_run_dir dir;
  {
    auto s = open_store(info_for(dir));
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->add_tensor(tensor(0, "w")));
    ASSERT_TRUE(s->add_samples(sample_of(1, 5)));
    ASSERT_TRUE(s->commit());
  }
  run_info resumed = info_for(dir);
  resumed.append = true;  // a directory holding a run takes another one only when asked
  auto s = open_store(resumed);
  ASSERT_TRUE(s);
  // A resumed run registers its tensors again (a session's ids are its own: the second session of
  // a rank writes them past the first one's range) and starts its own step sequence: step 5 again
  // is accepted in the new session.
  ASSERT_TRUE(s->add_tensor(tensor(0, "w")));
  ASSERT_TRUE(s->add_samples(sample_of(1, 5)));
  ASSERT_TRUE(s->commit());
  reader r(dir.db());
  EXPECT_EQ(r.integer("SELECT count(*) FROM run_info"), 2);
  EXPECT_EQ(r.integer("SELECT count(*) FROM run_counters"), 2);
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v WHERE tensor = 'w' AND step = 5"), 2);
  EXPECT_EQ(r.integer("SELECT count(DISTINCT tensor_id) FROM samples"), 2);
  EXPECT_EQ(r.integer("SELECT max(id) FROM tensors"), int64_t(1) << 20);
}

TEST(StoreSchema, OtherVersionIsRefusedAndLeftUntouched) {
  for (int version : {kSchemaVersion + 1, 99, -1}) {
    temp_run_dir dir;
    {
      auto s = open_store(info_for(dir));
      ASSERT_TRUE(s);
    }
    {
      reader w(dir.db(), true);
      ASSERT_TRUE(w.exec("PRAGMA user_version=" + std::to_string(version)));
    }
    std::string error;
    EXPECT_FALSE(store::open(info_for(dir), &error));
    EXPECT_TRUE(contains(error, dir.db())) << error;
    EXPECT_TRUE(contains(error, "schema version " + std::to_string(version))) << error;
    EXPECT_TRUE(contains(error, "version " + std::to_string(kSchemaVersion))) << error;
    reader r(dir.db());
    EXPECT_EQ(r.integer("PRAGMA user_version"), version);
    EXPECT_EQ(r.integer("SELECT count(*) FROM run_info"), 1);  // no session was added
  }
  // A file some other tensortap wrote, in its own journal mode: refused before any write.
  temp_run_dir dir;
  {
    reader w(dir.db(), true);
    ASSERT_TRUE(w.exec("CREATE TABLE samples (x); PRAGMA user_version=7"));
  }
  std::string error;
  EXPECT_FALSE(store::open(info_for(dir), &error));
  EXPECT_TRUE(contains(error, "schema version 7")) << error;
  reader r(dir.db());
  EXPECT_EQ(r.rows("PRAGMA journal_mode")[0][0], "delete");
  EXPECT_EQ(r.integer("SELECT count(*) FROM sqlite_schema"), 1);
}

TEST(StoreSchema, ForeignDatabaseIsRefused) {
  temp_run_dir dir;
  {
    reader w(dir.db(), true);
    ASSERT_TRUE(w.exec("CREATE TABLE accounts (id INTEGER, balance REAL)"));
  }
  std::string error;
  EXPECT_FALSE(store::open(info_for(dir), &error));
  EXPECT_TRUE(contains(error, "not a tensortap run store")) << error;
  reader r(dir.db());
  EXPECT_EQ(r.integer("SELECT count(*) FROM sqlite_schema"), 1);
}

TEST(StoreSchema, DamagedSchemaIsRefusedWithoutAddingASession) {
  temp_run_dir dir;
  {
    auto s = open_store(info_for(dir));
    ASSERT_TRUE(s);
  }
  {
    reader w(dir.db(), true);
    ASSERT_TRUE(w.exec("DROP VIEW alerts_v; DROP TABLE alerts"));
  }
  std::string error;
  run_info resumed = info_for(dir);
  resumed.append = true;
  EXPECT_FALSE(store::open(resumed, &error));
  EXPECT_TRUE(contains(error, "no such table: alerts")) << error;
  reader r(dir.db());
  EXPECT_EQ(r.integer("SELECT count(*) FROM run_info"), 1);
}

TEST(StoreSchema, ViewsHaveExactlyTheDocumentedColumns) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  reader r(dir.db());
  std::vector<std::string> samples_v = {
      "rank",    "step",    "time",    "tensor",  "kind",      "dtype", "count",
      "nan",     "pos_inf", "neg_inf", "zero",    "subnormal", "min",   "max",
      "abs_max", "sum",     "sum_sq",  "sum_abs", "l2",        "mean",  "std"};
  EXPECT_EQ(r.columns("samples_v"), samples_v);
  std::vector<std::string> alerts_v = {"rank", "step", "time", "tensor", "type", "message"};
  EXPECT_EQ(r.columns("alerts_v"), alerts_v);
  std::vector<std::string> scalars_v = {"rank", "step", "time", "name", "value"};
  EXPECT_EQ(r.columns("scalars_v"), scalars_v);
  std::vector<std::string> actions_v = {"rank", "step", "time", "action", "reason", "detail"};
  EXPECT_EQ(r.columns("actions_v"), actions_v);
}

// "Every tensor at step N" is what a NaN investigation asks; on a long run it must be an index
// lookup, not a scan of every row.
TEST(StoreSchema, StepQueriesUseTheIndex) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  reader r(dir.db());
  std::string plan;
  for (auto &row : r.rows("EXPLAIN QUERY PLAN SELECT tensor, nan, l2 FROM samples_v "
                          "WHERE step BETWEEN 1200 AND 1234 ORDER BY step"))
    plan += row.back().value_or("") + "\n";
  EXPECT_TRUE(contains(plan, "USING INDEX samples_by_step")) << plan;
}

// ---- Values in the views ----

// rank..subnormal, min..std of samples_v as doubles (tensor, kind, dtype read separately).
std::vector<std::optional<double>> numeric_row(reader &r, const std::string &where) {
  return r.reals(
      "SELECT rank, step, time, count, nan, pos_inf, neg_inf, zero, subnormal, min, max, abs_max, "
      "sum, sum_sq, sum_abs, l2, mean, std FROM samples_v WHERE " +
      where);
}

TEST(StoreViews, SampleValuesMatchSummaryFinalize) {
  std::vector<float> v = {3.0f, -4.0f, 0.0f, -0.0f, NAN, INFINITY, -INFINITY, 1e-40f, 0.1f, 250.5f};
  summary x = summarize_f32(v);
  summary_derived d = summary_finalize(x);
  temp_run_dir dir;
  auto s = open_store(info_for(dir, 1));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(7, "layers.0.mlp.grad", dtype::f32, tensor_kind::grad, 10)));
  sample_record rec = record(7, 42, x, 1);
  ASSERT_TRUE(s->add_samples({&rec, 1}));
  ASSERT_TRUE(s->commit());

  reader r(s->path());
  auto text = r.rows("SELECT tensor, kind, dtype FROM samples_v");
  ASSERT_EQ(text.size(), 1u);
  EXPECT_EQ(text[0][0], "layers.0.mlp.grad");
  EXPECT_EQ(text[0][1], "grad");
  EXPECT_EQ(text[0][2], "F32");
  auto got = numeric_row(r, "step = 42");
  std::vector<std::optional<double>> want = {
      1,         42,    rec.time,  10,    1,
      1,         1,     2,         1,  // rank, step, time, count, nan, +inf, -inf, zero, sub
      x.min,     x.max, x.abs_max, x.sum, d.sum_sq,
      x.sum_abs, d.l2,  d.mean,    d.std};
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_TRUE(got[i].has_value()) << "column " << i;
    EXPECT_EQ(*got[i], *want[i]) << "column " << i;  // bit-exact: the same arithmetic
  }
}

// fp64 data near 1e200: the squares exceed double, so the summary carries sum_sq * 2^sum_sq_exp2.
// l2 must still be exact; sum_sq itself (and std, which needs it) are past double's range: NULL.
TEST(StoreViews, ScaledFp64SumOfSquaresKeepsL2Exact) {
  std::vector<double> big = {1e200, -3e200, 2.5e199, 7e200};
  std::vector<double> tiny = {1e-200, -3e-200, 2.5e-201, 7e-200};
  summary xb = summarize(big.data(), dtype::f64, big.size());
  summary xt = summarize(tiny.data(), dtype::f64, tiny.size());
  ASSERT_NE(xb.sum_sq_exp2, 0) << "the executor no longer scales fp64 squares";
  ASSERT_NE(xt.sum_sq_exp2, 0);
  // A scaled sum whose unscaled value fits in double after all (merges can produce one).
  summary xm = xb;
  xm.sum_sq = 0x1.8p-900;
  xm.sum_sq_exp2 = 1000;

  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "big", dtype::f64)));
  ASSERT_TRUE(s->add_tensor(tensor(1, "tiny", dtype::f64)));
  ASSERT_TRUE(s->add_tensor(tensor(2, "mid", dtype::f64)));
  std::vector<sample_record> recs = {record(0, 1, xb), record(1, 1, xt), record(2, 1, xm)};
  ASSERT_TRUE(s->add_samples(recs));
  ASSERT_TRUE(s->commit());
  reader r(dir.db());

  summary_derived db = summary_finalize(xb);
  ASSERT_TRUE(std::isfinite(db.l2));
  ASSERT_TRUE(std::isinf(db.sum_sq));
  auto got = r.reals("SELECT l2, sum_sq, std, mean FROM samples_v WHERE tensor = 'big'");
  ASSERT_EQ(got.size(), 4u);
  ASSERT_TRUE(got[0].has_value());
  EXPECT_EQ(*got[0], db.l2);
  std::printf("l2 of {1e200, -3e200, 2.5e199, 7e200}: view %.17g, finalize %.17g\n", *got[0],
              db.l2);
  EXPECT_FALSE(got[1].has_value());
  EXPECT_FALSE(got[2].has_value());
  ASSERT_TRUE(got[3].has_value());
  EXPECT_EQ(*got[3], db.mean);

  summary_derived dt = summary_finalize(xt);
  got = r.reals("SELECT l2, sum_sq FROM samples_v WHERE tensor = 'tiny'");
  ASSERT_TRUE(got[0].has_value());
  EXPECT_EQ(*got[0], dt.l2);
  EXPECT_FALSE(got[1].has_value() && *got[1] != 0.0) << "tiny squares underflow; sum_sq is 0";
  // Against long double, whose range holds these squares: both l2s to double precision.
  auto l2_reference = [](const std::vector<double> &v) {
    long double sq = 0;
    for (double x : v) sq += (long double)x * x;
    return double(std::sqrt(sq));
  };
  EXPECT_NEAR(*got[0] / l2_reference(tiny), 1.0, 1e-15);
  EXPECT_NEAR(db.l2 / l2_reference(big), 1.0, 1e-15);

  summary_derived dm = summary_finalize(xm);
  got = r.reals("SELECT l2, sum_sq FROM samples_v WHERE tensor = 'mid'");
  ASSERT_TRUE(got[0].has_value() && got[1].has_value());
  EXPECT_EQ(*got[0], dm.l2);
  EXPECT_EQ(*got[1], std::ldexp(0x1.8p-900, 1000));
}

TEST(StoreViews, NoFiniteValuesGivesNullMomentsAndRanges) {
  summary x = summarize_f32({NAN, INFINITY, NAN});
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "dead")));
  sample_record rec = record(0, 3, x);
  ASSERT_TRUE(s->add_samples({&rec, 1}));
  ASSERT_TRUE(s->commit());
  reader r(dir.db());
  auto got = numeric_row(r, "tensor = 'dead'");
  ASSERT_EQ(got.size(), 18u);
  EXPECT_EQ(got[3], 3.0);  // count
  EXPECT_EQ(got[4], 2.0);  // nan
  EXPECT_EQ(got[5], 1.0);  // pos_inf
  for (int i : {9, 10, 11, 16, 17}) EXPECT_FALSE(got[i].has_value()) << "column " << i;
  EXPECT_EQ(got[12], 0.0);  // sum
  EXPECT_EQ(got[15], 0.0);  // l2
}

// abs_max is stored only when it is not max(-min, max); either way the view shows the summary's.
TEST(StoreViews, AbsMaxIsExactEvenWhenItDisagreesWithMinMax) {
  summary x = summarize_f32({-5.0f, 2.0f});
  summary odd = x;
  odd.abs_max = 6.0;
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "t")));
  std::vector<sample_record> recs = {record(0, 1, x), record(0, 2, odd)};
  ASSERT_TRUE(s->add_samples(recs));
  ASSERT_TRUE(s->commit());
  reader r(dir.db());
  EXPECT_EQ(r.reals("SELECT abs_max FROM samples_v WHERE step = 1")[0], 5.0);
  EXPECT_EQ(r.reals("SELECT abs_max FROM samples_v WHERE step = 2")[0], 6.0);
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples WHERE abs_max IS NULL"), 1);
}

TEST(StoreViews, HistogramAndFingerprintReadBack) {
  std::vector<float> v;
  for (int i = 0; i < 5000; ++i) v.push_back(std::ldexp(float(i % 7) - 3.0f, (i % 40) - 30));
  summary x = summarize_f32(v);
  ASSERT_TRUE(x.has_fingerprint);
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "h")));
  sample_record rec = record(0, 1, x);
  ASSERT_TRUE(s->add_samples({&rec, 1}));
  ASSERT_TRUE(s->commit());

  reader r(dir.db());
  sqlite3_stmt *q = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(r.handle(), "SELECT hist, fingerprint FROM samples", -1, &q, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  auto *blob = static_cast<const uint8_t *>(sqlite3_column_blob(q, 0));
  size_t bytes = size_t(sqlite3_column_bytes(q, 0));
  std::optional<exp_histogram> h = decode_histogram({blob, bytes});
  uint64_t fingerprint = uint64_t(sqlite3_column_int64(q, 1));
  sqlite3_finalize(q);
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(std::equal(h->begin(), h->end(), x.exp_hist));
  EXPECT_LT(bytes, size_t(128));  // 40 nonzero bins, sparse
  EXPECT_EQ(fingerprint, x.fingerprint);
}

// The store writes whole groups of rows in one multi-row INSERT and the rest one by one: 37 rows
// of different summaries in one commit (two groups and five single rows) come back in the order
// they were added, each with its own fields and histogram.
TEST(StoreViews, ManyRowsOfOneCommitKeepTheirOrderAndFields) {
  constexpr int kRows = 37;
  std::vector<summary> summaries;
  std::vector<sample_record> rows;
  for (int t = 0; t < kRows; ++t) {
    std::vector<float> v;
    for (int i = 0; i <= t; ++i) v.push_back(std::ldexp(1.0f + float(i), i - t));
    summaries.push_back(summarize_f32(v));
  }
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  for (int t = 0; t < kRows; ++t) {
    ASSERT_TRUE(s->add_tensor(tensor(t, std::to_string(t))));
    rows.push_back(record(t, 3, summaries[size_t(t)]));
  }
  ASSERT_TRUE(s->add_samples(rows));
  ASSERT_TRUE(s->commit());

  reader r(dir.db());
  sqlite3_stmt *q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(r.handle(),
                               "SELECT tensor_id, count, max, sum, hist FROM samples ORDER BY rowid",
                               -1, &q, nullptr),
            SQLITE_OK);
  int t = 0;
  for (; sqlite3_step(q) == SQLITE_ROW; ++t) {
    ASSERT_LT(t, kRows);
    const summary &x = summaries[size_t(t)];
    EXPECT_EQ(sqlite3_column_int(q, 0), t);
    EXPECT_EQ(uint64_t(sqlite3_column_int64(q, 1)), x.count);
    EXPECT_EQ(sqlite3_column_double(q, 2), x.max);
    EXPECT_EQ(sqlite3_column_double(q, 3), x.sum);
    auto *blob = static_cast<const uint8_t *>(sqlite3_column_blob(q, 4));
    std::optional<exp_histogram> h = decode_histogram({blob, size_t(sqlite3_column_bytes(q, 4))});
    ASSERT_TRUE(h.has_value());
    EXPECT_TRUE(std::equal(h->begin(), h->end(), x.exp_hist)) << "row " << t;
  }
  sqlite3_finalize(q);
  EXPECT_EQ(t, kRows);
}

TEST(StoreViews, ScalarsAndAlerts) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  scalar_record loss{0, 10, 1.7e9 + 1, "loss", 2.5};
  scalar_record diverged{0, 11, 1.7e9 + 2, "loss", NAN};
  ASSERT_TRUE(s->add_scalar(loss));
  ASSERT_TRUE(s->add_scalar(diverged));
  const alert_type types[] = {alert_type::nonfinite, alert_type::spike, alert_type::vanishing,
                              alert_type::fp8_range, alert_type::loss_spike};
  for (alert_type type : types) {
    alert a;
    a.step = 11;
    a.time = 1.7e9 + 2;
    a.tensor_id = type == alert_type::loss_spike ? -1 : 4;
    a.tensor = type == alert_type::loss_spike ? "loss" : "layers.17.mlp.down_proj.grad";
    a.type = type;
    a.message = std::string("about ") + alert_type_name(type);
    ASSERT_TRUE(s->add_alert(a)) << s->last_error();
  }
  ASSERT_TRUE(s->commit());
  reader r(dir.db());
  auto scalars = r.rows("SELECT rank, step, name, value FROM scalars_v ORDER BY step");
  ASSERT_EQ(scalars.size(), 2u);
  EXPECT_EQ(scalars[0], (std::vector<std::optional<std::string>>{"0", "10", "loss", "2.5"}));
  EXPECT_FALSE(scalars[1][3].has_value());  // a NaN loss reads as NULL
  auto alerts = r.rows("SELECT tensor, type, message FROM alerts_v ORDER BY rowid");
  ASSERT_EQ(alerts.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(alerts[i][1], alert_type_name(types[i]));
    EXPECT_EQ(alerts[i][2], std::string("about ") + alert_type_name(types[i]));
  }
  EXPECT_EQ(alerts[4][0], "loss");
  EXPECT_EQ(r.integer("SELECT count(*) FROM alerts WHERE tensor_id IS NULL"), 1);
  EXPECT_EQ(r.reals("SELECT time FROM alerts_v LIMIT 1")[0], 1.7e9 + 2);
}

TEST(StoreViews, ActionsAreStoredAndAnUnknownKindIsRefused) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  action_record skip{0, 37, 1.7e9 + 1, action_kind::skip, "nonfinite", "fc1.weight.grad"};
  action_record dump{0, 37, 1.7e9 + 2, action_kind::dump, "nonfinite", "run/dumps/step-37-rank-0"};
  action_record abort{0, 38, 1.7e9 + 3, action_kind::abort, "nonfinite", "fc1.weight.grad"};
  ASSERT_TRUE(s->add_action(skip)) << s->last_error();
  ASSERT_TRUE(s->add_action(dump)) << s->last_error();
  ASSERT_TRUE(s->add_action(abort)) << s->last_error();
  action_record unknown = skip;
  unknown.action = action_kind(uint8_t(kLastActionKind) + 1);
  EXPECT_FALSE(s->add_action(unknown));
  EXPECT_TRUE(contains(s->last_error(), "unknown kind")) << s->last_error();
  ASSERT_TRUE(s->commit());
  reader r(dir.db());
  auto rows = r.rows("SELECT rank, step, action, reason, detail FROM actions_v ORDER BY rowid");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::optional<std::string>>{"0", "37", "skip", "nonfinite",
                                                              "fc1.weight.grad"}));
  EXPECT_EQ(rows[1][2], "dump");
  EXPECT_EQ(rows[1][4], "run/dumps/step-37-rank-0");
  EXPECT_EQ(rows[2][2], "abort");
  EXPECT_EQ(rows[2][1], "38");
}

// ---- The SQL of SCHEMA.md, run as written ----

std::vector<std::string> schema_doc_sql_blocks() {
  std::ifstream in(std::string(TTAP_SOURCE_DIR) + "/runtime/store/SCHEMA.md");
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> blocks;
  for (size_t at = 0; (at = doc.find("```sql\n", at)) != std::string::npos;) {
    size_t end = doc.find("```", at + 7);
    if (end == std::string::npos) break;
    blocks.push_back(doc.substr(at + 7, end - at - 7));
    at = end + 3;
  }
  return blocks;
}

TEST(StoreSchemaDoc, HistogramQueryDecodesTheBlob) {
  std::vector<float> v;
  for (int i = 0; i < 20000; ++i) v.push_back(std::ldexp(1.0f + float(i % 13) / 13.0f, -(i % 31)));
  v.push_back(1e30f);  // a lone far bin: a second run
  v.push_back(0.0f);
  summary x = summarize_f32(v);
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "layers.0.mlp.grad")));
  sample_record rec = record(0, 42, x);
  ASSERT_TRUE(s->add_samples({&rec, 1}));
  ASSERT_TRUE(s->commit());

  std::vector<std::string> blocks = schema_doc_sql_blocks();
  auto query = std::find_if(blocks.begin(), blocks.end(), [](const std::string &b) {
    return b.starts_with("-- histogram of one sample");
  });
  ASSERT_NE(query, blocks.end()) << "SCHEMA.md lost its histogram query";
  reader r(dir.db());
  auto rows = r.rows(*query);
  ASSERT_EQ(r.last_rc(), SQLITE_DONE) << r.error();
  std::vector<std::vector<std::optional<std::string>>> want;
  for (int i = 0; i < kExpHistBins; ++i)
    if (x.exp_hist[i])
      want.push_back({std::to_string(i + kExpHistMin), std::to_string(x.exp_hist[i])});
  EXPECT_EQ(rows, want);
  EXPECT_GE(want.size(), 32u);
}

TEST(StoreSchemaDoc, ExampleQueriesRun) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  // Data for every example to return a row: a NaN at step 42, its alert, a loss.
  ASSERT_TRUE(s->add_tensor(tensor(0, "layers.17.mlp.down_proj.grad")));
  ASSERT_TRUE(s->add_tensor(tensor(1, "layers.0.mlp.grad")));
  std::vector<sample_record> recs = {record(0, 42, summarize_f32({1.0f, NAN, 2.0f})),
                                     record(1, 42, summarize_f32({0.5f, 0.25f}))};
  ASSERT_TRUE(s->add_samples(recs));
  alert a;
  a.step = 42;
  a.tensor_id = 0;
  a.tensor = "layers.17.mlp.down_proj.grad";
  a.message = "NaN in layers.17.mlp.down_proj.grad (1 of 3 values)";
  ASSERT_TRUE(s->add_alert(a));
  ASSERT_TRUE(s->add_scalar(scalar_record{0, 42, 1.7e9, "loss", 2.0}));
  ASSERT_TRUE(s->set_counters(run_counters{100, 0, 0, 0, 0.5, 20.0}));
  // A group: the per-rank rows of the NaN sample and a group alert.
  ASSERT_TRUE(s->set_group(group_info{"mpi", 2, 0}));
  group_sample g;
  g.step = 42;
  g.time = 1.7e9;
  g.ranks = {{0, true, 0.1}, {1, true, 0.1}};
  g.tensor_ids = {1};
  g.roles = {tensor_role::contribution};
  g.cells.resize(2);
  g.cells[1].nonfinite = 1;
  ASSERT_TRUE(s->add_group_sample(g));
  a.rank = 1;
  a.tensor_id = 1;
  a.tensor = "layers.0.mlp.grad";
  a.type = alert_type::nonfinite_source;
  a.message = "non-finite values first seen on rank 1 only";
  ASSERT_TRUE(s->add_alert(a));
  ASSERT_TRUE(s->commit());

  std::vector<std::string> blocks = schema_doc_sql_blocks();
  ASSERT_FALSE(blocks.empty());
  reader r(dir.db());
  int statements = 0;
  for (const std::string &block : blocks) {
    const char *sql = block.c_str();
    while (*sql) {
      sqlite3_stmt *st = nullptr;
      const char *rest = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(r.handle(), sql, -1, &st, &rest), SQLITE_OK)
          << sqlite3_errmsg(r.handle()) << " in:\n"
          << sql;
      if (st) {
        int last_seen = sqlite3_bind_parameter_index(st, ":last_seen");
        if (last_seen) sqlite3_bind_int(st, last_seen, 0);
        int rc;
        int rows = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) ++rows;
        EXPECT_EQ(rc, SQLITE_DONE) << sqlite3_errmsg(r.handle()) << " in:\n" << sql;
        EXPECT_GT(rows, 0) << "no row from:\n" << std::string(sql, rest);
        sqlite3_finalize(st);
        ++statements;
      }
      sql = rest;
    }
  }
  EXPECT_GE(statements, 8);
}

// ---- Transactions, seen from a second connection ----

TEST(StoreTransactions, UncommittedIsInvisibleCommittedIsVisibleWhileLive) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  reader r(dir.db());
  ASSERT_TRUE(s->add_tensor(tensor(0, "a")));
  ASSERT_TRUE(s->add_tensor(tensor(1, "b")));
  ASSERT_TRUE(s->add_samples(sample_of(2, 1)));
  alert a;
  a.tensor_id = 0;
  a.tensor = "a";
  ASSERT_TRUE(s->add_alert(a));
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 0);
  EXPECT_EQ(r.integer("SELECT count(*) FROM alerts_v"), 0);
  EXPECT_EQ(r.integer("SELECT count(*) FROM tensors"), 0);
  ASSERT_TRUE(s->commit());
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 2);
  EXPECT_EQ(r.integer("SELECT count(*) FROM alerts_v"), 1);
  ASSERT_TRUE(s->add_samples(sample_of(2, 2)));
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 2);
  ASSERT_TRUE(s->commit());
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 4);
  ASSERT_TRUE(s->commit());  // nothing pending: still fine
}

// WAL: a reader neither waits for the writer's open transaction nor holds up its commit, and keeps
// a consistent snapshot until its own transaction ends.
TEST(StoreTransactions, ReadersAndTheWriterNeverBlockEachOther) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "a")));
  ASSERT_TRUE(s->add_samples(sample_of(1, 1)));
  ASSERT_TRUE(s->commit());

  ASSERT_TRUE(s->add_samples(sample_of(1, 2)));  // the writer now holds an open transaction
  reader r(dir.db());                            // busy timeout 0: waiting would be an error
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 1);
  EXPECT_EQ(r.last_rc(), SQLITE_DONE) << r.error();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));

  ASSERT_TRUE(r.exec("BEGIN"));
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples"), 1);  // the reader's snapshot starts here
  ASSERT_TRUE(s->commit()) << s->last_error();              // not blocked by the open read
  ASSERT_TRUE(s->add_samples(sample_of(1, 3)));
  ASSERT_TRUE(s->commit()) << s->last_error();
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples"), 1);
  ASSERT_TRUE(r.exec("COMMIT"));
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples"), 3);
}

TEST(StoreTransactions, ClosingCommitsPendingWork) {
  temp_run_dir dir;
  {
    auto s = open_store(info_for(dir));
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->add_tensor(tensor(0, "a")));
    ASSERT_TRUE(s->add_samples(sample_of(1, 1)));
  }
  EXPECT_FALSE(std::filesystem::exists(dir.db() + "-wal"));  // checkpointed into the file
  reader r(dir.db());
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 1);
}

TEST(StoreTransactions, CountersAndTensorsAreUpserted) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir, 2));
  ASSERT_TRUE(s);
  run_counters c;
  c.samples_taken = 10;
  c.overhead_seconds = 0.5;
  ASSERT_TRUE(s->set_counters(c));
  c.samples_taken = 20;
  c.samples_skipped = 3;
  c.records_dropped = 4;
  c.alerts_suppressed = 5;
  c.step_seconds = 12.25;
  ASSERT_TRUE(s->set_counters(c));
  ASSERT_TRUE(s->add_tensor(tensor(0, "old", dtype::bf16)));
  ASSERT_TRUE(s->add_tensor(tensor(0, "new", dtype::f16, tensor_kind::activation, 99)));
  ASSERT_TRUE(s->commit());
  reader r(s->path());
  auto rows = r.rows(
      "SELECT rank, samples_taken, samples_skipped, records_dropped, alerts_suppressed, "
      "samples_rejected, overhead_seconds, step_seconds FROM run_counters");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (std::vector<std::optional<std::string>>{"2", "20", "3", "4", "5", "0", "0.5",
                                                              "12.25"}));
  auto t = r.rows("SELECT rank, id, name, kind, dtype, numel FROM tensors");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0],
            (std::vector<std::optional<std::string>>{"2", "0", "new", "activation", "F16", "99"}));
}

// ---- The step rule ----

TEST(StoreSteps, NonIncreasingStepsAreRejectedCountedAndTheRestKept) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "a")));
  ASSERT_TRUE(s->add_tensor(tensor(1, "b")));
  summary x = summarize_f32({1.0f});
  std::vector<sample_record> recs = {
      record(0, 1, x), record(0, 2, x), record(0, 2, x),
      record(1, 2, x),                                       // another tensor: its own sequence
      record(0, 1, x), record(0, 3, x), record(0, 3, x, 1),  // another rank: its own sequence too
      record(-2, 9, x)};                                     // no tensor at all
  // The caller's data broke the rule, the store did not fail: true, and the batch's rest is kept.
  EXPECT_TRUE(s->add_samples(recs)) << s->last_error();
  reader r(dir.db());
  EXPECT_EQ(r.integer("SELECT samples_rejected FROM run_counters"), 0);  // not committed yet
  ASSERT_TRUE(s->commit()) << s->last_error();
  auto steps = r.rows("SELECT rank, tensor_id, step FROM samples ORDER BY rowid");
  std::vector<std::vector<std::optional<std::string>>> want = {
      {"0", "0", "1"}, {"0", "0", "2"}, {"0", "1", "2"}, {"0", "0", "3"}, {"1", "0", "3"}};
  EXPECT_EQ(steps, want);
  auto counters = r.rows("SELECT samples_rejected, first_rejection FROM run_counters");
  ASSERT_EQ(counters.size(), 1u);
  EXPECT_EQ(counters[0][0], "3");
  EXPECT_EQ(counters[0][1], "step 2 of tensor 0 (rank 0) does not come after its step 2");
  // set_counters leaves the store's own count alone; later rejections add to it.
  ASSERT_TRUE(s->set_counters(run_counters{}));
  ASSERT_TRUE(s->add_samples(sample_of(1, 3)));  // tensor 0 is at step 3 already
  ASSERT_TRUE(s->commit());
  EXPECT_EQ(r.integer("SELECT samples_rejected FROM run_counters"), 4);
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples"), 5);
}

// ---- Errors ----

TEST(StoreErrors, MissingRunDirectoryIsNamed) {
  temp_run_dir dir;
  run_info info = info_for(dir);
  info.run_dir += "/does/not/exist";
  std::string error;
  EXPECT_FALSE(store::open(info, &error));
  EXPECT_TRUE(contains(error, info.run_dir)) << error;
  EXPECT_TRUE(contains(error, "No such file or directory")) << error;
  info.run_dir = "";
  EXPECT_FALSE(store::open(info, &error));
  EXPECT_FALSE(error.empty());
}

// Run as an unprivileged user in a child (root ignores permissions), the way a real user meets it.
TEST(StoreErrors, UnwritableRunDirectoryIsRefusedWithTheCause) {
  temp_run_dir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0555), 0);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
    std::string error;
    bool opened = store::open(info_for(dir), &error) != nullptr;
    if (write(fds[1], error.data(), error.size()) < 0) _exit(4);
    _exit(opened ? 1 : 0);
  }
  close(fds[1]);
  std::string error;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) error.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the store opened in a read-only directory";
  EXPECT_TRUE(contains(error, dir.db())) << error;
  EXPECT_TRUE(contains(error, "cannot create its writer lock file")) << error;
  EXPECT_TRUE(contains(error, "the run directory is not writable: Permission denied")) << error;
  EXPECT_FALSE(std::filesystem::exists(dir.db()));
}

TEST(StoreErrors, CorruptedFileIsRefusedAndNotModified) {
  temp_run_dir dir;
  std::string garbage(8192, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = char((i * 2654435761u) >> 13);
  std::ofstream(dir.db(), std::ios::binary) << garbage;
  std::string error;
  EXPECT_FALSE(store::open(info_for(dir), &error));
  EXPECT_TRUE(contains(error, dir.db())) << error;
  EXPECT_TRUE(contains(error, "file is not a database (SQLITE_NOTADB)")) << error;
  std::ifstream in(dir.db(), std::ios::binary);
  std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, garbage);
}

TEST(StoreErrors, BadRecordsAreRefusedAndTheStoreGoesOn) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->add_tensor(tensor(-1, "neg")));
  EXPECT_TRUE(contains(s->last_error(), "negative id")) << s->last_error();
  EXPECT_FALSE(s->add_tensor(tensor(0, "")));
  EXPECT_TRUE(contains(s->last_error(), "empty name")) << s->last_error();
  alert a;
  a.type = alert_type(42);
  EXPECT_FALSE(s->add_alert(a));
  EXPECT_TRUE(contains(s->last_error(), "unknown type 42")) << s->last_error();
  EXPECT_FALSE(s->add_scalar(scalar_record{}));
  ASSERT_TRUE(s->add_tensor(tensor(0, "fine")));
  ASSERT_TRUE(s->add_samples(sample_of(1, 1)));
  ASSERT_TRUE(s->commit());
  reader r(dir.db());
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 1);
  EXPECT_EQ(r.integer("SELECT count(*) FROM alerts"), 0);
}

TEST(StoreErrors, RemovedRunDirectoryClosesTheStoreWithoutCrashing) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "a")));
  ASSERT_TRUE(s->add_samples(sample_of(1, 1)));
  ASSERT_TRUE(s->commit());
  std::filesystem::remove_all(dir.path());
  s->add_samples(sample_of(1, 2));  // may still land in the unlinked file; must not crash
  EXPECT_FALSE(s->commit());
  EXPECT_TRUE(contains(s->last_error(), "removed or replaced")) << s->last_error();
  EXPECT_FALSE(s->add_samples(sample_of(1, 3)));
  EXPECT_TRUE(contains(s->last_error(), "closed after an earlier error")) << s->last_error();
  EXPECT_FALSE(s->set_counters(run_counters{}));
  EXPECT_FALSE(s->commit());
  EXPECT_EQ(s->size_bytes(), 0u);
}

// A full disk, made real for one child process by a file-size limit: the writes fail with EFBIG
// (SIGXFSZ ignored, as ENOSPC would fail them), the store reports it and the process lives on; the
// file keeps every transaction that was committed before.
TEST(StoreErrors, FullDiskFailsCleanlyAndKeepsCommittedData) {
  temp_run_dir dir;
  sample_of(1, 0);  // computes the shared summary here: the child must not start the executor
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{1 << 20, 1 << 20};
    setrlimit(RLIMIT_FSIZE, &limit);
    std::string error;
    std::unique_ptr<store> s = store::open(info_for(dir), &error);
    if (!s) _exit(2);
    for (int t = 0; t < 100; ++t)
      s->add_tensor(tensor(t, std::string("t").append(std::to_string(t))));
    s->commit();
    uint32_t committed = 0;
    for (int step = 0; step < 1000; ++step) {
      if (!s->add_samples(sample_of(100, step)) || !s->commit()) break;
      ++committed;
      if (write(fds[1], &committed, sizeof committed) < 0) _exit(4);
    }
    std::string last = s->last_error();
    // Everything after the failure must fail or succeed quietly, never bring the process down.
    s->add_samples(sample_of(100, 5000));
    s->commit();
    s.reset();
    uint32_t marker = 0xffffffffu;
    if (write(fds[1], &marker, sizeof marker) < 0 || write(fds[1], last.data(), last.size()) < 0)
      _exit(4);
    _exit(last.empty() ? 5 : 0);
  }
  close(fds[1]);
  uint32_t committed = 0, v = 0;
  std::string tail;
  bool in_tail = false;
  for (;;) {
    if (!in_tail) {
      if (read(fds[0], &v, sizeof v) != sizeof v) break;
      if (v == 0xffffffffu) {
        in_tail = true;
      } else {
        committed = v;
      }
    } else {
      char buf[512];
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      tail.append(buf, size_t(n));
    }
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the writer died of signal " << WTERMSIG(status);
  ASSERT_EQ(WEXITSTATUS(status), 0) << "exit " << WEXITSTATUS(status) << ": " << tail;
  std::printf("after %u commits: %s\n", committed, tail.c_str());
  EXPECT_GT(committed, 0u);
  EXPECT_LT(committed, 1000u) << "the file-size limit never bit";
  EXPECT_TRUE(contains(tail, dir.db())) << tail;
  // EFBIG is an I/O error to SQLite; a real ENOSPC reads "database or disk is full".
  EXPECT_TRUE(contains(tail, "SQLITE_IOERR_WRITE") || contains(tail, "SQLITE_FULL")) << tail;

  reader r(dir.db());
  EXPECT_EQ(r.rows("PRAGMA integrity_check")[0][0], "ok");
  EXPECT_GE(r.integer("SELECT count(*) FROM samples_v"), int64_t(committed) * 100);
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v") % 100, 0);  // whole transactions only
}

// ---- One writer per file, retries, closing ----

// Each writer has its own file: rank 0's first writer ttap.db, other ranks ttap.rank-R.db, and a
// second live writer of a rank (the hooks next to the program's session) ttap.rank-R.2.db, with
// tensor ids that do not collide with the first writer's.
TEST(StoreFiles, EveryWriterHasItsOwnFile) {
  temp_run_dir dir;
  auto first = open_store(info_for(dir, 0));
  auto second = open_store(info_for(dir, 0));
  auto rank1 = open_store(info_for(dir, 1));
  ASSERT_TRUE(first && second && rank1);
  EXPECT_EQ(first->path(), dir.path() + "/ttap.db");
  EXPECT_EQ(second->path(), dir.path() + "/ttap.rank-0.2.db");
  EXPECT_EQ(rank1->path(), dir.path() + "/ttap.rank-1.db");
  for (store *s : {first.get(), second.get(), rank1.get()}) {
    ASSERT_TRUE(s->add_tensor(tensor(0, "w")));
    ASSERT_TRUE(s->add_samples(sample_of(1, 1)));
    ASSERT_TRUE(s->commit()) << s->last_error();
  }
  reader r0(dir.db()), r2(dir.path() + "/ttap.rank-0.2.db");
  EXPECT_EQ(r0.integer("SELECT max(id) FROM tensors"), 0);
  EXPECT_EQ(r2.integer("SELECT min(id) FROM tensors"), int64_t(64) << 20);  // writer 2's range
  // Closed, the first writer's name is free again: a later writer (mode=append) takes it.
  first.reset();
  run_info again = info_for(dir, 0);
  again.append = true;
  auto third = open_store(again);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->path(), dir.path() + "/ttap.db");
}

// Another process holding the write lock (a script writing to the file) neither stalls the writer
// nor costs a row: the write fails fast, the rows stay pending, and once the lock is released they
// are written, with the failure counted in run_counters.
TEST(StoreFiles, ALockedFileIsRetriedAndNothingIsLost) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "w")));
  ASSERT_TRUE(s->commit());
  reader locker(dir.db(), /*writable=*/true);
  ASSERT_TRUE(locker.exec("BEGIN IMMEDIATE"));
  ASSERT_TRUE(s->add_samples(sample_of(1, 1)));
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(s->commit());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  EXPECT_TRUE(contains(s->last_error(), "SQLITE_BUSY")) << s->last_error();
  EXPECT_TRUE(contains(s->last_error(), "retried")) << s->last_error();
  ASSERT_TRUE(s->add_samples(sample_of(1, 2)));
  EXPECT_FALSE(s->commit(/*now=*/false));  // backing off: no new try, no wait
  ASSERT_TRUE(locker.exec("COMMIT"));
  ASSERT_TRUE(s->commit()) << s->last_error();
  reader r(dir.db());
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 2);
  EXPECT_EQ(r.integer("SELECT store_failures FROM run_counters"), 1);
  EXPECT_EQ(r.integer("SELECT records_lost FROM run_counters"), 0);
  auto failure = r.rows("SELECT first_store_failure FROM run_counters");
  ASSERT_EQ(failure.size(), 1u);
  ASSERT_TRUE(failure[0][0]);
  EXPECT_TRUE(contains(*failure[0][0], "database is locked")) << *failure[0][0];
}

// Closing folds the WAL into the database file and marks the session closed: a copy of ttap.db
// alone holds the whole run, even while a reader keeps the file open.
TEST(StoreFiles, ClosingLeavesTheWholeRunInTheDatabaseFile) {
  temp_run_dir dir, copy;
  {
    auto s = open_store(info_for(dir));
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->add_tensor(tensor(0, "w")));
    for (int step = 0; step < 50; ++step) {
      ASSERT_TRUE(s->add_samples(sample_of(1, step)));
      ASSERT_TRUE(s->commit());
    }
    reader during(dir.db());
    EXPECT_EQ(during.integer("SELECT count(*) FROM run_info WHERE end_time IS NULL"), 1);
    EXPECT_TRUE(s->close()) << s->last_error();
    EXPECT_EQ(during.integer("SELECT count(*) FROM samples"), 50);
    std::filesystem::copy_file(dir.db(), copy.db());
  }
  reader r(copy.db());
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 50);
  EXPECT_EQ(r.integer("SELECT count(*) FROM run_info WHERE end_time IS NOT NULL"), 1);
}

// A reader inside a read at close holds the checkpoint back: the store waits for it (retrying with
// backoff), and when the read ends in time the database file alone still holds the whole run.
TEST(StoreFiles, CloseWaitsForAReaderInsideAReadThenCheckpoints) {
  temp_run_dir dir, copy;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "w")));
  for (int step = 0; step < 20; ++step) ASSERT_TRUE(s->add_samples(sample_of(1, step)));
  ASSERT_TRUE(s->commit());
  reader during(dir.db());
  ASSERT_TRUE(during.exec("BEGIN"));
  ASSERT_EQ(during.integer("SELECT count(*) FROM samples"), 20);  // the read holds a snapshot
  std::thread end_read([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    during.exec("COMMIT");
  });
  EXPECT_TRUE(s->close()) << s->last_error();
  EXPECT_TRUE(s->folded()) << s->last_error();
  end_read.join();
  std::error_code ec;
  EXPECT_EQ(std::filesystem::file_size(dir.db() + "-wal", ec), 0u);  // truncated
  std::filesystem::copy_file(dir.db(), copy.db());
  reader r(copy.db());
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 20);
  EXPECT_EQ(r.integer("SELECT count(*) FROM run_info WHERE end_time IS NOT NULL"), 1);
  EXPECT_EQ(r.integer("SELECT store_failures FROM run_counters"), 0);
}

// A reader that stays inside its read through the whole close: the checkpoint cannot finish. The
// close gives up after a bounded time and says so (folded() false, the message naming the WAL to
// keep); nothing is lost: the database file and its WAL together hold the closed run.
TEST(StoreFiles, ACheckpointAReaderHeldBackIsReportedAndNothingIsLost) {
  temp_run_dir dir;
  auto s = open_store(info_for(dir));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_tensor(tensor(0, "w")));
  for (int step = 0; step < 20; ++step) ASSERT_TRUE(s->add_samples(sample_of(1, step)));
  ASSERT_TRUE(s->commit());
  {
    reader during(dir.db());
    ASSERT_TRUE(during.exec("BEGIN"));
    ASSERT_EQ(during.integer("SELECT count(*) FROM samples"), 20);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(s->close()) << s->last_error();                                    // nothing lost
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // bounded
    EXPECT_FALSE(s->folded());
    EXPECT_TRUE(contains(s->last_error(), "could not be checkpointed into ttap.db"))
        << s->last_error();
    EXPECT_TRUE(contains(s->last_error(), "a reader was inside a read")) << s->last_error();
    EXPECT_TRUE(contains(s->last_error(), "keep ttap.db-wal")) << s->last_error();
    EXPECT_TRUE(during.exec("COMMIT"));
  }
  EXPECT_GT(std::filesystem::file_size(dir.db() + "-wal"), 0u);
  reader r(dir.db());
  EXPECT_EQ(r.integer("SELECT count(*) FROM samples_v"), 20);
  EXPECT_EQ(r.integer("SELECT count(*) FROM run_info WHERE end_time IS NOT NULL"), 1);
  EXPECT_EQ(r.integer("SELECT records_lost + store_failures FROM run_counters"), 0);
}

// One run per directory: a directory holding a run that no writer is writing is refused with a
// message naming the ways out; mode=append adds a session to it.
TEST(StoreFiles, ADirectoryWithAnEarlierRunIsRefusedUnlessAppending) {
  temp_run_dir dir;
  {
    auto s = open_store(info_for(dir));
    ASSERT_TRUE(s);
  }
  std::string error;
  EXPECT_FALSE(store::open(info_for(dir), &error));
  EXPECT_TRUE(contains(error, "already holds a run (ttap.db)")) << error;
  EXPECT_TRUE(contains(error, "ttap run --force")) << error;
  EXPECT_TRUE(contains(error, "mode=append")) << error;
  EXPECT_FALSE(store::open(info_for(dir, 1), &error));  // another rank of a finished run too
  run_info append = info_for(dir);
  append.append = true;
  auto s = open_store(append);
  ASSERT_TRUE(s);
  // While it is live, other ranks join it without mode=append.
  EXPECT_TRUE(open_store(info_for(dir, 1)));
}

}  // namespace
}  // namespace ttap
