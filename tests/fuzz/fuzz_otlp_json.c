/* fuzz_otlp_json.c - feeds raw bytes to the OTLP/JSON trace and logs decoders
 * (the shared walk is in fuzz_otlp_common.h). */
#include "fuzz_otlp_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_otlp_decode(FW_OTLP_JSON, data, size);
}
