// `ttap env`: prints the knob registry of runtime/config.cc with the values this environment sets,
// so a user sees what a run would use before starting it.
#include "tools/ttap/env_command.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "runtime/config.h"

namespace ttap::cli {

void add_env_command(CLI::App &app) {
  auto json = std::make_shared<bool>(false);
  auto *env = app.add_subcommand(
      "env", "List the TTAP_* knobs: option key, default, current value, allowed values, meaning");
  env->add_flag("--json", *json, "Print one JSON array instead of a table");
  env->callback([json] {
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const knob &k : knobs()) {
        auto v = env_value(k.env);
        const bool option = k.scope == knob_scope::session;
        out.push_back({{"name", k.env},
                       {"option", option ? nlohmann::json(k.name) : nlohmann::json(nullptr)},
                       {"default", k.default_value},
                       {"value", v ? nlohmann::json(*v) : nlohmann::json(nullptr)},
                       {"allowed", knob_range(k)},
                       {"description", k.meaning}});
      }
      std::printf("%s\n", out.dump(2).c_str());
      return;
    }
    std::printf("%-30s %-25s %-9s %-12s %s\n", "variable", "option", "default", "set to",
                "meaning");
    for (const knob &k : knobs()) {
      auto v = env_value(k.env);
      std::printf("%-30s %-25s %-9s %-12s %s (%s)\n", k.env,
                  k.scope == knob_scope::session ? k.name : "-",
                  *k.default_value ? k.default_value : "(unset)", v ? v->c_str() : "-", k.meaning,
                  knob_range(k).c_str());
    }
    std::printf("\nalso read: ");
    bool first = true;
    for (const char *name : fallback_variables()) {
      auto v = env_value(name);
      std::printf("%s%s=%s", first ? "" : ", ", name, v ? v->c_str() : "(unset)");
      first = false;
    }
    std::printf("\noptions of ttap_open (\"key=value,...\") override the environment.\n");
  });
}

}  // namespace ttap::cli
