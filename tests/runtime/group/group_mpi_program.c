/* A data-parallel "trainer" for the group tests: every rank watches the same tensors through the
 * C API and joins an MPI group (ttap_set_group(s, "mpi", &comm)); parameters are identical
 * replicas, gradients differ by rank, except one declared replicated with ttap_set_role (a
 * data-parallel gradient after its all-reduce: the same on every rank). Faults can be planted: one
 * flipped bit in one rank's copy of a parameter or of the replicated gradient, a NaN in one rank's
 * gradient, a slow rank. It counts the collectives tensortap
 * makes by defining the PMPI entry points tensortap looks up (exported from this program, they
 * come first in the process's lookup) and forwarding them to MPI's.
 *
 * usage: group_mpi_program RUN_DIR STEPS [flip=STEP:RANK] [flip_grad=STEP:RANK] [nan=STEP:RANK]
 *        [slow=RANK] [interval=RANK:MS] [step_ms=MS] [sharded_differs] [count_from=STEP]
 * Each step sleeps step_ms (default 2); the slow rank's steps sleep 300 ms, far above what CPU
 * contention adds on a loaded test machine.
 * Prints one line per rank: "rank R allreduce A allgather G samples N" (collectives made between
 * the flush after step count_from and the flush after the last step, and the group samples in that
 * span), and rank 0 prints "l2 STEP TENSOR VALUE" for the l2 of the concatenation of every rank's
 * gradient, and for the l2 of one replica of the replicated gradient, at a few steps, computed here
 * from the data (the test compares the store with them). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <mpi.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/runtime/mpi_rank.h"
#include "ttap/ttap.h"

static atomic_long g_allreduce, g_allgather;

typedef int (*iallreduce_fn)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm,
                             MPI_Request *);
typedef int (*iallgather_fn)(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm,
                             MPI_Request *);

int PMPI_Iallreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op,
                    MPI_Comm comm, MPI_Request *request) {
  static iallreduce_fn next;
  if (!next) next = (iallreduce_fn)dlsym(RTLD_NEXT, "PMPI_Iallreduce");
  atomic_fetch_add(&g_allreduce, 1);
  return next(send, recv, count, type, op, comm, request);
}

int PMPI_Iallgather(const void *send, int send_count, MPI_Datatype send_type, void *recv,
                    int recv_count, MPI_Datatype recv_type, MPI_Comm comm, MPI_Request *request) {
  static iallgather_fn next;
  if (!next) next = (iallgather_fn)dlsym(RTLD_NEXT, "PMPI_Iallgather");
  atomic_fetch_add(&g_allgather, 1);
  return next(send, send_count, send_type, recv, recv_count, recv_type, comm, request);
}

enum { kParam = 3000, kGrad = 5000, kShard = 700, kReplicatedGrad = 1200 };

/* Deterministic values in [-1, 1) from (rank, step, index): the test recomputes any rank's data. */
static float value(uint64_t rank, uint64_t step, uint64_t i, uint64_t salt) {
  uint64_t z = (rank * 0x9e3779b97f4a7c15ull) ^ (step * 0xbf58476d1ce4e5b9ull) ^
               (i * 0x94d049bb133111ebull) ^ salt;
  z ^= z >> 31;
  z *= 0xd6e8feb86659fd39ull;
  z ^= z >> 29;
  return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void fill_grad(float *g, int rank, int step) {
  /* Rank r's gradient has a scale that grows with r a little: ranks differ, none is an outlier. */
  for (int i = 0; i < kGrad; ++i) g[i] = (1.0f + 0.05f * (float)rank) * value(rank, step, i, 7);
}

static void fill_replicated_grad(float *g, int step) { /* the same on every rank */
  for (int i = 0; i < kReplicatedGrad; ++i) g[i] = 0.1f * value(0, step, i, 11);
}

static void flip_bit(float *x) {
  uint32_t bits;
  memcpy(&bits, x, 4);
  bits ^= 1u << 3; /* one low mantissa bit: the value barely moves, the fingerprint does */
  memcpy(x, &bits, 4);
}

static int parse_pair(const char *arg, const char *key, int *a, int *b) {
  size_t n = strlen(key);
  return strncmp(arg, key, n) == 0 && sscanf(arg + n, "%d:%d", a, b) == 2;
}

int main(int argc, char **argv) {
  const int world = start_mpi_ranks(&argc, &argv);
  if (argc < 3) {
    fprintf(stderr, "usage: %s RUN_DIR STEPS [options]\n", argv[0]);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const char *run_dir = argv[1];
  const int steps = atoi(argv[2]);
  int flip_step = -1, flip_rank = -1, nan_step = -1, nan_rank = -1, slow_rank = -1;
  int flip_grad_step = -1, flip_grad_rank = -1;
  int interval_rank = -1, interval_ms = 0;
  int count_from = steps / 2, sharded_differs = 0, step_ms = 2;
  for (int i = 3; i < argc; ++i) {
    if (parse_pair(argv[i], "flip=", &flip_step, &flip_rank)) continue;
    if (parse_pair(argv[i], "flip_grad=", &flip_grad_step, &flip_grad_rank)) continue;
    if (parse_pair(argv[i], "nan=", &nan_step, &nan_rank)) continue;
    if (sscanf(argv[i], "slow=%d", &slow_rank) == 1) continue;
    if (parse_pair(argv[i], "interval=", &interval_rank, &interval_ms)) continue;
    if (sscanf(argv[i], "count_from=%d", &count_from) == 1) continue;
    if (sscanf(argv[i], "step_ms=%d", &step_ms) == 1) continue;
    if (strcmp(argv[i], "sharded_differs") == 0) {
      sharded_differs = 1;
      continue;
    }
    fprintf(stderr, "unknown option %s\n", argv[i]);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }

  float *param = malloc(kParam * sizeof(float));
  float *grad = malloc(kGrad * sizeof(float));
  float *shard = malloc(kShard * sizeof(float));
  float *replicated_grad = malloc(kReplicatedGrad * sizeof(float));
  for (int i = 0; i < kParam; ++i) param[i] = 0.02f * value(0, 0, i, 1); /* same on every rank */
  for (int i = 0; i < kShard; ++i)
    shard[i] = value(sharded_differs ? g_rank : 0, 0, i, 3); /* a tensor-parallel shard */

  ttap_session *s = NULL;
  /* budget=0: every step is sampled, so the counts below are exact; interval= gives one rank a
   * minimum time between samples, which the whole group then follows. */
  char options[128];
  snprintf(options, sizeof options, "backend=cpu,budget=0,sharded=*.shard,interval_ms=%d",
           g_rank == interval_rank ? interval_ms : 0);
  CHECK(ttap_open(run_dir, options, &s));
  MPI_Comm comm = MPI_COMM_WORLD;
  CHECK(ttap_set_group(s, "mpi", &comm));
  int32_t h;
  CHECK(ttap_watch(s, "layer.weight", param, TTAP_F32, kParam, TTAP_PARAM, &h));
  CHECK(ttap_watch(s, "layer.weight.grad", grad, TTAP_F32, kGrad, TTAP_GRAD, &h));
  CHECK(ttap_watch(s, "layer.weight.shard", shard, TTAP_F32, kShard, TTAP_PARAM, &h));
  /* A gradient the code knows to be replicated (no glob says so): merged as one replica. */
  CHECK(ttap_watch(s, "layer.bias.grad", replicated_grad, TTAP_F32, kReplicatedGrad, TTAP_GRAD,
                   &h));
  CHECK(ttap_set_role(s, h, TTAP_ROLE_REPLICATED));

  long allreduce0 = 0, allgather0 = 0;
  for (int step = 0; step < steps; ++step) {
    fill_grad(grad, g_rank, step);
    fill_replicated_grad(replicated_grad, step);
    if (step == flip_step && g_rank == flip_rank) flip_bit(&param[17]);
    if (step == flip_grad_step && g_rank == flip_grad_rank) flip_bit(&replicated_grad[5]);
    if (step == nan_step && g_rank == nan_rank) grad[100] = NAN;
    const long sleep_ms = g_rank == slow_rank ? 300 : step_ms;
    struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK(ttap_step(s, step, NULL));
    if (step == count_from) {
      CHECK(ttap_flush(s));
      allreduce0 = atomic_load(&g_allreduce);
      allgather0 = atomic_load(&g_allgather);
    }
  }
  CHECK(ttap_flush(s));
  printf("rank %d allreduce %ld allgather %ld samples %d\n", g_rank,
         atomic_load(&g_allreduce) - allreduce0, atomic_load(&g_allgather) - allgather0,
         steps - 1 - count_from);
  fflush(stdout);
  CHECK(ttap_close(s));

  if (g_rank == 0) {
    /* The l2 of the concatenation of every rank's gradient, from the data, in long double. */
    for (int step = 0; step < steps; step += 3) {
      if (step == nan_step) continue;
      long double sum_sq = 0;
      for (int r = 0; r < world; ++r) {
        fill_grad(grad, r, step);
        for (int i = 0; i < kGrad; ++i) sum_sq += (long double)grad[i] * grad[i];
      }
      printf("l2 %d layer.weight.grad %.17g\n", step, (double)sqrtl(sum_sq));
      /* One replica's l2, not the world's sum of them. */
      fill_replicated_grad(replicated_grad, step);
      sum_sq = 0;
      for (int i = 0; i < kReplicatedGrad; ++i)
        sum_sq += (long double)replicated_grad[i] * replicated_grad[i];
      printf("l2 %d layer.bias.grad %.17g\n", step, (double)sqrtl(sum_sq));
    }
  }
  free(param);
  free(grad);
  free(shard);
  free(replicated_grad);
  MPI_Finalize();
  return 0;
}
