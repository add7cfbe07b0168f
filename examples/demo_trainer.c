/* ttap-demo: a character-level MLP language model trained on a real text file (by default the GPL-3
 * text every Debian system ships), forward and backward written out by hand, with every parameter
 * and gradient watched by tensortap through its public C API. `make demo` runs it under `ttap run`:
 * --inject-nan plants the bug tensortap should catch, and a large --lr shows a diverging run.
 *
 * The model reads the previous CONTEXT bytes of the text and predicts the next one:
 *   embed (vocab x EMBED) -> concat (CONTEXT*EMBED) -> fc1 + tanh (HIDDEN) -> fc2 + tanh (HIDDEN)
 *   -> out (vocab) -> softmax cross-entropy, trained with Adam on random minibatches.
 * The vocabulary is the set of byte values present in the text. Everything is deterministic for a
 * given --seed: one thread, plain loops, no fast-math. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ttap/ttap.h>

enum {
  CONTEXT = 8,     /* bytes of history the model sees */
  EMBED = 24,      /* embedding width per byte */
  HIDDEN = 256,    /* width of both hidden layers */
  BATCH = 64,      /* examples per step */
  LOG_EVERY = 25,  /* steps between loss lines on stdout */
  MAX_INJECT = 16, /* --inject-nan may be given this many times */
};

#define DEFAULT_DATA "/usr/share/common-licenses/GPL-3"
#define DEFAULT_STEPS 300
#define DEFAULT_LR 0.003
#define DEFAULT_SEED 1
#define MAX_STEPS 100000000L

/* ---- parameters and their gradients ---- */

/* The parameters in watch order; --list-tensors prints each name followed by its gradient's. The
 * weights are stored [in][out] (y = x W + b), so every inner loop runs over contiguous memory. */
enum { EMBED_W, FC1_W, FC1_B, FC2_W, FC2_B, OUT_W, OUT_B, NUM_PARAMS };
static const char *const kParamNames[NUM_PARAMS] = {
    "embed.weight", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "out.weight", "out.bias",
};

typedef struct {
  const char *name;
  char grad_name[64];
  size_t numel;
  float *value;
  float *grad;
  float *adam_m; /* Adam's first and second moment estimates */
  float *adam_v;
} parameter;

typedef struct {
  int vocab;
  parameter params[NUM_PARAMS];
  /* Per-batch activations (forward) and their gradients (backward). */
  float *x0;     /* [BATCH][CONTEXT*EMBED] the concatenated embeddings */
  float *h1;     /* [BATCH][HIDDEN] tanh(fc1) */
  float *h2;     /* [BATCH][HIDDEN] tanh(fc2) */
  float *logits; /* [BATCH][vocab]; softmax probabilities after the loss */
  float *d_x0, *d_h1, *d_h2, *d_logits;
} model;

/* ---- deterministic random numbers (splitmix64) ---- */

static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double random_unit(uint64_t *state) { return (double)(next_random(state) >> 11) * 0x1p-53; }

