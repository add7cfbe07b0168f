// Test support for `ttap ls`, `ttap diff` and multi-run reports: small runs written through the
// public C API whose values follow a recipe, so two runs can be made to agree, to part at a chosen
// step by a chosen factor, to hold a NaN, or to differ in tensors, sampling grid or rank.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "ttap/ttap.h"

namespace ttap::test {

struct run_recipe {
  int steps = 20;
  int every = 1;       // sample every N-th step
  double scale = 1.0;  // b.grad and the loss are multiplied by this from scale_from on
  int64_t scale_from = 0;
  int64_t nan_step = -1;        // a NaN in b.grad at this step
  bool extra_tensor = false;    // also watch extra.grad
  int32_t rank = 0, world = 1;  // the session's rank option
  const char *group = nullptr;  // ttap_set_group kind ("single": a group of one)
};

inline void check_status(ttap_status st, const char *what) {
  if (st != TTAP_OK) throw std::runtime_error(std::string(what) + ": " + ttap_last_error());
}

// Writes the run into `dir` (created by ttap_open when missing) and closes it cleanly.
inline void write_recipe_run(const std::string &dir, const run_recipe &r) {
  const std::string options = "backend=cpu,budget=0,flush_ms=100,every=" + std::to_string(r.every) +
                              ",rank=" + std::to_string(r.rank) +
                              ",world=" + std::to_string(r.world) +
                              // The ranks of one run are written one after the other here: a
                              // later rank joins the directory the first one closed.
                              (r.rank > 0 ? ",mode=append" : "");
  ttap_session *s = nullptr;
  check_status(ttap_open(dir.c_str(), options.c_str(), &s), "ttap_open");
  if (r.group) check_status(ttap_set_group(s, r.group, nullptr), "ttap_set_group");
  std::vector<float> w(256), a(128), b(512), extra(64);
  int32_t h;
  check_status(ttap_watch(s, "w", w.data(), TTAP_F32, w.size(), TTAP_PARAM, &h), "ttap_watch");
  check_status(ttap_watch(s, "a.grad", a.data(), TTAP_F32, a.size(), TTAP_GRAD, &h), "ttap_watch");
  check_status(ttap_watch(s, "b.grad", b.data(), TTAP_F32, b.size(), TTAP_GRAD, &h), "ttap_watch");
  if (r.extra_tensor)
    check_status(ttap_watch(s, "extra.grad", extra.data(), TTAP_F32, extra.size(), TTAP_GRAD, &h),
                 "ttap_watch");
  for (int64_t step = 0; step < r.steps; ++step) {
    const float k = float(step >= r.scale_from ? r.scale : 1.0);
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * float(i % 5 + 1) + 1e-4f * float(step);
    for (size_t i = 0; i < a.size(); ++i) a[i] = 1e-3f * float(step + 1) * std::sin(float(i + 1));
    for (size_t i = 0; i < b.size(); ++i) b[i] = k * 1e-2f * std::cos(float(i + step));
    for (size_t i = 0; i < extra.size(); ++i) extra[i] = 0.5f;
    if (step == r.nan_step) b[7] = NAN;
    check_status(ttap_step(s, step, nullptr), "ttap_step");
    check_status(ttap_log_scalar(s, "loss", double(k) * 3.0 / double(step + 1), step),
                 "ttap_log_scalar");
  }
  check_status(ttap_close(s), "ttap_close");
}

// The same in a child process, so the writer's pid is gone when this returns.
inline void write_recipe_run_in_child(const std::string &dir, const run_recipe &r) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    try {
      write_recipe_run(dir, r);
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("the child writing " + dir + " failed");
}

}  // namespace ttap::test
