/* fuzz_alarm.c - libFuzzer entry for the alarm webhook parsers: the first
 * byte picks the endpoint's format (auto, Alertmanager, CloudWatch), the
 * rest is the body. Checks the invariants every parse must keep. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/alarm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fw_alarm_batch batch; /* large: kept off the stack */
    fw_parse_error err;
    if (size == 0)
        return 0;
    fw_alarm_format fmt = (fw_alarm_format)(data[0] % 3u);
    int rv = fw_alarm_parse(fmt, data + 1, size - 1, 1700000000000000000ull, &batch, &err);
    if (rv == 0) {
        if (batch.n > FW_ALARM_MAX_PER_POST)
            abort();
        for (size_t i = 0; i < batch.n; i++) {
            const fw_alarm *a = &batch.alarms[i];
            if (!a->name[0] || !a->service[0] || a->at_ns == 0 || !a->dedupe_key[0])
                abort();
            if (strnlen(a->description, sizeof(a->description)) >= sizeof(a->description))
                abort();
        }
    } else if (!err.detail[0] || strnlen(err.detail, sizeof(err.detail)) >= sizeof(err.detail)) {
        abort();
    }
    return 0;
}
