/* fuzz_config.c - YAML bytes into fw_config_load_yaml: must never crash,
 * leak or read out of bounds, and a failed load must leave the config as
 * it was; a successful one must still dump. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fw_config c, before;
    char err[256];
    fw_config_defaults(&c);
    before = c;
    int rv = fw_config_load_yaml(&c, "fuzz", (const char *)data, size, err, sizeof err);
    if (rv != 0) {
        if (memcmp(&c, &before, sizeof c) != 0) abort();
        if (memchr(err, '\0', sizeof err) == NULL) abort();
        return 0;
    }
    if (fw_config_validate(&c, err, sizeof err) != 0 && memchr(err, 0, sizeof err) == NULL) abort();
    FILE *f = fopen("/dev/null", "w");
    if (f) {
        fw_config_dump(&c, f);
        fclose(f);
    }
    return 0;
}
