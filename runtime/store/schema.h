// The store's SQL schema and its version (PRAGMA user_version). Documented for users in SCHEMA.md;
// any change to the tables or views here bumps kSchemaVersion and SCHEMA.md together.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ttap {

inline constexpr int kSchemaVersion = 4;
// Every later version only added to version 1, so readers read all of them.
inline constexpr int kOldestReadableSchemaVersion = 1;

// The one version rule. `version` is the file's PRAGMA user_version and `schema_objects` the
// number of entries in its sqlite_schema. A writer takes an empty file (version 0, no objects) or
// kSchemaVersion; a reader any version from kOldestReadableSchemaVersion to kSchemaVersion.
// Returns why `path` cannot be used, or nullopt.
std::optional<std::string> schema_version_problem(const std::string &path, int64_t version,
                                                  int64_t schema_objects, bool for_writing);

// The columns of the samples table, in the order the writer binds them (parameter k + 1) and the
// reader reads them (after its own leading columns).
enum sample_column : int {
  kSampleRank,
  kSampleStep,
  kSampleTime,
  kSampleTensorId,
  kSampleCount,
  kSampleNan,
  kSamplePosInf,
  kSampleNegInf,
  kSampleZero,
  kSampleSubnormal,
  kSampleMin,
  kSampleMax,
  kSampleAbsMax,
  kSampleSum,
  kSampleSumSq,
  kSampleSumSqExp2,
  kSampleSumAbs,
  kSampleFingerprint,
  kSampleHist,
  kSampleColumnCount
};

// "rank, step, ..." in sample_column order, each name prefixed with `prefix` (e.g. "s.").
std::string sample_column_list(const char *prefix);

// Tables, indexes and views of version kSchemaVersion, for an empty database (one script).
const char *schema_sql();

}  // namespace ttap
