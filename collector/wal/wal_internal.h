/* wal_internal.h - helpers shared by the files of the wal module only. */
#ifndef FLYWHEEL_WAL_INTERNAL_H
#define FLYWHEEL_WAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "flywheel/wal.h"

/* Fills the record header for |payload,len| (len <= FW_WAL_RECORD_MAX). */
void fw__wal_header_encode(uint8_t hdr[FW_WAL_HDR_LEN], fw_wal_type type, uint8_t protocol,
                           uint64_t arrival_ns, const uint8_t *payload, size_t len);

#endif
