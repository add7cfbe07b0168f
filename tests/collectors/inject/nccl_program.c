/* An NCCL program for the hook tests, linked against the stand-in NCCL (one rank, host buffers).
 * It checks itself that every call reached NCCL with its arguments unchanged and returned NCCL's
 * result, and prints a line per check, so a run under the hooks must print exactly what a run
 * without them prints. It also defines cudaStreamIsCapturing and cudaGetLastError, as a CUDA
 * program would get them from cudart, to stage graph capture (stream 0xCA97) and a failing query
 * (stream 0xBAD).
 * usage: nccl_program basic STEPS | capture | wait HANDLER STOP_FILE | group_left_open THREADS
 * wait: a few collectives, "ready", then waits (at most 20 s) for STOP_FILE to exist; HANDLER 1
 * installs a SIGUSR1 handler of its own first (it must still run when the hooks dump on SIGUSR1).
 * group_left_open: THREADS threads, one after another, each starts a group, all-reduces in it and
 * exits without ending it; then the main thread runs one complete group.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nccl_standin.h"

static int g_failures;
static int g_errors_cleared;

/* The CUDA runtime functions the interposer looks up in the process. */
__attribute__((visibility("default"))) int cudaStreamIsCapturing(void *stream, int *status) {
  if (stream == (void *)0xBAD) return 35; /* cudaErrorInsufficientDriver */
  *status = stream == (void *)0xCA97 ? 1 : 0;
  return 0;
}

__attribute__((visibility("default"))) int cudaGetLastError(void) {
  ++g_errors_cleared;
  return 0;
}

static void expect(int ok, const char *what) {
  if (!ok) {
    printf("FAILED: %s\n", what);
    ++g_failures;
  }
}

/* The stand-in saw exactly these arguments. */
static void expect_args(const char *fn, const void *send, void *recv, size_t count, int dtype,
                        ncclComm_t comm, void *stream) {
  const struct standin_call *c = standin_last_call();
  char what[128];
  snprintf(what, sizeof what, "%s arguments reached NCCL unchanged", fn);
  expect(c->fn && !strcmp(c->fn, fn) && c->send == send && c->recv == recv && c->count == count &&
             c->dtype == dtype && c->comm == comm && c->stream == stream,
         what);
}

static int basic(int steps) {
  ncclUniqueId id;
  ncclComm_t comm = NULL;
  expect(ncclGetUniqueId(&id) == ncclSuccess, "ncclGetUniqueId");
  expect(ncclCommInitRank(&comm, 1, id, 0) == ncclSuccess && comm, "ncclCommInitRank");
  void *stream = (void *)0x5157; /* an opaque cudaStream_t: the stand-in never dereferences it */
  static float a[1000], ra[1000], c[256], rc[256], g[8], rg[8], s[16], r[16];
  static uint16_t half[512];
  static double d[64], rd[64];
  double checksum = 0;
  for (int step = 0; step < steps; ++step) {
    for (int i = 0; i < 1000; ++i) a[i] = (float)(i % 10) - 4.5f + (float)step;
    for (int i = 0; i < 512; ++i) half[i] = 0x3C00; /* 1.0 in fp16 */
    for (int i = 0; i < 256; ++i) c[i] = (float)i;
    for (int i = 0; i < 64; ++i) d[i] = -1.0 * step;
    expect(ncclAllReduce(a, ra, 1000, ncclFloat32, ncclSum, comm, stream) == ncclSuccess,
           "allreduce");
    expect_args("ncclAllReduce", a, ra, 1000, ncclFloat32, comm, stream);
    expect(!memcmp(a, ra, sizeof a), "allreduce result");
    expect(ncclAllReduce(half, half, 512, ncclFloat16, ncclAvg, comm, stream) == ncclSuccess,
           "in-place allreduce");
    expect_args("ncclAllReduce", half, half, 512, ncclFloat16, comm, stream);
    expect(ncclReduceScatter(c, rc, 256, ncclFloat32, ncclSum, comm, stream) == ncclSuccess,
           "reduce_scatter");
    expect_args("ncclReduceScatter", c, rc, 256, ncclFloat32, comm, stream);
    expect(ncclReduce(d, rd, 64, ncclFloat64, ncclSum, 0, comm, stream) == ncclSuccess, "reduce");
    expect_args("ncclReduce", d, rd, 64, ncclFloat64, comm, stream);
    expect(rd[63] == -1.0 * step, "reduce result");
    expect(ncclAllGather(g, rg, 8, ncclFloat32, comm, stream) == ncclSuccess, "allgather");
    expect(ncclBroadcast(g, rg, 8, ncclFloat32, 0, comm, stream) == ncclSuccess, "broadcast");
    expect(ncclGroupStart() == ncclSuccess, "group start");
    for (int i = 0; i < 16; ++i) s[i] = (float)(step * 16 + i);
    expect(ncclSend(s, 16, ncclFloat32, 0, comm, stream) == ncclSuccess, "send");
    expect(ncclRecv(r, 16, ncclFloat32, 0, comm, stream) == ncclSuccess, "recv");
    expect(ncclGroupEnd() == ncclSuccess, "group end");
    expect(!memcmp(s, r, sizeof s), "send/recv result");
    for (int i = 0; i < 1000; ++i) checksum += ra[i];
    for (int i = 0; i < 256; ++i) checksum += rc[i];
  }
  /* NCCL's errors come back as NCCL returned them. */
  expect(ncclAllReduce(a, ra, SIZE_MAX, ncclFloat32, ncclSum, comm, stream) == ncclInvalidArgument,
         "error code passes through");
  expect(ncclAllReduce(a, ra, 4, ncclFloat32, ncclSum, NULL, stream) == ncclInvalidArgument,
         "NULL communicator error passes through");
  expect(ncclGroupEnd() == ncclInvalidUsage, "unbalanced group end error passes through");
  ncclComm_t sub = NULL;
  expect(ncclCommSplit(comm, 0, 0, &sub, NULL) == ncclSuccess && sub, "split");
  expect(ncclAllReduce(c, rc, 256, ncclFloat32, ncclSum, sub, stream) == ncclSuccess,
         "allreduce on the split communicator");
  expect(ncclCommDestroy(sub) == ncclSuccess, "destroy split");
  expect(ncclCommDestroy(comm) == ncclSuccess, "destroy");
  printf("checksum %.1f\n", checksum);
  return g_failures;
}