/* Standard normal by Box-Muller; the second value is dropped to keep the code short. */
static double random_normal(uint64_t *state) {
  double u1 = 1.0 - random_unit(state); /* in (0, 1]: log(u1) is finite */
  double u2 = random_unit(state);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/* ---- the model ---- */

static int param_alloc(parameter *p, const char *name, size_t numel) {
  p->name = name;
  snprintf(p->grad_name, sizeof p->grad_name, "%s.grad", name);
  p->numel = numel;
  p->value = calloc(numel, sizeof(float));
  p->grad = calloc(numel, sizeof(float));
  p->adam_m = calloc(numel, sizeof(float));
  p->adam_v = calloc(numel, sizeof(float));
  return p->value && p->grad && p->adam_m && p->adam_v;
}

/* Initialization as PyTorch does it by default: embeddings N(0, 1), linear layers (weights and
 * biases) uniform in +-1/sqrt(fan_in). It keeps tanh's inputs near unit scale, out of saturation.
 */
static void init_uniform(parameter *p, int fan_in, uint64_t *rng) {
  double bound = 1.0 / sqrt((double)fan_in);
  for (size_t i = 0; i < p->numel; ++i) p->value[i] = (float)((2 * random_unit(rng) - 1) * bound);
}

static int model_init(model *m, int vocab, uint64_t seed) {
  const int in1 = CONTEXT * EMBED;
  const size_t sizes[NUM_PARAMS] = {
      (size_t)vocab * EMBED,  (size_t)in1 * HIDDEN, HIDDEN, (size_t)HIDDEN * HIDDEN, HIDDEN,
      (size_t)HIDDEN * vocab, (size_t)vocab,
  };
  memset(m, 0, sizeof *m);
  m->vocab = vocab;
  for (int k = 0; k < NUM_PARAMS; ++k) {
    if (!param_alloc(&m->params[k], kParamNames[k], sizes[k])) return 0;
  }
  m->x0 = calloc((size_t)BATCH * in1, sizeof(float));
  m->h1 = calloc((size_t)BATCH * HIDDEN, sizeof(float));
  m->h2 = calloc((size_t)BATCH * HIDDEN, sizeof(float));
  m->logits = calloc((size_t)BATCH * vocab, sizeof(float));
  m->d_x0 = calloc((size_t)BATCH * in1, sizeof(float));
  m->d_h1 = calloc((size_t)BATCH * HIDDEN, sizeof(float));
  m->d_h2 = calloc((size_t)BATCH * HIDDEN, sizeof(float));
  m->d_logits = calloc((size_t)BATCH * vocab, sizeof(float));
  if (!m->x0 || !m->h1 || !m->h2 || !m->logits || !m->d_x0 || !m->d_h1 || !m->d_h2 || !m->d_logits)
    return 0;

  uint64_t rng = seed;
  parameter *embed = &m->params[EMBED_W];
  for (size_t i = 0; i < embed->numel; ++i) embed->value[i] = (float)random_normal(&rng);
  init_uniform(&m->params[FC1_W], in1, &rng);
  init_uniform(&m->params[FC1_B], in1, &rng);
  init_uniform(&m->params[FC2_W], HIDDEN, &rng);
  init_uniform(&m->params[FC2_B], HIDDEN, &rng);
  init_uniform(&m->params[OUT_W], HIDDEN, &rng);
  init_uniform(&m->params[OUT_B], HIDDEN, &rng);
  return 1;
}

static void model_free(model *m) {
  for (int k = 0; k < NUM_PARAMS; ++k) {
    parameter *p = &m->params[k];
    free(p->value);
    free(p->grad);
    free(p->adam_m);
    free(p->adam_v);
  }
  free(m->x0);
  free(m->h1);
  free(m->h2);
  free(m->logits);
  free(m->d_x0);
  free(m->d_h1);
  free(m->d_h2);
  free(m->d_logits);
}

/* y[b] = x[b] W + bias. The loop order (b, i, o) makes the innermost loop an axpy over a row of W,
 * which the compiler vectorizes without reassociating any sum. */
static void linear_forward(const float *x, const float *w, const float *bias, float *y, int in,
                           int out) {
  for (int b = 0; b < BATCH; ++b) {
    float *yb = y + (size_t)b * out;
    memcpy(yb, bias, (size_t)out * sizeof(float));
    for (int i = 0; i < in; ++i) {
      const float xi = x[(size_t)b * in + i];
      const float *wi = w + (size_t)i * out;
      for (int o = 0; o < out; ++o) yb[o] += xi * wi[o];
    }
  }
}

/* a . b in eight interleaved partial sums. Each partial sum fits one vector lane, so the compiler
 * vectorizes this without reassociating anything (no -ffast-math), and the order of the additions
 * is fixed by the source: the same result from every build. */
static float dot(const float *a, const float *b, int n) {
  float partial[8] = {0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) partial[j] += a[i + j] * b[i + j];
  }
  for (; i < n; ++i) partial[0] += a[i] * b[i];
  return ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
         ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

/* Given dy = dL/dy of y = x W + bias: accumulates dW and dbias, and writes dx = dy W^T. */
static void linear_backward(const float *x, const float *w, const float *dy, float *dw,
                            float *dbias, float *dx, int in, int out) {
  for (int b = 0; b < BATCH; ++b) {
    const float *dyb = dy + (size_t)b * out;
    for (int o = 0; o < out; ++o) dbias[o] += dyb[o];
    for (int i = 0; i < in; ++i) {
      const float xi = x[(size_t)b * in + i];
      float *dwi = dw + (size_t)i * out;
      for (int o = 0; o < out; ++o) dwi[o] += xi * dyb[o];
    }
    for (int i = 0; i < in; ++i) dx[(size_t)b * in + i] = dot(w + (size_t)i * out, dyb, out);
  }
}

/* The forward pass for one minibatch. contexts: [BATCH][CONTEXT] token ids; targets: [BATCH].
 * Returns the mean cross-entropy (nats) and leaves the softmax probabilities in m->logits. */
static double model_forward(model *m, const uint8_t *contexts, const uint8_t *targets) {
  const int in1 = CONTEXT * EMBED, vocab = m->vocab;
  const float *embed = m->params[EMBED_W].value;
  for (int b = 0; b < BATCH; ++b) {
    for (int t = 0; t < CONTEXT; ++t) {
      memcpy(m->x0 + (size_t)b * in1 + t * EMBED, embed + (size_t)contexts[b * CONTEXT + t] * EMBED,
             EMBED * sizeof(float));
    }
  }
  linear_forward(m->x0, m->params[FC1_W].value, m->params[FC1_B].value, m->h1, in1, HIDDEN);
  for (size_t i = 0; i < (size_t)BATCH * HIDDEN; ++i) m->h1[i] = tanhf(m->h1[i]);
  linear_forward(m->h1, m->params[FC2_W].value, m->params[FC2_B].value, m->h2, HIDDEN, HIDDEN);
  for (size_t i = 0; i < (size_t)BATCH * HIDDEN; ++i) m->h2[i] = tanhf(m->h2[i]);
  linear_forward(m->h2, m->params[OUT_W].value, m->params[OUT_B].value, m->logits, HIDDEN, vocab);

  /* Softmax with the maximum subtracted, so a diverging run (huge logits) still gives a finite
   * loss for as long as its logits are finite: the divergence shows in the numbers, not as an
   * artifact of exp() overflowing. */
  double loss = 0;
  for (int b = 0; b < BATCH; ++b) {
    float *row = m->logits + (size_t)b * vocab;
    float max = row[0];
    for (int v = 1; v < vocab; ++v) max = row[v] > max ? row[v] : max;
    double sum = 0;
    for (int v = 0; v < vocab; ++v) sum += exp((double)row[v] - max);
    loss += log(sum) - ((double)row[targets[b]] - max);
    for (int v = 0; v < vocab; ++v) row[v] = (float)(exp((double)row[v] - max) / sum);
  }
  return loss / BATCH;
}

/* The backward pass: each parameter's gradient of the mean loss, overwriting the last step's. */
static void model_backward(model *m, const uint8_t *contexts, const uint8_t *targets) {
  const int in1 = CONTEXT * EMBED, vocab = m->vocab;
  for (int k = 0; k < NUM_PARAMS; ++k) {
    memset(m->params[k].grad, 0, m->params[k].numel * sizeof(float));
  }
  /* dL/dlogits of the mean cross-entropy: (softmax - onehot) / BATCH. */
  for (int b = 0; b < BATCH; ++b) {
    for (int v = 0; v < vocab; ++v) {
      m->d_logits[(size_t)b * vocab + v] = m->logits[(size_t)b * vocab + v] / BATCH;
    }
    m->d_logits[(size_t)b * vocab + targets[b]] -= 1.0f / BATCH;
  }
  linear_backward(m->h2, m->params[OUT_W].value, m->d_logits, m->params[OUT_W].grad,
                  m->params[OUT_B].grad, m->d_h2, HIDDEN, vocab);
  for (size_t i = 0; i < (size_t)BATCH * HIDDEN; ++i) m->d_h2[i] *= 1 - m->h2[i] * m->h2[i];
  linear_backward(m->h1, m->params[FC2_W].value, m->d_h2, m->params[FC2_W].grad,
                  m->params[FC2_B].grad, m->d_h1, HIDDEN, HIDDEN);
  for (size_t i = 0; i < (size_t)BATCH * HIDDEN; ++i) m->d_h1[i] *= 1 - m->h1[i] * m->h1[i];
  linear_backward(m->x0, m->params[FC1_W].value, m->d_h1, m->params[FC1_W].grad,
                  m->params[FC1_B].grad, m->d_x0, in1, HIDDEN);
  /* The embedding gradient scatters back to the rows the batch looked up. */
  float *d_embed = m->params[EMBED_W].grad;
  for (int b = 0; b < BATCH; ++b) {
    for (int t = 0; t < CONTEXT; ++t) {
      float *row = d_embed + (size_t)contexts[b * CONTEXT + t] * EMBED;
      const float *d = m->d_x0 + (size_t)b * in1 + t * EMBED;
      for (int e = 0; e < EMBED; ++e) row[e] += d[e];
    }
  }
}

/* Adam (Kingma & Ba) with the usual betas and bias correction; step counts from 1. Adam rather than
 * plain SGD because it gets well below the unigram loss within the few hundred steps of a demo. */
static void adam_update(model *m, double lr, long step) {
  const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  const double correction1 = 1 - pow(beta1, (double)step);
  const double correction2 = 1 - pow(beta2, (double)step);
  const float step_size = (float)(lr / correction1);
  const float root_correction2 = (float)sqrt(correction2);
  for (int k = 0; k < NUM_PARAMS; ++k) {
    parameter *p = &m->params[k];
    for (size_t i = 0; i < p->numel; ++i) {
      const float g = p->grad[i];
      p->adam_m[i] = (float)beta1 * p->adam_m[i] + (float)(1 - beta1) * g;
      p->adam_v[i] = (float)beta2 * p->adam_v[i] + (float)(1 - beta2) * g * g;
      p->value[i] -=
          step_size * p->adam_m[i] / (sqrtf(p->adam_v[i]) / root_correction2 + (float)eps);
    }
  }
}

/* ---- the training text ---- */

typedef struct {
  uint8_t *tokens; /* the text as vocabulary ids */
  size_t length;
  int vocab; /* distinct byte values in the text */
} corpus;

/* Reads the whole file (a loop rather than the file size, so pipes work too) and maps each byte
 * value present to a dense id. Returns 0 and prints why on failure. */
static int corpus_load(const char *path, corpus *c) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "ttap-demo: cannot read %s: %s\n", path, strerror(errno));
    return 0;
  }
  size_t capacity = 1 << 16, length = 0;
  uint8_t *bytes = malloc(capacity);
  while (bytes) {
    length += fread(bytes + length, 1, capacity - length, f);
    if (length < capacity) break;
    uint8_t *grown = realloc(bytes, capacity * 2);
    if (!grown) free(bytes);
    bytes = grown;
    capacity *= 2;
  }
  int read_errno = ferror(f) ? errno : 0; /* e.g. EISDIR: fopen accepts a directory */
  fclose(f);
  if (!bytes || read_errno) {
    fprintf(stderr, "ttap-demo: cannot read %s: %s\n", path,
            bytes ? strerror(read_errno) : "out of memory");
    free(bytes);
    return 0;
  }
  if (length < CONTEXT + 2) {
    fprintf(stderr, "ttap-demo: %s has %zu bytes; the model needs at least %d\n", path, length,
            CONTEXT + 2);
    free(bytes);
    return 0;
  }
  int id_of[256], vocab = 0;
  for (int v = 0; v < 256; ++v) id_of[v] = -1;
  for (size_t i = 0; i < length; ++i) id_of[bytes[i]] = 0;
  for (int v = 0; v < 256; ++v) {
    if (id_of[v] == 0) id_of[v] = vocab++;
  }
  for (size_t i = 0; i < length; ++i) bytes[i] = (uint8_t)id_of[bytes[i]];
  c->tokens = bytes;
  c->length = length;
  c->vocab = vocab;
  return 1;
}

