/* A reduce-heavy MPI program that knows nothing of tensortap, for the many-ranks tests of the
 * hooks: every step it all-reduces, reduces and non-blocking all-reduces buffers from 0 elements
 * to large ones (in place and not, floats and doubles), plants a NaN in rank 1's gradient bucket
 * at a chosen step, and can hold its own store file's write lock while it exits (what a monitoring
 * script writing to the store would do), the case that once crashed the process at exit.
 * usage: mpi_reduce_program STEPS NAN_STEP [RUN_DIR_TO_LOCK_AT_EXIT | --finalize-at-exit]
 * --finalize-at-exit: main returns without MPI_Finalize; an atexit handler registered before the
 * first reduction (so it runs after the exit handlers and static destructors registered since)
 * makes one more step of reductions and then calls MPI_Finalize.
 * MPI_REDUCE_STEP_MS=N sleeps N ms per step (a run long enough for a test to act during it);
 * MPI_REDUCE_SPIKE_STEP=N scales every rank's gradient bucket by 10^4 at step N. */
#include <dlfcn.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { kBig = 65536, kBucket = 8192 };

/* The connection that holds the lock, kept here so that it stays reachable until the process ends
 * (LeakSanitizer reported its allocations when only a local held it). */
static void *locked_store;

/* Holds the write lock of this rank's store file until the process ends: the hooks' exit handler
 * then finds it locked. sqlite3 is found at run time (the program does not link it). */
static void lock_store_at_exit(const char *run_dir, int rank) {
  void *lib = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    fprintf(stderr, "mpi_reduce_program: no libsqlite3: %s\n", dlerror());
    exit(4);
  }
  int (*open_db)(const char *, void **) = (int (*)(const char *, void **))dlsym(lib, "sqlite3_open");
  int (*exec)(void *, const char *, void *, void *, char **) =
      (int (*)(void *, const char *, void *, void *, char **))dlsym(lib, "sqlite3_exec");
  char path[4096];
  if (rank == 0)
    snprintf(path, sizeof path, "%s/ttap.db", run_dir);
  else
    snprintf(path, sizeof path, "%s/ttap.rank-%d.db", run_dir, rank);
  if (!open_db || !exec || open_db(path, &locked_store) != 0 ||
      exec(locked_store, "BEGIN IMMEDIATE", NULL, NULL, NULL) != 0) {
    fprintf(stderr, "mpi_reduce_program: cannot lock %s\n", path);
    exit(5);
  }
  /* The connection stays open (and the lock held) until the process is gone. */
}

static float *grad, *sum;
static double *big, *big_sum;

/* The last step and MPI_Finalize, from an exit handler. */
static void finalize_at_exit(void) {
  MPI_Allreduce(MPI_IN_PLACE, grad, kBucket, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(big, big_sum, kBig, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  MPI_Request request;
  MPI_Iallreduce(grad, sum, kBucket, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD, &request);
  MPI_Wait(&request, MPI_STATUS_IGNORE);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (MPI_Finalize() == MPI_SUCCESS && rank == 0)
    printf("mpi_reduce_program: finalized at exit\n");
  free(grad);
  free(sum);
  free(big);
  free(big_sum);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mpi_reduce_program STEPS NAN_STEP [RUN_DIR_TO_LOCK_AT_EXIT | "
                    "--finalize-at-exit]\n");
    return 2;
  }
  const int steps = atoi(argv[1]), nan_step = atoi(argv[2]);
  const int finalize_late = argc > 3 && !strcmp(argv[3], "--finalize-at-exit");
  MPI_Init(&argc, &argv);
  if (finalize_late) atexit(finalize_at_exit);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  grad = calloc(kBucket, sizeof *grad);
  sum = calloc(kBucket, sizeof *sum);
  big = calloc(kBig, sizeof *big);
  big_sum = calloc(kBig, sizeof *big_sum);
  float tiny[1024], tiny_sum[1024];
  double latency = 0, latency_sum = 0;
  const char *step_ms = getenv("MPI_REDUCE_STEP_MS");
  const struct timespec pause = {0, (step_ms ? atol(step_ms) : 0) * 1000000L};
  const char *spike = getenv("MPI_REDUCE_SPIKE_STEP");
  const int spike_step = spike ? atoi(spike) : -1;
  for (int step = 0; step < steps; ++step) {
    for (int i = 0; i < kBucket; ++i) grad[i] = 0.001f * (float)((i + step * 7 + rank) % 97 - 48);
    for (int i = 0; i < kBig; ++i) big[i] = 1e-3 * (double)((i + step) % 31);
    for (int i = 0; i < 1024; ++i) tiny[i] = (float)(i + rank);
    if (step == nan_step && rank == 1) grad[123] = NAN;
    if (step == spike_step)
      for (int i = 0; i < kBucket; ++i) grad[i] *= 1e4f;
    double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, grad, kBucket, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);  /* a bucket */
    MPI_Allreduce(big, big_sum, kBig, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);        /* doubles */
    MPI_Allreduce(tiny, tiny_sum, 1024, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);       /* 4 KB */
    MPI_Allreduce(tiny, tiny_sum, 0, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);          /* count 0 */
    MPI_Reduce(grad, sum, kBucket, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Request request;
    MPI_Iallreduce(grad, sum, kBucket, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD, &request);
    MPI_Wait(&request, MPI_STATUS_IGNORE);
    latency = MPI_Wtime() - t0;
    /* A benchmark's own figures: one double, never a gradient. */
    MPI_Reduce(&latency, &latency_sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (pause.tv_nsec > 0) nanosleep(&pause, NULL);
  }
  if (rank == 0) printf("mpi_reduce_program: %d steps on %d ranks\n", steps, world);
  if (finalize_late) return 0;
  MPI_Finalize();
  if (argc > 3) lock_store_at_exit(argv[3], rank);
  free(grad);
  free(sum);
  free(big);
  free(big_sum);
  return 0;
}
