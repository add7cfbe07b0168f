/* Data-parallel ranks that act on ttap_verdict: each rank holds a replica of the parameter,
 * averages its gradient with the others (MPI_Allreduce, the job's own collective), asks tensortap
 * for the verdict and updates unless it says skip. A NaN is planted in one rank's gradient after
 * the average (a fault on that rank only). With the group's vote every rank skips that step and
 * the replicas stay identical; each rank prints "skip STEP" for every skipped step and, at the end,
 * "replica R CHECKSUM" (the parameter's bytes hashed).
 *
 * usage: verdict_mpi_program RUN_DIR STEPS nan=STEP:RANK [nogroup] */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/runtime/mpi_rank.h"
#include "ttap/ttap.h"

enum { kParam = 4096 };

static uint64_t fnv1a(const void *data, size_t bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ ((const unsigned char *)data)[i]) * 0x100000001b3ull;
  return h;
}

int main(int argc, char **argv) {
  const int world = start_mpi_ranks(&argc, &argv);
  if (argc < 4) {
    fprintf(stderr, "usage: %s RUN_DIR STEPS nan=STEP:RANK [nogroup]\n", argv[0]);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const int steps = atoi(argv[2]);
  int nan_step = -1, nan_rank = -1;
  if (sscanf(argv[3], "nan=%d:%d", &nan_step, &nan_rank) != 2) MPI_Abort(MPI_COMM_WORLD, 2);
  const int group = !(argc > 4 && strcmp(argv[4], "nogroup") == 0);

  char options[128];
  snprintf(options, sizeof options, "backend=cpu,on_nonfinite=skip,mode=append,rank=%d,world=%d",
           g_rank, world);
  ttap_session *s = NULL;
  CHECK(ttap_open(argv[1], options, &s));
  MPI_Comm comm = MPI_COMM_WORLD;
  if (group) CHECK(ttap_set_group(s, "mpi", &comm));

  static float param[kParam], grad[kParam];
  for (int i = 0; i < kParam; ++i) param[i] = 0.01f * (float)(i % 13);
  int32_t h;
  CHECK(ttap_watch(s, "w", param, TTAP_F32, kParam, TTAP_PARAM, &h));
  CHECK(ttap_watch(s, "w.grad", grad, TTAP_F32, kParam, TTAP_GRAD, &h));
  for (int step = 0; step < steps; ++step) {
    for (int i = 0; i < kParam; ++i) grad[i] = 1e-3f * sinf((float)(i + 17 * step + 101 * g_rank));
    MPI_Allreduce(MPI_IN_PLACE, grad, kParam, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < kParam; ++i) grad[i] /= (float)world;
    if (step == nan_step && g_rank == nan_rank) grad[99] = NAN;
    CHECK(ttap_step(s, step, NULL));
    ttap_verdict_t v;
    CHECK(ttap_verdict(s, step, &v));
    if (v.action == TTAP_ACTION_SKIP) {
      printf("rank %d skip %d nonfinite %d first %d\n", g_rank, step, v.nonfinite_tensors,
             v.first_tensor);
      continue;
    }
    for (int i = 0; i < kParam; ++i) param[i] -= 0.5f * grad[i];
  }
  CHECK(ttap_close(s));
  printf("replica %d %016llx\n", g_rank, (unsigned long long)fnv1a(param, sizeof param));
  fflush(stdout);
  MPI_Finalize();
  return 0;
}
