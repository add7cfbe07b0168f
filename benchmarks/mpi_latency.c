/* Small-message MPI_Allreduce latency, for measuring what the hooks cost an unmodified program:
 * run it plainly and under `ttap run` (benchmarks/hook_latency.sh does both and prints the
 * ratios). Floats from 1 element (4 B) to 1024 (4 KB); per size the best of REPEATS timed loops
 * of ITERS calls (the minimum is the least disturbed by the rest of a busy machine).
 * usage: mpi_latency [ITERS [REPEATS]]; rank 0 prints "BYTES MICROSECONDS_PER_CALL" lines. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const int iters = argc > 1 ? atoi(argv[1]) : 2000;
  const int repeats = argc > 2 ? atoi(argv[2]) : 7;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  float in[1024], out[1024];
  for (int i = 0; i < 1024; ++i) in[i] = (float)i;
  for (int n = 1; n <= 1024; n *= 4) {
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = MPI_Wtime();
      for (int i = 0; i < iters; ++i) MPI_Allreduce(in, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      const double t = (MPI_Wtime() - t0) / iters;
      if (t < best) best = t;
    }
    if (rank == 0) printf("%d %.3f\n", n * 4, best * 1e6);
  }
  MPI_Finalize();
  return 0;
}
