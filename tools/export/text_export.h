// The CSV and JSONL exports (export_csv, export_jsonl in run_export.h) and their field encoding.
#pragma once

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "runtime/store/run_reader.h"

namespace ttap::exports {

// The CSV header: samples_v's columns, in its order.
inline constexpr const char *kCsvHeader =
    "rank,step,time,tensor,kind,dtype,count,nan,pos_inf,neg_inf,zero,subnormal,min,max,abs_max,"
    "sum,sum_sq,sum_abs,l2,mean,std";

// One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote, CR or LF.
std::string csv_field(std::string_view text);

// One sample as a CSV line (no newline); `tensor` may be null (never registered): empty cells.
std::string csv_row(const sample_row &row, const tensor_row *tensor);

}  // namespace ttap::exports
