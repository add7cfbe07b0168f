/* A tiny trainer for the `ttap run` tests: opens a session from the environment ttap run sets,
 * watches three tensors, steps STEPS times (SLEEP_MS per step), plants a NaN in "fc.grad" at
 * NAN_STEP (-1: never), logs a loss, and exits with EXIT_CODE. With a fifth argument `hostile`,
 * a fourth tensor whose name holds terminal escapes and bytes that are not UTF-8 gets the NaN too
 * (the output paths must escape it). It asks for each step's verdict (ttap_verdict) and prints
 * "skipped step N" when the verdict says skip (on_nonfinite=skip). Usage:
 *   run_target STEPS SLEEP_MS NAN_STEP EXIT_CODE [hostile] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <ttap/ttap.h>

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) return 100;
  const int hostile = argc == 6;
  int steps = atoi(argv[1]), sleep_ms = atoi(argv[2]), nan_step = atoi(argv[3]),
      exit_code = atoi(argv[4]);
  ttap_session *s = NULL;
  if (ttap_open(NULL, NULL, &s) != TTAP_OK) {
    fprintf(stderr, "run_target: %s\n", ttap_last_error());
    return 101;
  }
  static float w[1000], g[1000], bias[10];
  int32_t h;
  ttap_watch(s, "fc.weight", w, TTAP_F32, 1000, TTAP_PARAM, &h);
  ttap_watch(s, "fc.grad", g, TTAP_F32, 1000, TTAP_GRAD, &h);
  ttap_watch(s, "fc.bias", bias, TTAP_F32, 10, TTAP_PARAM, &h);
  /* A window-title change (OSC 0 ... BEL), clear screen, a newline, invalid UTF-8. */
  static float evil[16];
  if (hostile) {
    ttap_watch(s, "evil\x1b]0;pwned\x07\x1b[2J\nname\xff\xfe", evil, TTAP_F32, 16, TTAP_GRAD, &h);
  }
  for (int step = 0; step < steps; ++step) {
    for (int i = 0; i < 1000; ++i) {
      w[i] = 0.01f * (float)(i % 17) * (float)(1 + step);
      g[i] = 1e-3f * (float)(i % 5);
    }
    if (step == nan_step) g[42] = NAN;
    evil[3] = step == nan_step ? NAN : 1.0f;
    ttap_step(s, step, NULL);
    ttap_log_scalar(s, "loss", 3.0 / (1 + step), step);
    ttap_verdict_t v;
    if (ttap_verdict(s, step, &v) == TTAP_OK && v.action == TTAP_ACTION_SKIP)
      printf("skipped step %d\n", step);
    if (sleep_ms > 0) {
      struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  ttap_close(s);
  return exit_code;
}
