/* C callers of the API that pass enum arguments as plain ints (see api_c_calls.c). */
#ifndef TTAP_TESTS_API_C_CALLS_H
#define TTAP_TESTS_API_C_CALLS_H

#include "ttap/ttap.h"

#ifdef __cplusplus
extern "C" {
#endif

ttap_status watch_with_int_enums(ttap_session *s, const char *name, const float *data,
                                 uint64_t numel, int dtype, int kind);
ttap_status observe_with_int_enums(ttap_session *s, const char *name, const float *data,
                                   uint64_t numel, int dtype, int kind);
ttap_status set_role_with_int_enum(ttap_session *s, int32_t handle, int role);
const char *status_string_of_int(int status);

#ifdef __cplusplus
}
#endif

#endif
