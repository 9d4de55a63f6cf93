/* auth.h - optional bearer-token authentication (SPEC 3.1): the check of
 * a request's Authorization header against a listener's token, in time
 * independent of the presented token, and the loading of a token from the
 * configuration or from a file (so secrets need not sit in the YAML). */
#ifndef FLYWHEEL_AUTH_H
#define FLYWHEEL_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"

/* Longest token accepted (bytes). */
#define FW_AUTH_TOKEN_MAX 4096

/* True when the request may pass: |expected_token| is empty (auth off) or
 * |authorization_header| is "Bearer <token>" (scheme case-insensitive,
 * surrounding blanks ignored) with <token> equal to it. The comparison
 * reads every byte of the expected token whatever the header holds. */
bool fw_auth_check(const fw_str expected_token, fw_str authorization_header);

/* Resolves one listener's token: |value| (the inline token) or the content
 * of |file| (leading and trailing whitespace trimmed); both empty/NULL
 * gives "" (auth off). Both set, an unreadable, empty or over-long file, or
 * a token with bytes outside visible ASCII is FW_ERR_CONFIG with a reason
 * in |err|. |out| receives the NUL-terminated token. */
FW_WUR int fw_auth_token_load(const char *value, const char *file, char *out, size_t outsz,
                              char *err, size_t errlen);

#endif
