// `ttap selftest`: the verb's options and output (see tools/selftest/selftest.h for the checks).
#pragma once

#include <CLI/CLI.hpp>

namespace ttap::selftest {

// Exit status: 0 when no check failed (skipped parts included), 1 on any failure.
void add_selftest_command(CLI::App &app);

}  // namespace ttap::selftest