/* A minibatch of random windows: CONTEXT tokens and the one that follows. */
static void sample_batch(const corpus *c, uint64_t *rng, uint8_t *contexts, uint8_t *targets) {
  const size_t positions = c->length - CONTEXT;
  for (int b = 0; b < BATCH; ++b) {
    size_t start = (size_t)(random_unit(rng) * (double)positions);
    memcpy(contexts + b * CONTEXT, c->tokens + start, CONTEXT);
    targets[b] = c->tokens[start + CONTEXT];
  }
}

/* ---- tensortap calls ---- */

/* tensortap must never take the trainer down: a failed call is reported on stderr and training goes
 * on. The first few failures are printed in full; after that they are only counted, so a session
 * that fails at every step does not bury the loss lines. */
enum { MAX_PRINTED_FAILURES = 5 };
static long g_ttap_failures = 0;

static int check_ttap(ttap_status status, const char *call) {
  if (status == TTAP_OK) return 1;
  if (++g_ttap_failures <= MAX_PRINTED_FAILURES) {
    fprintf(stderr, "ttap-demo: %s: %s\n", call, ttap_last_error());
    if (g_ttap_failures == MAX_PRINTED_FAILURES) {
      fprintf(stderr, "ttap-demo: further tensortap failures are counted, not printed\n");
    }
  }
  return 0;
}

