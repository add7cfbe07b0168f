// Schema version 4 of the run store, as one SQL script. The samples table holds the summary exactly
// as computed (lossless, compact); the views derive what users read (names, l2, mean, std) so the
// derivation lives in one place and costs no bytes per row. Version 2 added groups: run_info's
// group columns, the per-rank tables rank 0 of a group writes, ranks_v, and the group alert types.
// Version 3 adds what tells a complete run from a damaged one: run_info.end_time (set at a clean
// close) and the store's own losses in run_counters (records_lost, store_failures). Version 4 adds
// the actions table and actions_v: what a response policy did (skip, dump, abort).
#include "runtime/store/schema.h"

namespace ttap {

std::optional<std::string> schema_version_problem(const std::string &path, int64_t version,
                                                  int64_t schema_objects, bool for_writing) {
  if (for_writing) {
    if (version == 0 && schema_objects != 0)
      return path + ": an SQLite database but not a tensortap run store (user_version 0, " +
             std::to_string(schema_objects) + " schema objects); use a new run directory";
    if (version != 0 && version != kSchemaVersion)
      return path + ": run store schema version " + std::to_string(version) +
             ", but this tensortap reads and writes version " + std::to_string(kSchemaVersion) +
             "; open it with a matching tensortap or use a new run directory";
    return std::nullopt;
  }
  if (version < kOldestReadableSchemaVersion || version > kSchemaVersion)
    return path + ": store schema version " + std::to_string(version) + ", this ttap reads versions " +
           std::to_string(kOldestReadableSchemaVersion) + " to " + std::to_string(kSchemaVersion) +
           (version == 0 ? " (not a tensortap store)" : "");
  return std::nullopt;
}

std::string sample_column_list(const char *prefix) {
  static constexpr const char *kNames[kSampleColumnCount] = {
      "rank",    "step", "time",    "tensor_id", "count",  "nan",         "pos_inf",
      "neg_inf", "zero", "subnormal", "min",     "max",    "abs_max",     "sum",
      "sum_sq",  "sum_sq_exp2", "sum_abs", "fingerprint", "hist"};
  std::string list;
  for (const char *name : kNames) {
    if (!list.empty()) list += ", ";
    list += prefix;
    list += name;
  }
  return list;
}

const char *schema_sql() {
  return R"sql(
CREATE TABLE run_info (
  session    INTEGER PRIMARY KEY,
  rank       INTEGER NOT NULL,
  world      INTEGER NOT NULL,
  options    TEXT NOT NULL,
  version    TEXT NOT NULL,
  host       TEXT NOT NULL,
  pid        INTEGER NOT NULL,
  start_time REAL NOT NULL,
  group_kind TEXT,
  group_size INTEGER,
  group_rank INTEGER,
  end_time   REAL
);

CREATE TABLE run_counters (
  session           INTEGER PRIMARY KEY,
  rank              INTEGER NOT NULL,
  time              REAL NOT NULL,
  samples_taken     INTEGER NOT NULL DEFAULT 0,
  samples_skipped   INTEGER NOT NULL DEFAULT 0,
  records_dropped   INTEGER NOT NULL DEFAULT 0,
  alerts_suppressed INTEGER NOT NULL DEFAULT 0,
  samples_rejected  INTEGER NOT NULL DEFAULT 0,
  first_rejection   TEXT,
  overhead_seconds  REAL NOT NULL DEFAULT 0,
  step_seconds      REAL NOT NULL DEFAULT 0,
  records_lost      INTEGER NOT NULL DEFAULT 0,
  store_failures    INTEGER NOT NULL DEFAULT 0,
  first_store_failure TEXT,
  device_seconds    REAL NOT NULL DEFAULT 0
);

CREATE TABLE tensors (
  rank  INTEGER NOT NULL,
  id    INTEGER NOT NULL,
  name  TEXT NOT NULL,
  kind  TEXT NOT NULL,
  dtype TEXT NOT NULL,
  numel INTEGER NOT NULL,
  PRIMARY KEY (rank, id)
) WITHOUT ROWID;

-- One row per tensor per sample, appended in sample order. Zero counts, NULLs and integral reals
-- take no payload bytes in SQLite's record format, which is what keeps a row near 150 bytes.
CREATE TABLE samples (
  rank        INTEGER NOT NULL,
  step        INTEGER NOT NULL,
  time        REAL NOT NULL,
  tensor_id   INTEGER NOT NULL,
  count       INTEGER NOT NULL,
  nan         INTEGER NOT NULL,
  pos_inf     INTEGER NOT NULL,
  neg_inf     INTEGER NOT NULL,
  zero        INTEGER NOT NULL,
  subnormal   INTEGER NOT NULL,
  min         REAL,
  max         REAL,
  abs_max     REAL,
  sum         REAL,
  sum_sq      REAL,
  sum_sq_exp2 INTEGER NOT NULL,
  sum_abs     REAL,
  fingerprint INTEGER,
  hist        BLOB NOT NULL
);
-- Steps grow in insertion order, so this index only ever appends: "every tensor at step N" (what
-- a NaN investigation asks) and following a live run stay cheap. An index by tensor would take
-- inserts at one place per tensor, rewriting ~1000 pages per commit; per-tensor history is a scan.
CREATE INDEX samples_by_step ON samples (step);

CREATE TABLE scalars (
  rank  INTEGER NOT NULL,
  step  INTEGER NOT NULL,
  time  REAL NOT NULL,
  name  TEXT NOT NULL,
  value REAL
);
CREATE INDEX scalars_by_name ON scalars (name, rank, step);

CREATE TABLE alerts (
  rank      INTEGER NOT NULL,
  step      INTEGER NOT NULL,
  time      REAL NOT NULL,
  tensor_id INTEGER,
  tensor    TEXT NOT NULL,
  type      TEXT NOT NULL
            CHECK (type IN ('nonfinite', 'spike', 'vanishing', 'fp8_range', 'loss_spike',
                            'nonfinite_source', 'divergence', 'outlier_rank', 'straggler')),
  message   TEXT NOT NULL
);

-- sum_sq and l2 undo the power-of-two scale of fp64 sums of squares (sum_sq_exp2, even in
-- practice). Each power of two is split in factors below 2^1024 and applied in one direction, so
-- the products are exact and overflow only when the result itself does: l2 is exact even where
-- sum_sq is past double's range (then NULL). With sum_sq_exp2 = 0 this is summary_finalize's
-- arithmetic to the bit; abs_max is stored only when it differs from max(-min, max).
CREATE VIEW samples_v AS
SELECT rank, step, time, tensor, kind, dtype, count, nan, pos_inf, neg_inf, zero, subnormal,
       min, max, abs_max, sum, sum_sq, sum_abs, l2,
       CASE WHEN finite > 0 THEN sum / finite END AS mean,
       CASE WHEN finite > 0
            THEN sqrt(max(sum_sq / finite - (sum / finite) * (sum / finite), 0.0)) END AS std
FROM (
  SELECT s.rank, s.step, s.time, t.name AS tensor, t.kind, t.dtype, s.count, s.nan, s.pos_inf,
         s.neg_inf, s.zero, s.subnormal, s.min, s.max,
         coalesce(s.abs_max, max(-s.min, s.max)) AS abs_max,
         s.sum,
         CASE WHEN s.sum_sq_exp2 = 0 THEN s.sum_sq
              ELSE nullif(s.sum_sq * pow(2.0, s.sum_sq_exp2 / 2)
                          * pow(2.0, s.sum_sq_exp2 - s.sum_sq_exp2 / 2), 9e999) END AS sum_sq,
         s.sum_abs,
         CASE WHEN s.sum_sq_exp2 = 0 THEN sqrt(s.sum_sq)
              ELSE sqrt(s.sum_sq * pow(2.0, s.sum_sq_exp2 % 2)) * pow(2.0, s.sum_sq_exp2 / 4)
                   * pow(2.0, s.sum_sq_exp2 / 2 - s.sum_sq_exp2 / 4) END AS l2,
         CAST(s.count - s.nan - s.pos_inf - s.neg_inf AS REAL) AS finite
  FROM samples AS s LEFT JOIN tensors AS t ON t.rank = s.rank AND t.id = s.tensor_id);

-- Written by rank 0 of a group (its rank is `writer`, whose tensors rows name the tensors): per
-- group sample one row per rank, and one row per present rank per tensor. Both only append, in
-- step order, like samples.
CREATE TABLE rank_steps (
  writer       INTEGER NOT NULL,
  step         INTEGER NOT NULL,
  time         REAL NOT NULL,
  rank         INTEGER NOT NULL,
  present      INTEGER NOT NULL,
  step_seconds REAL
);
CREATE INDEX rank_steps_by_step ON rank_steps (step);

CREATE TABLE rank_samples (
  writer      INTEGER NOT NULL,
  step        INTEGER NOT NULL,
  tensor_id   INTEGER NOT NULL,
  rank        INTEGER NOT NULL,
  l2          REAL,
  nonfinite   INTEGER NOT NULL,
  fingerprint INTEGER
);
CREATE INDEX rank_samples_by_step ON rank_samples (step);

CREATE VIEW ranks_v AS
SELECT r.step, t.name AS tensor, r.rank, r.l2, r.nonfinite, r.fingerprint
FROM rank_samples AS r LEFT JOIN tensors AS t ON t.rank = r.writer AND t.id = r.tensor_id;

-- What a response policy (on_nonfinite, on_spike) did: one row per skipped step, dump or abort.
CREATE TABLE actions (
  rank   INTEGER NOT NULL,
  step   INTEGER NOT NULL,
  time   REAL NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('skip', 'dump', 'abort')),
  reason TEXT NOT NULL,
  detail TEXT NOT NULL
);

CREATE VIEW actions_v AS
SELECT rank, step, time, action, reason, detail FROM actions;

CREATE VIEW alerts_v AS
SELECT rank, step, time, tensor, type, message FROM alerts;

CREATE VIEW scalars_v AS
SELECT rank, step, time, name, value FROM scalars;
)sql";
}

}  // namespace ttap
