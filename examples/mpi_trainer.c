/* mpi_trainer: data-parallel training of a small MLP on the CPU, the way MPI trainers do it: every
 * rank computes gradients on its own shard of the data and all-reduces them in buckets with
 * MPI_Allreduce every step. It knows nothing of tensortap (no ttap.h): it is the unmodified
 * program that `ttap run` hooks. --inject-nan STEP:RANK plants a NaN in one rank's gradient.
 *
 * usage: mpirun -np 2 mpi_trainer [--steps N] [--inject-nan STEP:RANK] [--nonblocking] */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* kHidden makes the first layer's gradient bucket 4352 elements: above the hooks' default
 * TTAP_HOOKS_MIN_ELEMENTS (4096), so it is summarized, as a real model's buckets are. */
enum { kIn = 16, kHidden = 256, kOut = 4, kBatch = 64 };

/* Parameters and gradients live in flat arrays; the buckets are views, layer 2 first (backward
 * produces its gradients first, so data-parallel frameworks reduce it first). */
enum {
  kW1 = 0,
  kB1 = kW1 + kHidden * kIn,
  kW2 = kB1 + kHidden,
  kB2 = kW2 + kOut * kHidden,
  kParams = kB2 + kOut,
  kLayer1 = kW2 - kW1,     /* bucket 1: W1, b1 (reduced in place) */
  kLayer2 = kParams - kW2, /* bucket 0: W2, b2 (reduced into a separate buffer) */
};

static unsigned long long g_rng;

static float uniform(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((g_rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* The function the model learns: a fixed random teacher. */
static void teacher(const float *x, float *y) {
  for (int k = 0; k < kOut; ++k) {
    float s = 0;
    for (int i = 0; i < kIn; ++i) s += x[i] * (float)((i * 7 + k * 3) % 5 - 2) * 0.25f;
    y[k] = tanhf(s);
  }
}

/* Forward and backward over one batch; accumulates into grad, returns the summed loss. */
static double train_batch(const float *p, float *grad, int rank, int step) {
  double loss = 0;
  g_rng = 0x9e3779b97f4a7c15ull ^ ((unsigned long long)rank << 32) ^ (unsigned long long)step;
  for (int n = 0; n < kBatch; ++n) {
    float x[kIn], h[kHidden], out[kOut], target[kOut], dout[kOut], dh[kHidden];
    for (int i = 0; i < kIn; ++i) x[i] = uniform();
    teacher(x, target);
    for (int j = 0; j < kHidden; ++j) {
      float s = p[kB1 + j];
      for (int i = 0; i < kIn; ++i) s += p[kW1 + j * kIn + i] * x[i];
      h[j] = tanhf(s);
    }
    for (int k = 0; k < kOut; ++k) {
      float s = p[kB2 + k];
      for (int j = 0; j < kHidden; ++j) s += p[kW2 + k * kHidden + j] * h[j];
      out[k] = s;
      dout[k] = (out[k] - target[k]) / kBatch;
      loss += 0.5 * (double)(out[k] - target[k]) * (out[k] - target[k]);
    }
    for (int j = 0; j < kHidden; ++j) dh[j] = 0;
    for (int k = 0; k < kOut; ++k) {
      grad[kB2 + k] += dout[k];
      for (int j = 0; j < kHidden; ++j) {
        grad[kW2 + k * kHidden + j] += dout[k] * h[j];
        dh[j] += dout[k] * p[kW2 + k * kHidden + j];
      }
    }
    for (int j = 0; j < kHidden; ++j) {
      float dz = dh[j] * (1 - h[j] * h[j]);
      grad[kB1 + j] += dz;
      for (int i = 0; i < kIn; ++i) grad[kW1 + j * kIn + i] += dz * x[i];
    }
  }
  return loss;
}

static void usage(const char *why) {
  fprintf(stderr,
          "mpi_trainer: %s\nusage: mpi_trainer [--steps N] [--inject-nan STEP:RANK] "
          "[--nonblocking]\n",
          why);
}

int main(int argc, char **argv) {
  int steps = 50, nan_step = -1, nan_rank = -1, nonblocking = 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
      steps = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--inject-nan") && i + 1 < argc) {
      if (sscanf(argv[++i], "%d:%d", &nan_step, &nan_rank) != 2) {
        usage("--inject-nan takes STEP:RANK");
        return 2;
      }
    } else if (!strcmp(argv[i], "--nonblocking")) {
      nonblocking = 1;
    } else {
      usage("unknown argument");
      return 2;
    }
  }
  if (steps < 1) {
    usage("--steps must be at least 1");
    return 2;
  }
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);

  static float params[kParams], grad[kParams], layer2_sum[kLayer2];
  g_rng = 12345;
  for (int i = 0; i < kParams; ++i) params[i] = uniform() * 0.3f;
  /* Every rank starts from rank 0's parameters, as data-parallel training does. */
  MPI_Bcast(params, kParams, MPI_FLOAT, 0, MPI_COMM_WORLD);

  const float lr = 0.1f;  /* stable for the 256-wide hidden layer over hundreds of steps */
  double mean_loss = 0;
  for (int step = 0; step < steps; ++step) {
    memset(grad, 0, sizeof grad);
    double loss = train_batch(params, grad, rank, step);
    if (step == nan_step && rank == nan_rank) {
      grad[kW1 + 5] = NAN;
      printf("step %d rank %d planted a NaN in the layer-1 gradient\n", step, rank);
      fflush(stdout);
    }
    if (nonblocking) {
      MPI_Request requests[2];
      MPI_Iallreduce(grad + kW2, layer2_sum, kLayer2, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                     &requests[0]);
      MPI_Iallreduce(MPI_IN_PLACE, grad + kW1, kLayer1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                     &requests[1]);
      MPI_Waitall(2, requests, MPI_STATUSES_IGNORE);
    } else {
      MPI_Allreduce(grad + kW2, layer2_sum, kLayer2, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      MPI_Allreduce(MPI_IN_PLACE, grad + kW1, kLayer1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    double total = 0;
    MPI_Allreduce(&loss, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    mean_loss = total / ((double)world * kBatch);
    memcpy(grad + kW2, layer2_sum, sizeof layer2_sum);
    for (int i = 0; i < kParams; ++i) params[i] -= lr * grad[i] / (float)world;
    if (rank == 0 && (step % 10 == 0 || step == steps - 1))
      printf("step %d loss %.6f\n", step, mean_loss);
  }
  if (rank == 0) printf("trained %d steps on %d ranks, final loss %.6f\n", steps, world, mean_loss);
  MPI_Finalize();
  return 0;
}