/* ---- command line ---- */

typedef struct {
  long step;
  int param; /* index into kParamNames: the NaN goes into that parameter's gradient */
} nan_injection;

typedef struct {
  long steps;
  double lr;
  uint64_t seed;
  const char *data;
  int list_tensors;
  int no_ttap;    /* --no-ttap: train without tensortap (the baseline of the overhead benchmark) */
  int time_loop;  /* --time: print the training loop's wall-clock time on stderr */
  int num_inject;
  nan_injection inject[MAX_INJECT];
} options;

static void print_usage(FILE *out) {
  fprintf(
      out,
      "usage: ttap-demo [--steps N] [--lr X] [--seed N] [--data FILE]\n"
      "                 [--inject-nan STEP:TENSOR]... [--list-tensors] [--no-ttap] [--time]\n"
      "                 [--help]\n"
      "\n"
      "Trains a character-level MLP language model (context %d bytes, embedding %d, two tanh\n"
      "layers of %d, Adam, minibatch %d) on a text file, with every parameter and gradient\n"
      "watched by tensortap (run it under `ttap run`, or set TTAP_RUN_DIR).\n"
      "\n"
      "  --steps N                 training steps, numbered 1..N (default %d)\n"
      "  --lr X                    Adam learning rate (default %g; e.g. 5 diverges)\n"
      "  --seed N                  seed for initialization and minibatches (default %d)\n"
      "  --data FILE               training text (default %s)\n"
      "  --inject-nan STEP:TENSOR  plant one NaN in a gradient at STEP, after the backward pass\n"
      "                            and before ttap_step; TENSOR is a gradient (fc1.weight.grad)\n"
      "                            or its parameter (fc1.weight); may be repeated\n"
      "  --list-tensors            print the watched tensor names, one per line, and exit\n"
      "  --no-ttap                 train without tensortap (a baseline for its overhead)\n"
      "  --time                    print the training loop's wall-clock seconds on stderr\n"
      "  --help                    print this and exit\n",
      CONTEXT, EMBED, HIDDEN, BATCH, DEFAULT_STEPS, DEFAULT_LR, DEFAULT_SEED, DEFAULT_DATA);
}

