// libFuzzer harness: the options string of ttap_open ("key=value,..."), through the public
// parser make_session_config. Whatever it accepts must print (to_string, stored with the run) as
// a string it accepts again with the same result. Run through scripts/run-fuzz.sh.
#include <cstdlib>
#include <string>

#include "runtime/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string options(reinterpret_cast<const char *>(data), size);
  if (options.find('\0') != std::string::npos) return 0;  // a C string ends there anyway
  ttap::session_config config;
  std::string error;
  if (!ttap::make_session_config("fuzz-run", options.c_str(), &config, &error)) {
    if (error.empty()) std::abort();  // a refusal must say why
    return 0;
  }
  const std::string printed = config.to_string();
  ttap::session_config again;
  if (!ttap::make_session_config("fuzz-run", printed.c_str(), &again, &error)) std::abort();
  if (again.to_string() != printed) std::abort();
  return 0;
}
