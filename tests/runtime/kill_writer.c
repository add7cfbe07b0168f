/* A trainer that runs until it is killed (at most 20000 steps), for the kill test: it watches two
 * tensors, steps, plants a NaN at step 5, flushes every step and then prints the step number (so
 * the parent knows what is on disk), until it is killed. Usage: kill_writer RUN_DIR
 * [EXTRA_OPTIONS]; with on_nonfinite=abort it ends itself at the NaN (exit status 3). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <ttap/ttap.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  char options[256];
  snprintf(options, sizeof options, "backend=cpu,budget=0,flush_ms=20%s%s", argc > 2 ? "," : "",
           argc > 2 ? argv[2] : "");
  ttap_session *s = NULL;
  if (ttap_open(argv[1], options, &s) != TTAP_OK) {
    fprintf(stderr, "%s\n", ttap_last_error());
    return 1;
  }
  static float a[65536], b[1000];
  int32_t ha, hb;
  ttap_watch(s, "a", a, TTAP_F32, 65536, TTAP_PARAM, &ha);
  ttap_watch(s, "b", b, TTAP_F32, 1000, TTAP_GRAD, &hb);
  /* Bounded, so that a test whose kill or abort never comes fails instead of hanging. */
  for (long step = 0; step < 20000; ++step) {
    for (int i = 0; i < 65536; ++i) a[i] = (float)sin((double)(i + step));
    for (int i = 0; i < 1000; ++i) b[i] = step == 5 && i == 3 ? NAN : (float)i * 1e-3f;
    ttap_step(s, step, NULL);
    /* Every other step is flushed; the rest sit in the collector or an open transaction when the
     * kill comes. */
    if (step % 2 == 0) {
      if (ttap_flush(s) != TTAP_OK) return 1;
      printf("%ld\n", step);
      fflush(stdout);
    }
  }
  ttap_close(s);
  return 4;
}