/* Prints "ttap-demo: <message>" and the usage on stderr; returns the usage exit status, 2. */
static int usage_error(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  fprintf(stderr, "ttap-demo: ");
  vfprintf(stderr, fmt, args);
  fprintf(stderr, "\n\n");
  va_end(args);
  print_usage(stderr);
  return 2;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

/* A gradient name, or a parameter name standing for its gradient. Returns the parameter index or
 * -1. */
static int find_gradient(const char *name) {
  for (int k = 0; k < NUM_PARAMS; ++k) {
    size_t n = strlen(kParamNames[k]);
    if (strncmp(name, kParamNames[k], n) != 0) continue;
    if (name[n] == '\0' || strcmp(name + n, ".grad") == 0) return k;
  }
  return -1;
}

static int parse_injection(const char *arg, nan_injection *out) {
  const char *colon = strchr(arg, ':');
  if (!colon || colon == arg) {
    return usage_error("--inject-nan %s: expected STEP:TENSOR, e.g. 40:fc1.weight.grad", arg);
  }
  char step_text[32] = "";
  size_t n = (size_t)(colon - arg);
  if (n < sizeof step_text) memcpy(step_text, arg, n);
  if (!parse_long(step_text, 1, MAX_STEPS, &out->step)) {
    return usage_error("--inject-nan %s: STEP must be an integer >= 1", arg);
  }
  out->param = find_gradient(colon + 1);
  if (out->param < 0) {
    fprintf(stderr, "ttap-demo: --inject-nan %s: unknown tensor '%s'; the gradients are:\n", arg,
            colon + 1);
    for (int k = 0; k < NUM_PARAMS; ++k) fprintf(stderr, "  %s.grad\n", kParamNames[k]);
    fprintf(stderr, "(or a parameter name for its gradient; see ttap-demo --list-tensors)\n");
    return 2;
  }
  return 0;
}

/* Returns -1 to go on, else the exit status (0 for --help). Accepts "--flag value" and
 * "--flag=value". */
static int parse_options(int argc, char **argv, options *o) {
  o->steps = DEFAULT_STEPS;
  o->lr = DEFAULT_LR;
  o->seed = DEFAULT_SEED;
  o->data = DEFAULT_DATA;
  o->list_tensors = 0;
  o->no_ttap = 0;
  o->time_loop = 0;
  o->num_inject = 0;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      print_usage(stdout);
      return 0;
    }
    if (strcmp(arg, "--list-tensors") == 0) {
      o->list_tensors = 1;
      continue;
    }
    if (strcmp(arg, "--no-ttap") == 0) {
      o->no_ttap = 1;
      continue;
    }
    if (strcmp(arg, "--time") == 0) {
      o->time_loop = 1;
      continue;
    }
    static const char *const kValued[] = {"--steps", "--lr", "--seed", "--data", "--inject-nan"};
    const char *flag = NULL, *value = NULL;
    for (size_t k = 0; k < sizeof kValued / sizeof kValued[0] && !flag; ++k) {
      size_t n = strlen(kValued[k]);
      if (strncmp(arg, kValued[k], n) != 0) continue;
      if (arg[n] == '=') {
        flag = kValued[k];
        value = arg + n + 1;
      } else if (arg[n] == '\0') {
        flag = kValued[k];
        if (i + 1 >= argc) return usage_error("%s needs a value", flag);
        value = argv[++i];
      }
    }
    if (!flag) return usage_error("unknown argument '%s'", arg);

    if (strcmp(flag, "--steps") == 0) {
      if (!parse_long(value, 1, MAX_STEPS, &o->steps)) {
        return usage_error("--steps %s: expected an integer from 1 to 100000000", value);
      }
    } else if (strcmp(flag, "--lr") == 0) {
      char *end = NULL;
      errno = 0;
      o->lr = strtod(value, &end);
      if (errno || end == value || *end != '\0' || !isfinite(o->lr) || o->lr <= 0) {
        return usage_error("--lr %s: expected a finite number > 0", value);
      }
    } else if (strcmp(flag, "--seed") == 0) {
      char *end = NULL;
      errno = 0;
      unsigned long long seed = strtoull(value, &end, 10);
      if (errno || end == value || *end != '\0' || value[0] == '-') {
        return usage_error("--seed %s: expected an integer >= 0", value);
      }
      o->seed = (uint64_t)seed;
    } else if (strcmp(flag, "--data") == 0) {
      if (!*value) return usage_error("--data: expected a file name");
      o->data = value;
    } else {
      if (o->num_inject == MAX_INJECT) {
        return usage_error("--inject-nan: at most %d times", MAX_INJECT);
      }
      int status = parse_injection(value, &o->inject[o->num_inject]);
      if (status) return status;
      ++o->num_inject;
    }
  }
  for (int k = 0; k < o->num_inject; ++k) {
    if (o->inject[k].step > o->steps) {
      return usage_error("--inject-nan: step %ld is after the last step (--steps %ld)",
                         o->inject[k].step, o->steps);
    }
  }
  return -1;
}

