// TensorBoard export: one event file per rank, written record by record in TFRecord framing. The
// values of one sample (every tensor at one step) go in one Event, the way a training script's
// summary writer would group them, which keeps the files and TensorBoard's loading small.
#include "tools/export/tensorboard_export.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "tools/export/output_file.h"
#include "tools/export/run_export.h"
#include "tools/export/tfrecord_writer.h"

namespace ttap::exports {
namespace {

namespace fs = std::filesystem;

// One rank's event file, and the Event being filled with the values of its current sample.
struct rank_stream {
  output_file file;
  tfrecord_writer writer{&file};
  summary_event pending;
  int64_t pending_step = 0;
  double pending_time = 0;

  void flush_pending() {
    if (pending.empty()) return;
    writer.write(pending.encode(pending_time, pending_step));
    pending.clear();
  }
};

std::string local_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::string tensor_tag(const sample_row &row) {
  return row.tensor.empty() ? "tensor_" + std::to_string(row.tensor_id) : row.tensor;
}

void add_sample(const sample_row &row, summary_event *event) {
  const std::string tag = tensor_tag(row);
  if (row.l2) event->add_scalar(tag + "/l2", float(*row.l2));
  if (row.abs_max) event->add_scalar(tag + "/abs_max", float(*row.abs_max));
  event->add_scalar(tag + "/nonfinite", float(row.nonfinite()));
  if (row.mean) event->add_scalar(tag + "/mean", float(*row.mean));
  if (row.std) event->add_scalar(tag + "/std", float(*row.std));
  if (row.hist) {
    if (auto h = exponent_histogram_proto(*row.hist)) event->add_histogram(tag + "/exp_hist", *h);
  }
}

// Every session of a rank has the same host in practice; the earliest start names the file.
struct rank_origin {
  double start_time = 0;
  std::string host;
};

class tensorboard_exporter {
 public:
  tensorboard_exporter(const std::string &out_dir, export_progress *progress)
      : m_out_dir(out_dir), m_progress(progress) {}

  bool run(run_reader &run, std::string *error) {
    std::vector<run_session_info> sessions;
    std::vector<scalar_row> scalars;
    std::vector<alert_row> alerts;
    // The small tables first: a database error then costs no half-written directory.
    if (!run.sessions(&sessions) || !run.scalars("", &scalars) || !run.alerts(nullptr, &alerts)) {
      *error = run.last_error();
      return false;
    }
    std::set<int32_t> ranks;
    for (const auto &s : sessions) {
      ranks.insert(s.rank);
      m_per_rank |= s.world > 1;
      auto [it, added] = m_origins.try_emplace(s.rank, rank_origin{s.start_time, s.host});
      if (!added && s.start_time < it->second.start_time) it->second = {s.start_time, s.host};
      if (!m_have_default || s.start_time < m_default_origin.start_time) {
        m_default_origin = {s.start_time, s.host};
        m_have_default = true;
      }
    }
    m_per_rank |= ranks.size() > 1;
    if (!m_have_default) m_default_origin = {0, ""};

    std::error_code ec;
    fs::create_directories(m_out_dir, ec);
    if (ec || !fs::is_directory(m_out_dir, ec)) {
      *error = m_out_dir + ": cannot create the output directory" +
               (ec ? ": " + ec.message() : std::string(": not a directory"));
      return false;
    }
    // Open the files of every rank the sessions name now, so a rank without data still shows up
    // (and a run without samples still gets its file).
    for (int32_t r : ranks)
      if (!stream_for(r, error)) return false;
    if (ranks.empty() && !stream_for(0, error)) return false;

    const bool read = for_each_sample_batch(
        run, true,
        [&](const std::vector<sample_row> &batch) {
          for (const auto &row : batch) {
            rank_stream *s = stream_for(row.rank, error);
            if (!s) return false;
            if (!s->pending.empty() && row.step != s->pending_step) s->flush_pending();
            if (s->pending.empty()) {
              s->pending_step = row.step;
              s->pending_time = row.time;
            }
            add_sample(row, &s->pending);
            m_progress->sample_written();
          }
          return true;
        },
        error);
    if (!read) return false;
    for (auto &[rank, s] : m_streams) s->flush_pending();

    summary_event event;
    for (const auto &row : scalars) {
      rank_stream *s = stream_for(row.rank, error);
      if (!s) return false;
      event.clear();
      event.add_scalar("scalars/" + row.name, row.value ? float(*row.value) : NAN);
      s->writer.write(event.encode(row.time, row.step));
      m_progress->scalar_written();
    }
    for (const auto &row : alerts) {
      rank_stream *s = stream_for(row.rank, error);
      if (!s) return false;
      event.clear();
      event.add_text("alerts", "**" + row.type + "** `" + row.tensor + "`: " + row.message);
      s->writer.write(event.encode(row.time, row.step));
      m_progress->alert_written();
    }
    for (auto &[rank, s] : m_streams)
      if (!s->file.commit(error)) return false;
    return true;
  }

