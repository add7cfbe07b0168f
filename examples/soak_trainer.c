/* A load and fault test trainer: watches TENSORS host tensors of 1 to 1,000 f32 elements (sizes
 * spread evenly), updates and samples them every step for SECONDS seconds, and prints its resident
 * set size every second, so a reader can see whether memory stays flat after warm-up
 * (scripts/soak.sh checks that and the store). It exits 0
 * whatever tensortap does (a store error must never stop training). For the README's reliability
 * figures:
 *   ttap run --budget 0 -o DIR -- soak_trainer 10000 60
 *   soak_trainer 10000 60 DIR         (without ttap run: the session opens DIR itself) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <ttap/ttap.h>
#include <unistd.h>

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Resident set size in MiB, from /proc/self/statm (pages). */
static double rss_mib(void) {
  long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
  fclose(f);
  return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: soak_trainer TENSORS SECONDS [RUN_DIR]\n");
    return 2;
  }
  const int tensors = atoi(argv[1]);
  const double seconds = atof(argv[2]);
  if (tensors <= 0 || seconds <= 0) return 2;
  float **data = malloc((size_t)tensors * sizeof(float *));
  int *numel = malloc((size_t)tensors * sizeof(int));
  if (!data || !numel) return 1;
  ttap_session *s = NULL;
  if (ttap_open(argc > 3 ? argv[3] : NULL, NULL, &s) != TTAP_OK) {
    fprintf(stderr, "soak_trainer: ttap_open: %s (training goes on without it)\n",
            ttap_last_error());
  }
  for (int t = 0; t < tensors; ++t) {
    numel[t] = 1 + (int)((int64_t)t * 999 / (tensors > 1 ? tensors - 1 : 1));
    data[t] = calloc((size_t)numel[t], sizeof(float));
    if (!data[t]) return 1;
    static const char *const kSuffix[4] = {"weight", "bias", "weight.grad", "bias.grad"};
    char name[64];
    snprintf(name, sizeof name, "layers.%d.%s", t / 4, kSuffix[t % 4]);
    int32_t h;
    if (s && ttap_watch(s, name, data[t], TTAP_F32, (uint64_t)numel[t],
                        (t % 4) < 2 ? TTAP_PARAM : TTAP_GRAD, &h) != TTAP_OK)
      fprintf(stderr, "soak_trainer: ttap_watch %s: %s\n", name, ttap_last_error());
  }
  const double start = now_seconds();
  double next_report = start;
  int64_t step = 0;
  for (;; ++step) {
    const double t_now = now_seconds();
    if (t_now >= next_report) {
      printf("soak_trainer: %5.1f s  step %lld  rss %.1f MiB\n", t_now - start, (long long)step,
             rss_mib());
      fflush(stdout);
      next_report += 1;
    }
    if (t_now - start >= seconds) break;
    for (int t = 0; t < tensors; ++t) {
      for (int i = 0; i < numel[t]; ++i) data[t][i] = 1e-3f * (float)((i + step) % 97);
    }
    if (s) ttap_step(s, step, NULL);
  }
  if (s && ttap_close(s) != TTAP_OK)
    fprintf(stderr, "soak_trainer: ttap_close: %s\n", ttap_last_error());
  printf("soak_trainer: done: %lld steps in %.1f s, rss %.1f MiB\n", (long long)step,
         now_seconds() - start, rss_mib());
  for (int t = 0; t < tensors; ++t) free(data[t]);
  free(data);
  free(numel);
  return 0;
}
