// The NCCL telemetry communicator: split from the job's communicator, with its own stream and
// buffers on the session's GPU. Each collective stages the packed host buffer in pinned memory,
// copies it to the device, runs the NCCL call and copies the result back, all on the telemetry
// stream, then polls an event: the collector thread waits, the trainer's streams never do. NCCL's
// ABI is declared here (values from nccl.h, stable across NCCL 2.x), so libttap neither includes
// nor links NCCL; the functions are found in the process.
#include <chrono>
#include <cstring>
#include <thread>

#include "runtime/backends/device.h"
#include "runtime/group/group_comm.h"
#include "runtime/group/process_symbol.h"

extern "C" {
typedef struct ncclComm *ncclComm_t;
typedef int ncclResult_t;  // ncclSuccess = 0
typedef struct CUstream_st *cudaStream_t;
}

namespace ttap {
namespace {

constexpr ncclResult_t kNcclSuccess = 0;
constexpr int kNcclUint8 = 1;
constexpr int kNcclFloat64 = 8;
constexpr int kNcclSum = 0;
constexpr int kNcclMax = 2;
// ncclCommSplit's color for "every rank joins": one color, keys in the job's rank order.
constexpr int kSplitColor = 0x77a9;

struct nccl_api {
  ncclResult_t (*comm_split)(ncclComm_t, int, int, ncclComm_t *, void *) = nullptr;
  ncclResult_t (*comm_destroy)(ncclComm_t) = nullptr;
  ncclResult_t (*comm_count)(ncclComm_t, int *) = nullptr;
  ncclResult_t (*comm_user_rank)(ncclComm_t, int *) = nullptr;
  ncclResult_t (*all_reduce)(const void *, void *, size_t, int, int, ncclComm_t,
                             cudaStream_t) = nullptr;
  ncclResult_t (*all_gather)(const void *, void *, size_t, int, ncclComm_t, cudaStream_t) = nullptr;
  const char *(*error_string)(ncclResult_t) = nullptr;

  std::string resolve() {
    std::string missing;
    auto get = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(find_process_symbol(name));
      if (!fn && missing.empty()) missing = name;
    };
    get(comm_split, "ncclCommSplit");
    get(comm_destroy, "ncclCommDestroy");
    get(comm_count, "ncclCommCount");
    get(comm_user_rank, "ncclCommUserRank");
    get(all_reduce, "ncclAllReduce");
    get(all_gather, "ncclAllGather");
    get(error_string, "ncclGetErrorString");
    return missing;
  }

  std::string describe(const char *call, ncclResult_t rc) const {
    return std::string(call) + " failed (" + std::to_string(rc) + ": " +
           (error_string ? error_string(rc) : "?") + ")";
  }
};

class nccl_comm final : public group_comm {
 public:
  nccl_comm(const nccl_api &api, ncclComm_t comm, int rank, int size, device &dev)
      : m_api(api),
        m_comm(comm),
        m_rank(rank),
        m_size(size),
        m_device(dev),
        // The emulated device's streams are host threads an NCCL cannot enqueue on (only the
        // stand-in NCCL of the tests runs with it, and it works at once on host memory), so there
        // the staging copy is waited for before the call.
        m_stream_ordered(std::strcmp(dev.name(), "emulated") != 0) {}

  ~nccl_comm() override {
    if (m_stream) m_device.synchronize(m_stream);
    if (m_event) m_device.destroy_event(m_event);
    if (m_stream) m_device.destroy_stream(m_stream);
    if (m_buffer) m_device.free(m_buffer);
    if (m_pinned) m_device.free_pinned(m_pinned);
    m_api.comm_destroy(m_comm);
  }

  // The stream and event are made on the thread that sets the group up (the trainer's, whose
  // current device is the session's).
  bool prepare(std::string *error) {
    if (m_device.create_stream(&m_stream) != device_status::ok ||
        m_device.create_event(&m_event) != device_status::ok) {
      *error = "nccl group: " + m_device.last_error();
      return false;
    }
    return true;
  }

  const char *kind() const override { return "nccl"; }
  int rank() const override { return m_rank; }
  int size() const override { return m_size; }

  bool allreduce_sum(std::span<double> values, std::string *error) override {
    return allreduce(values, kNcclSum, error);
  }
  bool allreduce_max(std::span<double> values, std::string *error) override {
    return allreduce(values, kNcclMax, error);
  }

  bool allgather(std::span<const std::byte> mine, std::span<std::byte> out,
                 std::string *error) override {
    if (out.size() != mine.size() * size_t(m_size)) {
      *error = "allgather: output size does not match the group";
      return false;
    }
    // In place, as NCCL defines it: this rank's part already at its offset in the output.
    const size_t offset = mine.size() * size_t(m_rank);
    return run(mine.data(), mine.size(), offset, out.data(), out.size(), error, [&](void *buf) {
      return m_api.all_gather(static_cast<std::byte *>(buf) + offset, buf, mine.size(), kNcclUint8,
                              m_comm, static_cast<cudaStream_t>(m_stream));
    });
  }