 private:
  // The stream rows of `rank` go to, opened (with its file_version record) on first use. With a
  // single-rank layout every row goes to the one file.
  rank_stream *stream_for(int32_t rank, std::string *error) {
    const int32_t key = m_per_rank ? rank : 0;
    auto it = m_streams.find(key);
    if (it != m_streams.end()) return it->second.get();
    auto origin_it = m_origins.find(rank);
    const rank_origin &origin = origin_it != m_origins.end() ? origin_it->second : m_default_origin;
    fs::path dir = m_out_dir;
    if (m_per_rank) {
      dir /= "rank" + std::to_string(rank);
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) {
        *error = dir.string() + ": cannot create directory: " + ec.message();
        return nullptr;
      }
    }
    auto stream = std::make_unique<rank_stream>();
    const std::string host = origin.host.empty() ? local_host_name() : origin.host;
    if (!stream->file.open((dir / event_file_name(origin.start_time, host)).string(), error))
      return nullptr;
    stream->writer.write(encode_file_version_event(origin.start_time));
    return m_streams.emplace(key, std::move(stream)).first->second.get();
  }

  std::string m_out_dir;
  export_progress *m_progress;
  bool m_per_rank = false;
  std::map<int32_t, rank_origin> m_origins;
  rank_origin m_default_origin;
  bool m_have_default = false;
  std::map<int32_t, std::unique_ptr<rank_stream>> m_streams;
};

}  // namespace

std::optional<histogram_proto> exponent_histogram_proto(const exp_histogram &hist) {
  int first = -1, last = -1;
  for (int i = 0; i < kExpHistBins; ++i) {
    if (hist[i] == 0) continue;
    if (first < 0) first = i;
    last = i;
  }
  if (first < 0) return std::nullopt;
  histogram_proto h;
  h.min = first + kExpHistMin;
  h.max = last + kExpHistMin + 1;
  for (int i = first; i <= last; ++i) {
    const double e = i + kExpHistMin, count = double(hist[i]);
    h.bucket_limit.push_back(e + 1);
    h.bucket.push_back(count);
    h.num += count;
    h.sum += e * count;
    h.sum_squares += e * e * count;
  }
  return h;
}

std::string event_file_name(double start_time, const std::string &host) {
  std::string safe;
  for (char c : host) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
    safe.push_back(keep ? c : '_');
  }
  if (safe.empty()) safe = "localhost";
  // A stored start time may be anything (a corrupted store): only one a long long can hold is used.
  const bool usable = std::isfinite(start_time) && start_time > 0 && start_time < 9.0e18;
  const long long seconds = usable ? (long long)start_time : 0;
  return "events.out.tfevents." + std::to_string(seconds) + "." + safe;
}

bool export_tensorboard(run_reader &run, const std::string &out_dir, export_progress *progress,
                        std::string *error) {
  tensorboard_exporter exporter(out_dir, progress);
  return exporter.run(run, error);
}

}  // namespace ttap::exports
