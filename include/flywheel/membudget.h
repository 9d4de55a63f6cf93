/* membudget.h - a shared byte budget for memory held by requests in
 * flight: bodies the HTTP cores buffer, decompressed copies and decode
 * arenas. Reservations are lock-free (one atomic counter). A reservation
 * that would pass the limit is refused while other requests hold memory;
 * a request alone is always admitted, so a large legal request is never
 * starved. Refusals become 503 + Retry-After / gRPC UNAVAILABLE upstream. */
#ifndef FLYWHEEL_MEMBUDGET_H
#define FLYWHEEL_MEMBUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"

typedef struct fw_membudget {
    size_t limit;           /* 0 = unlimited (nothing is counted) */
    atomic_size_t used;     /* bytes reserved now */
    atomic_size_t peak;     /* most bytes ever reserved at once */
    atomic_uint decoders;   /* requests holding decode-stage memory */
    atomic_uint_least64_t refused; /* reservations refused */
} fw_membudget;

/* One request's reservation. */
typedef struct fw_membudget_hold {
    size_t bytes;  /* reserved by this request */
    bool decoding; /* counted in fw_membudget.decoders */
} fw_membudget_hold;

void fw_membudget_init(fw_membudget *b, size_t limit);
/* Receive stage (body buffers): adds |bytes| to |h|. Refused (false, |h|
 * unchanged) when the total would pass the limit while someone else holds
 * memory: a request alone is always admitted. NULL |b| or limit 0: always
 * true, nothing counted. */
FW_WUR bool fw_membudget_reserve(fw_membudget *b, size_t bytes, fw_membudget_hold *h);
/* Decode stage (inflated copy, decode arena): like fw_membudget_reserve,
 * but a request may also pass the limit while no other request is
 * decoding, so one large request always makes progress even when bodies
 * of others are being received (they are refused meanwhile). The memory
 * held is thus at most the limit plus one request's decode memory. */
FW_WUR bool fw_membudget_reserve_decode(fw_membudget *b, size_t bytes, fw_membudget_hold *h);
/* Gives back everything |h| holds and clears it. NULL |b| is a no-op. */
void fw_membudget_release(fw_membudget *b, fw_membudget_hold *h);
size_t fw_membudget_used(const fw_membudget *b);
size_t fw_membudget_peak(const fw_membudget *b);
uint64_t fw_membudget_refused(const fw_membudget *b);

/* fw_buf_append whose capacity growth is reserved first (receive stage):
 * FW_ERR_OVERLOAD when the budget refuses it (|b| unchanged), else as
 * fw_buf_append. A NULL budget appends unaccounted. */
FW_WUR int fw_membudget_buf_append(fw_membudget *m, fw_membudget_hold *h, fw_buf *b,
                                   const void *p, size_t n);

#endif
