/* membudget.c - the shared in-flight memory budget: one atomic counter,
 * CAS reservations with the "a lone request is always admitted" rule, and
 * a budgeted fw_buf append for the HTTP cores' body buffers. */
#include "flywheel/membudget.h"

void fw_membudget_init(fw_membudget *b, size_t limit)
{
    b->limit = limit;
    atomic_init(&b->used, 0);
    atomic_init(&b->peak, 0);
    atomic_init(&b->decoders, 0);
    atomic_init(&b->refused, 0);
}

static void note_peak(fw_membudget *b, size_t now)
{
    size_t p = atomic_load_explicit(&b->peak, memory_order_relaxed);
    while (now > p && !atomic_compare_exchange_weak_explicit(&b->peak, &p, now,
                                                             memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

/* Adds |bytes| unless the total would pass the limit while someone else
 * holds memory and |may_exceed| is false. */
static bool reserve(fw_membudget *b, size_t bytes, fw_membudget_hold *h, bool may_exceed)
{
    size_t cur = atomic_load_explicit(&b->used, memory_order_relaxed);
    size_t next;
    for (;;) {
        bool others = cur > h->bytes;
        if (bytes > SIZE_MAX - cur || (cur + bytes > b->limit && others && !may_exceed)) {
            atomic_fetch_add_explicit(&b->refused, 1, memory_order_relaxed);
            return false;
        }
        next = cur + bytes;
        if (atomic_compare_exchange_weak_explicit(&b->used, &cur, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    h->bytes += bytes;
    note_peak(b, next);
    return true;
}

bool fw_membudget_reserve(fw_membudget *b, size_t bytes, fw_membudget_hold *h)
{
    if (!b || b->limit == 0 || bytes == 0) return true;
    return reserve(b, bytes, h, false);
}

bool fw_membudget_reserve_decode(fw_membudget *b, size_t bytes, fw_membudget_hold *h)
{
    if (!b || b->limit == 0 || bytes == 0) return true;
    if (!h->decoding) {
        atomic_fetch_add_explicit(&b->decoders, 1, memory_order_relaxed);
        h->decoding = true;
    }
    bool alone = atomic_load_explicit(&b->decoders, memory_order_relaxed) == 1;
    return reserve(b, bytes, h, alone);
}

void fw_membudget_release(fw_membudget *b, fw_membudget_hold *h)
{
    if (b && h->bytes) atomic_fetch_sub_explicit(&b->used, h->bytes, memory_order_relaxed);
    if (b && h->decoding) atomic_fetch_sub_explicit(&b->decoders, 1, memory_order_relaxed);
    h->bytes = 0;
    h->decoding = false;
}

size_t fw_membudget_used(const fw_membudget *b)
{
    return b ? atomic_load_explicit(&b->used, memory_order_relaxed) : 0;
}

size_t fw_membudget_peak(const fw_membudget *b)
{
    return b ? atomic_load_explicit(&b->peak, memory_order_relaxed) : 0;
}

uint64_t fw_membudget_refused(const fw_membudget *b)
{
    return b ? atomic_load_explicit(&b->refused, memory_order_relaxed) : 0;
}

int fw_membudget_buf_append(fw_membudget *m, fw_membudget_hold *h, fw_buf *b, const void *p,
                            size_t n)
{
    if (n == 0) return 0;
    if (m && m->limit) {
        size_t ncap = fw_buf_grown_cap(b, n);
        if (ncap > b->cap && !fw_membudget_reserve(m, ncap - b->cap, h)) return FW_ERR_OVERLOAD;
    }
    return fw_buf_append(b, p, n);
}