 private:
  bool allreduce(std::span<double> values, int op, std::string *error) {
    const size_t bytes = values.size_bytes();
    return run(values.data(), bytes, 0, values.data(), bytes, error, [&](void *buf) {
      return m_api.all_reduce(buf, buf, values.size(), kNcclFloat64, op, m_comm,
                              static_cast<cudaStream_t>(m_stream));
    });
  }

  bool grow(size_t bytes, std::string *error) {
    if (m_thread != std::this_thread::get_id()) {
      if (m_device.use_on_this_thread() != device_status::ok) return device_failed(error);
      m_thread = std::this_thread::get_id();
    }
    if (bytes <= m_capacity) return true;
    if (m_buffer) m_device.free(m_buffer);
    if (m_pinned) m_device.free_pinned(m_pinned);
    m_buffer = m_pinned = nullptr;
    m_capacity = 0;
    if (m_device.alloc(&m_buffer, bytes) != device_status::ok ||
        m_device.alloc_pinned(&m_pinned, bytes) != device_status::ok)
      return device_failed(error);
    m_capacity = bytes;
    return true;
  }

  // Stages `in` at byte `offset` of the device buffer, runs `call` on the telemetry stream and
  // brings `out_bytes` back into `out`.
  template <class Call>
  bool run(const void *in, size_t in_bytes, size_t offset, void *out, size_t out_bytes,
           std::string *error, Call &&call) {
    if (!grow(std::max(offset + in_bytes, out_bytes), error)) return false;
    std::byte *pinned = static_cast<std::byte *>(m_pinned);
    std::byte *buffer = static_cast<std::byte *>(m_buffer);
    if (in_bytes) std::memcpy(pinned + offset, in, in_bytes);
    if (m_device.copy_to_device(buffer + offset, pinned + offset, in_bytes, m_stream) !=
        device_status::ok)
      return device_failed(error);
    if (!m_stream_ordered && m_device.synchronize(m_stream) != device_status::ok)
      return device_failed(error);
    if (ncclResult_t rc = call(m_buffer); rc != kNcclSuccess) {
      *error = m_api.describe("nccl collective", rc);
      return false;
    }
    if (m_device.copy_to_host(pinned, buffer, out_bytes, m_stream) != device_status::ok ||
        m_device.record_event(m_event, m_stream) != device_status::ok)
      return device_failed(error);
    // Polled with short sleeps, like the MPI requests: the collector waits, nobody spins.
    auto sleep = std::chrono::microseconds(10);
    for (int tries = 0;; ++tries) {
      device_status st = m_device.query_event(m_event);
      if (st == device_status::ok) break;
      if (st != device_status::not_ready) return device_failed(error);
      if (tries < 64) continue;
      std::this_thread::sleep_for(sleep);
      sleep = std::min(sleep * 2, std::chrono::microseconds(500));
    }
    if (out_bytes) std::memcpy(out, pinned, out_bytes);
    return true;
  }

  bool device_failed(std::string *error) {
    *error = "nccl group: " + m_device.last_error();
    return false;
  }

  nccl_api m_api;
  ncclComm_t m_comm;
  int m_rank, m_size;
  device &m_device;
  bool m_stream_ordered;
  stream_handle m_stream = nullptr;
  event_handle m_event = nullptr;
  void *m_buffer = nullptr;  // device memory
  void *m_pinned = nullptr;  // its staging copy in pinned host memory
  size_t m_capacity = 0;
  std::thread::id m_thread;  // the thread the device was made current on
};

}  // namespace

std::unique_ptr<group_comm> make_nccl_comm(void *job_comm, device &dev, ttap_status *status,
                                           std::string *error) {
  auto refuse = [&](ttap_status st, std::string message) -> std::unique_ptr<group_comm> {
    *status = st;
    *error = std::move(message);
    return nullptr;
  };
  nccl_api api;
  if (std::string missing = api.resolve(); !missing.empty())
    return refuse(TTAP_ERR_UNSUPPORTED,
                  "nccl group: " + missing + " not found in the process (is NCCL loaded?)");
  ncclComm_t job = static_cast<ncclComm_t>(job_comm);
  int job_rank = 0;
  if (ncclResult_t rc = api.comm_user_rank(job, &job_rank); rc != kNcclSuccess)
    return refuse(TTAP_ERR_INVALID_ARGUMENT, "nccl group: " + api.describe("ncclCommUserRank", rc));
  ncclComm_t telemetry = nullptr;
  if (ncclResult_t rc = api.comm_split(job, kSplitColor, job_rank, &telemetry, nullptr);
      rc != kNcclSuccess || !telemetry)
    return refuse(TTAP_ERR_INVALID_ARGUMENT, "nccl group: " + api.describe("ncclCommSplit", rc));
  int rank = 0, size = 0;
  if (ncclResult_t rc = api.comm_user_rank(telemetry, &rank);
      rc != kNcclSuccess || (rc = api.comm_count(telemetry, &size)) != kNcclSuccess) {
    api.comm_destroy(telemetry);
    return refuse(TTAP_ERR_INVALID_ARGUMENT, "nccl group: " + api.describe("ncclCommCount", rc));
  }
  auto comm = std::make_unique<nccl_comm>(api, telemetry, rank, size, dev);
  std::string why;
  if (!comm->prepare(&why)) return refuse(TTAP_ERR_CUDA, why);
  return comm;
}

}  // namespace ttap
