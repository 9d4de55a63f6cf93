/* ingest_internal.h - test hooks of the ingest module, not part of the
 * public contract: direct access to the in-flight decode-memory counter
 * (fw_ingest_config.inflight_limit) so a unit test can simulate another
 * request holding memory. */
#ifndef FLYWHEEL_INGEST_INTERNAL_H
#define FLYWHEEL_INGEST_INTERNAL_H

#include <stddef.h>
#include "flywheel/ingest.h"

/* Adds / removes |bytes| to the in-flight total as if another request held
 * them; each returns the new total. */
size_t fw__ingest_test_reserve(fw_ingest *in, size_t bytes);
size_t fw__ingest_test_release(fw_ingest *in, size_t bytes);
/* The current in-flight total. */
size_t fw__ingest_test_inflight(fw_ingest *in);

#endif
