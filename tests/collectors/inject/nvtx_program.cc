// An NVTX-instrumented NCCL program (stand-in NCCL) for the NVTX injection tests: nested default-
// domain ranges, a range of its own domain (not part of the path), a registered-string range, a
// second thread with its own stack, and a "train_step" range around each step.
// usage: nvtx_program STEPS [--repeat | --late]
//   --repeat: reduce the layer3 buffer twice per step
//   --late: hooked calls (an NVTX range around a grouped all-reduce) also from a thread_local's
//           destructor at a worker thread's exit and from an atexit handler, both after the
//           thread's own NVTX and NCCL state was first used (so after its TLS destructors)
#include <nvtx3/nvToolsExt.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "nccl_standin.h"

namespace {

ncclComm_t g_comm = nullptr;
std::atomic<int> g_late_bad{0};
float g_late[32], g_late_out[32];

// A range and a grouped all-reduce, as a framework's cleanup code might make them.
void late_calls(const char *range) {
  nvtxRangePushA(range);
  int bad = ncclGroupStart() != ncclSuccess;
  bad +=
      ncclAllReduce(g_late, g_late_out, 32, ncclFloat32, ncclSum, g_comm, nullptr) != ncclSuccess;
  bad += ncclGroupEnd() != ncclSuccess;
  nvtxRangePop();
  g_late_bad += bad;
}

// Constructed before the thread's first NVTX call, so destroyed after tensortap's thread state.
struct late_at_thread_exit {
  bool armed = false;
  ~late_at_thread_exit() {
    if (armed) late_calls("late_thread_exit");
  }
};

void late_at_exit() {
  late_calls("late_atexit");
  std::printf("nvtx_program: late calls made, %d bad\n", g_late_bad.load());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 3;
  const bool repeat = argc > 2 && !std::strcmp(argv[2], "--repeat");
  const bool late = argc > 2 && !std::strcmp(argv[2], "--late");
  ncclUniqueId id;
  ncclComm_t comm = nullptr;
  ncclGetUniqueId(&id);
  if (ncclCommInitRank(&comm, 1, id, 0) != ncclSuccess) return 1;
  g_comm = comm;
  if (late) std::atexit(late_at_exit);
  static float layer3[100], hidden[50], bucket[25], worker[10], out[100];
  nvtxDomainHandle_t domain = nvtxDomainCreateA("mylib");
  nvtxStringHandle_t bucket_name = nvtxDomainRegisterStringA(nullptr, "bucket");
  int bad = 0;
  for (int step = 0; step < steps; ++step) {
    for (float &x : layer3) x = 1.0f + step;
    nvtxRangePushA("train_step");
    nvtxRangePushA("forward");
    nvtxRangePushA("layer3");
    bad += ncclAllReduce(layer3, out, 100, ncclFloat32, ncclSum, comm, nullptr) != ncclSuccess;
    if (repeat)
      bad += ncclAllReduce(layer3, out, 100, ncclFloat32, ncclSum, comm, nullptr) != ncclSuccess;
    nvtxRangePop();
    nvtxRangePop();

    nvtxEventAttributes_t a{};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = "hidden";
    nvtxDomainRangePushEx(domain, &a);
    bad += ncclAllReduce(hidden, out, 50, ncclFloat32, ncclSum, comm, nullptr) != ncclSuccess;
    nvtxDomainRangePop(domain);

    nvtxRangePushA("backward");
    nvtxEventAttributes_t r{};
    r.version = NVTX_VERSION;
    r.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    r.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    r.message.registered = bucket_name;
    nvtxRangePushEx(&r);
    bad += ncclAllReduce(bucket, out, 25, ncclFloat32, ncclSum, comm, nullptr) != ncclSuccess;
    nvtxRangePop();
    nvtxRangePop();

    std::thread t([&] {
      thread_local late_at_thread_exit late_guard;
      late_guard.armed = late;
      if (late) late_calls("worker_group");
      nvtxRangePushA("worker");
      bad += ncclAllReduce(worker, out, 10, ncclFloat32, ncclSum, comm, nullptr) != ncclSuccess;
      nvtxRangePop();
    });
    t.join();
    nvtxRangePop();  // train_step
  }
  // With --late the communicator stays: the atexit handler still reduces on it.
  if (!late) ncclCommDestroy(comm);
  std::printf("nvtx_program: %d steps, %d bad\n", steps, bad);
  return bad;
}
