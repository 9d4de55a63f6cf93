/* semconv_internal.h - what semconv.c and throttle_rules.c share: the shape
 * of a compiled-in default throttling rule. Not a public interface. */
#ifndef FLYWHEEL_SEMCONV_INTERNAL_H
#define FLYWHEEL_SEMCONV_INTERNAL_H

#include <stddef.h>
#include "flywheel/semconv.h"

typedef enum fw__throttle_role {
    FW__THROTTLE_RULE = 0,   /* fw_throttle_rules_add */
    FW__THROTTLE_UNLESS = 1, /* fw_throttle_rules_add_unless */
    FW__THROTTLE_ATTR = 2    /* fw_throttle_rules_add_attr (fields ignored) */
} fw__throttle_role;

typedef struct fw__throttle_default {
    fw__throttle_role role;
    unsigned fields;
    fw_throttle_kind kind;
    const char *attr_name; /* FW__THROTTLE_ATTR only */
    const char *pattern;
} fw__throttle_default;

/* The compiled-in default rule set (static, read-only). */
const fw__throttle_default *fw__semconv_default_rules(size_t *n);

#endif
