/* C callers of the API for the tests: C passes any int as an enum argument, which C++ test code
 * cannot do without undefined behaviour of its own. */
#include "tests/runtime/api_c_calls.h"

#include <stddef.h>

ttap_status watch_with_int_enums(ttap_session *s, const char *name, const float *data,
                                 uint64_t numel, int dtype, int kind) {
  int32_t handle = -1;
  return ttap_watch(s, name, data, (ttap_dtype)dtype, numel, (ttap_kind)kind, &handle);
}

ttap_status observe_with_int_enums(ttap_session *s, const char *name, const float *data,
                                   uint64_t numel, int dtype, int kind) {
  return ttap_observe(s, name, data, (ttap_dtype)dtype, numel, (ttap_kind)kind, -1, NULL);
}

ttap_status set_role_with_int_enum(ttap_session *s, int32_t handle, int role) {
  return ttap_set_role(s, handle, (ttap_role)role);
}

const char *status_string_of_int(int status) { return ttap_status_string((ttap_status)status); }