static int capture(void) {
  ncclUniqueId id;
  ncclComm_t comm = NULL;
  ncclGetUniqueId(&id);
  expect(ncclCommInitRank(&comm, 1, id, 0) == ncclSuccess, "init");
  static float a[64], ra[64], b[32], rb[32];
  for (int i = 0; i < 64; ++i) a[i] = 1.0f;
  for (int i = 0; i < 32; ++i) b[i] = 2.0f;
  /* Captured into a graph: nothing runs now, so nothing may be summarized now. */
  expect(ncclAllReduce(a, ra, 64, ncclFloat32, ncclSum, comm, (void *)0xCA97) == ncclSuccess,
         "captured allreduce");
  /* A stream CUDA cannot answer for: not capturing, and the error is cleared. */
  expect(ncclAllReduce(b, rb, 32, ncclFloat32, ncclSum, comm, (void *)0xBAD) == ncclSuccess,
         "allreduce on an unanswerable stream");
  ncclCommDestroy(comm);
  printf("capture done\n");
  /* stderr, so that stdout is the same with and without the hooks */
  fprintf(stderr, "errors cleared: %d\n", g_errors_cleared);
  return g_failures;
}

static volatile sig_atomic_t g_handler_ran;
static void on_usr1(int sig) {
  (void)sig;
  g_handler_ran = 1;
}

static int wait_for_stop(int handler, const char *stop_file) {
  if (handler) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
  }
  ncclUniqueId id;
  ncclComm_t comm = NULL;
  ncclGetUniqueId(&id);
  expect(ncclCommInitRank(&comm, 1, id, 0) == ncclSuccess, "init");
  static float a[32], ra[32];
  for (int i = 0; i < 3; ++i)
    expect(ncclAllReduce(a, ra, 32, ncclFloat32, ncclSum, comm, NULL) == 0, "allreduce");
  printf("ready\n");
  fflush(stdout);
  for (int i = 0; i < 400 && access(stop_file, F_OK) != 0; ++i) {
    struct timespec t = {0, 50 * 1000 * 1000};
    nanosleep(&t, NULL);
  }
  if (g_handler_ran) printf("handler ran\n");
  ncclCommDestroy(comm);
  return g_failures;
}

static ncclComm_t g_open_group_comm;

static void *leave_group_open(void *arg) {
  static float a[64], ra[64], b[128], rb[128];
  (void)arg;
  for (int i = 0; i < 64; ++i) a[i] = 1.0f;
  for (int i = 0; i < 128; ++i) b[i] = 2.0f;
  expect(ncclGroupStart() == ncclSuccess, "group start on a thread");
  expect(ncclAllReduce(a, ra, 64, ncclFloat32, ncclSum, g_open_group_comm, NULL) == ncclSuccess,
         "allreduce in a group left open");
  expect(ncclAllReduce(b, rb, 128, ncclFloat32, ncclSum, g_open_group_comm, NULL) == ncclSuccess,
         "second allreduce in a group left open");
  return NULL; /* no ncclGroupEnd */
}

static int group_left_open(int threads) {
  ncclUniqueId id;
  ncclGetUniqueId(&id);
  expect(ncclCommInitRank(&g_open_group_comm, 1, id, 0) == ncclSuccess, "init");
  for (int t = 0; t < threads; ++t) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, leave_group_open, NULL) != 0) return 3;
    pthread_join(thread, NULL);
    /* The stand-in counts groups for the whole process: this closes the thread's one. */
    expect(ncclGroupEnd() == ncclSuccess, "stand-in group closed");
  }
  static float c[32], rc[32];
  for (int i = 0; i < 32; ++i) c[i] = 3.0f;
  expect(ncclGroupStart() == ncclSuccess, "group start");
  expect(ncclAllReduce(c, rc, 32, ncclFloat32, ncclSum, g_open_group_comm, NULL) == ncclSuccess,
         "allreduce in a complete group");
  expect(ncclGroupEnd() == ncclSuccess, "group end");
  expect(rc[31] == 3.0f, "complete group's result");
  ncclCommDestroy(g_open_group_comm);
  printf("group_left_open: %d threads, %d failures\n", threads, g_failures);
  return g_failures;
}

int main(int argc, char **argv) {
  if (argc >= 4 && !strcmp(argv[1], "wait")) return wait_for_stop(atoi(argv[2]), argv[3]);
  if (argc >= 3 && !strcmp(argv[1], "basic")) return basic(atoi(argv[2]));
  if (argc >= 2 && !strcmp(argv[1], "capture")) return capture();
  if (argc >= 3 && !strcmp(argv[1], "group_left_open")) return group_left_open(atoi(argv[2]));
  fprintf(stderr,
          "usage: nccl_program basic STEPS | capture | wait HANDLER STOP_FILE | "
          "group_left_open THREADS\n");
  return 2;
}