/* ---- training ---- */

/* NaN prints as "nan" or "-nan" depending on its sign bit, which the arithmetic that produced it
 * decides; scripts reading the output get one spelling. */
static double printable_loss(double loss) { return isnan(loss) ? (double)NAN : loss; }

/* Ctrl-C or SIGTERM (which `ttap run` forwards) ends training after the current step, so the
 * session is closed and the store finalized; then the signal is raised again for the parent. */
static volatile sig_atomic_t g_stop_signal = 0;

static void on_stop_signal(int sig) { g_stop_signal = sig; }

/* Watches a parameter and its gradient; failures are reported and the tensor goes unwatched. */
static void watch_parameter(ttap_session *session, const parameter *p) {
  int32_t handle;
  check_ttap(ttap_watch(session, p->name, p->value, TTAP_F32, p->numel, TTAP_PARAM, &handle),
             "ttap_watch");
  check_ttap(ttap_watch(session, p->grad_name, p->grad, TTAP_F32, p->numel, TTAP_GRAD, &handle),
             "ttap_watch");
}

int main(int argc, char **argv) {
  options opt;
  int status = parse_options(argc, argv, &opt);
  if (status >= 0) return status;

  if (opt.list_tensors) {
    for (int k = 0; k < NUM_PARAMS; ++k) printf("%s\n%s.grad\n", kParamNames[k], kParamNames[k]);
    return 0;
  }

  corpus text;
  if (!corpus_load(opt.data, &text)) return 2;
  model m;
  if (!model_init(&m, text.vocab, opt.seed)) {
    fprintf(stderr, "ttap-demo: out of memory\n");
    return 1;
  }
  size_t num_params = 0;
  for (int k = 0; k < NUM_PARAMS; ++k) num_params += m.params[k].numel;
  printf("ttap-demo: %s (%zu bytes, vocabulary %d)\n", opt.data, text.length, text.vocab);
  printf(
      "ttap-demo: MLP context %d, embedding %d, hidden %dx2 tanh, %zu parameters; "
      "Adam lr %g, batch %d, seed %llu, %ld steps\n",
      CONTEXT, EMBED, HIDDEN, num_params, opt.lr, BATCH, (unsigned long long)opt.seed, opt.steps);
  fflush(stdout);

  /* Without a session the demo still trains (and says so): it is also a plain training program, and
   * a read-only directory should not stop it. Every later call is skipped when session is NULL. */
  ttap_session *session = NULL;
  if (opt.no_ttap) {
    fprintf(stderr, "ttap-demo: training without tensortap (--no-ttap)\n");
  } else if (!check_ttap(ttap_open(NULL, NULL, &session), "ttap_open")) {
    session = NULL;
    fprintf(stderr, "ttap-demo: training without tensortap\n");
  }
  if (session) {
    for (int k = 0; k < NUM_PARAMS; ++k) watch_parameter(session, &m.params[k]);
  }

  signal(SIGINT, on_stop_signal);
  signal(SIGTERM, on_stop_signal);

  uint64_t batch_rng = opt.seed ^ 0x5DEECE66Dull; /* a stream apart from initialization's */
  uint8_t contexts[BATCH * CONTEXT], targets[BATCH];
  double window_loss = 0, last_logged_loss = NAN;
  long window_steps = 0, step = 1;
  struct timespec loop_start, loop_end;
  clock_gettime(CLOCK_MONOTONIC, &loop_start);
  for (; step <= opt.steps && !g_stop_signal; ++step) {
    sample_batch(&text, &batch_rng, contexts, targets);
    double loss = model_forward(&m, contexts, targets);
    if (session) {
      check_ttap(ttap_observe(session, "fc1.activation", m.h1, TTAP_F32, (uint64_t)BATCH * HIDDEN,
                              TTAP_ACTIVATION, step, NULL),
                 "ttap_observe");
      check_ttap(ttap_observe(session, "fc2.activation", m.h2, TTAP_F32, (uint64_t)BATCH * HIDDEN,
                              TTAP_ACTIVATION, step, NULL),
                 "ttap_observe");
    }
    model_backward(&m, contexts, targets);

    /* The planted bug: one NaN in the middle of a gradient, where a bad kernel or an overflowing
     * fp16 product would put it. Adam then carries it into the parameter, and from the next step
     * on the whole network is NaN: the run is lost, and tensortap should name this gradient at
     * this step as where it started. */
    for (int k = 0; k < opt.num_inject; ++k) {
      if (opt.inject[k].step != step) continue;
      parameter *p = &m.params[opt.inject[k].param];
      p->grad[p->numel / 2] = NAN;
      printf("step %ld  planted a NaN in %s\n", step, p->grad_name);
    }

    /* Sampled after backward and before the update, so gradients are those of this step. */
    if (session) {
      check_ttap(ttap_step(session, step, NULL), "ttap_step");
      check_ttap(ttap_log_scalar(session, "loss", loss, step), "ttap_log_scalar");
      /* With on_nonfinite=skip (ttap run --on-nonfinite skip) a step with a NaN is left out. */
      ttap_verdict_t verdict;
      if (check_ttap(ttap_verdict(session, step, &verdict), "ttap_verdict") &&
          verdict.action == TTAP_ACTION_SKIP) {
        printf("step %ld  update skipped (ttap_verdict)\n", step);
        continue;
      }
    }
    adam_update(&m, opt.lr, step);

    /* Minibatch losses are noisy, so each line prints the mean since the previous one. */
    window_loss += loss;
    ++window_steps;
    if (step == 1 || step % LOG_EVERY == 0 || step == opt.steps) {
      last_logged_loss = window_loss / (double)window_steps;
      printf("step %ld  loss %.4f\n", step, printable_loss(last_logged_loss));
      fflush(stdout);
      window_loss = 0;
      window_steps = 0;
    }
  }
  long trained = step - 1;
  clock_gettime(CLOCK_MONOTONIC, &loop_end);
  if (opt.time_loop) {
    fprintf(stderr, "ttap-demo: training loop %.6f s\n",
            (double)(loop_end.tv_sec - loop_start.tv_sec) +
                1e-9 * (double)(loop_end.tv_nsec - loop_start.tv_nsec));
  }
  if (window_steps > 0) last_logged_loss = window_loss / (double)window_steps;

  if (session) check_ttap(ttap_close(session), "ttap_close");
  if (g_ttap_failures > MAX_PRINTED_FAILURES) {
    fprintf(stderr, "ttap-demo: %ld tensortap calls failed in all\n", g_ttap_failures);
  }
  printf("trained %ld steps, final loss %.4f\n", trained, printable_loss(last_logged_loss));
  fflush(stdout);
  model_free(&m);
  free(text.tokens);

  if (g_stop_signal) {
    signal(g_stop_signal, SIG_DFL);
    raise(g_stop_signal);
  }
  return 0;
}
