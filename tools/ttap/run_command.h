// `ttap run`: see run_command.cc.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace ttap::cli {

void add_run_command(CLI::App &app);

// The hooks library `ttap run` preloads (libttap_inject.so in <dir of ttap>/../lib, in the build
// tree as installed); "" when it is not there.
std::string inject_library_path();

// main() takes everything after a `--` that follows the `run` verb out of argv before CLI11 sees
// it (CLI11 would parse CMD's own options) and hands it over here.
void set_run_command_tail(int argc, char **argv, int *kept_argc);

}  // namespace ttap::cli
