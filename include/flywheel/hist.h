/* hist.h - compact log-linear latency histogram (sans-I/O, no allocation).
 * Values are durations in microseconds. Each power of two [2^k, 2^(k+1)) is
 * split in 2^s equal sub-buckets (s is the "scale"), so a bucket's
 * representative value is within 2^-(s+1) of every value recorded in it:
 *   s = 5: 1.56%   s = 4: 3.13%   s = 3: 6.25%   s = 2: 12.5%
 * The struct keeps a window of FW_HIST_SLOTS contiguous buckets. A new
 * histogram starts at s = 5; when recorded values span more buckets than the
 * window holds, adjacent bucket pairs are merged (s - 1: index >> 1, exact,
 * no value moves to a wrong bucket). The window always holds s >= 4 while
 * max/min <= 2^7, s >= 3 while max/min <= 2^15, and s = 2 (12.5%) can hold
 * the whole range, so the bound never gets worse than 12.5%.
 * fw_hist_rel_error() says the bound that holds for a given histogram.
 *
 * Range: 0 .. FW_HIST_MAX_US (2^32 - 1 us, about 71.6 minutes); larger values
 * are clamped to it (the sum keeps the real value). 0 has its own exact
 * bucket (sub-microsecond spans).
 *
 * Size: sizeof(fw_hist) == 544 bytes (128 x uint32 bucket counts + 32-byte
 * header), fixed, so it can live in arrays (one per series and 10 s time
 * bucket: 720 of them over 2 h is ~383 KiB per series, so allocate them
 * lazily for non-empty time buckets). Bucket counts saturate at UINT32_MAX; the total
 * count and the sum are uint64 and saturate too.
 *
 * Thread safety: none; a histogram belongs to one partition, merge copies
 * at query time. All functions are total (no error returns). */
#ifndef FLYWHEEL_HIST_H
#define FLYWHEEL_HIST_H

#include <stddef.h>
#include <stdint.h>

#define FW_HIST_SLOTS     128u
#define FW_HIST_MAX_SCALE 5u
#define FW_HIST_MIN_SCALE 2u
#define FW_HIST_MAX_US    UINT32_MAX

/* Layout is public only so the struct can be embedded and arrayed; use the
 * functions. Invariant: every nonzero counts[i] is the bucket of index
 * lo + i at scale |scale|; values 0 live in |zero|. */
typedef struct fw_hist {
    uint64_t count;    /* values recorded (saturating) */
    uint64_t sum;      /* sum of values in us (saturating) */
    uint32_t min;      /* smallest value (clamped); 0 when empty */
    uint32_t max;      /* largest value (clamped); 0 when empty */
    uint32_t zero;     /* values equal to 0 */
    uint16_t lo;       /* bucket index of counts[0] */
    uint8_t scale;     /* FW_HIST_MIN_SCALE..FW_HIST_MAX_SCALE */
    uint8_t saturated; /* 1 once a bucket count hit UINT32_MAX */
    uint32_t counts[FW_HIST_SLOTS];
} fw_hist;

void fw_hist_init(fw_hist *h);
static inline void fw_hist_reset(fw_hist *h)
{
    fw_hist_init(h);
}

/* Records |value_us| |n| times (|n| > 1 for sampling-scaled counts; 0 is a
 * no-op). */
void fw_hist_record(fw_hist *h, uint64_t value_us, uint32_t n);
/* Records with a sampling weight (adjusted count, SPEC 5): |weight| rounded
 * to the nearest integer, at least 1 (NaN, 0 or negative: nothing). The
 * histogram's counts are for quantiles; keep exact weighted request counts
 * in a double next to it. */
void fw_hist_record_weighted(fw_hist *h, uint64_t value_us, double weight);
/* Adds |src| into |dst| (|dst| may equal |src|). The result is the same as
 * recording every value of both into one histogram, at the coarser of the
 * two scales (or coarser still if the union needs it). */
void fw_hist_merge(fw_hist *dst, const fw_hist *src);

uint64_t fw_hist_count(const fw_hist *h);
uint64_t fw_hist_sum(const fw_hist *h); /* us */
uint64_t fw_hist_min(const fw_hist *h); /* us; 0 when empty */
uint64_t fw_hist_max(const fw_hist *h); /* us; 0 when empty */
/* The relative error bound 2^-(scale+1) of fw_hist_quantile() for |h|. */
double fw_hist_rel_error(const fw_hist *h);

/* The |q|-quantile (0 <= q <= 1, clamped) by nearest rank: the value of rank
 * ceil(q * n) (at least 1) among the n recorded values, as the midpoint of
 * its bucket's integer range, clamped to [min, max]. Its relative error
 * against the exact nearest-rank value is at most fw_hist_rel_error(h);
 * q = 0 gives min and q = 1 gives max exactly. Returns 0 when empty. */
double fw_hist_quantile(const fw_hist *h, double q);

/* Duration of a span in us, rounded to nearest; 0 when |end_ns| < |start_ns|. */
static inline uint64_t fw_hist_duration_us(uint64_t start_ns, uint64_t end_ns)
{
    return end_ns > start_ns ? (end_ns - start_ns + 500u) / 1000u : 0u;
}

/* Prometheus exposition buckets: the OpenTelemetry Collector spanmetrics
 * connector's default upper bounds (2 ms .. 15 s), in us, with their `le`
 * label text in seconds ("0.002" .. "15"). Static, never freed. */
#define FW_HIST_PROM_NBOUNDS 16u
const uint64_t *fw_hist_prom_bounds_us(void);
const char *fw_hist_prom_bound_label(size_t i); /* NULL when i out of range */

/* Cumulative counts at upper bounds |bounds_us| (ascending, |n| of them)
 * into |out|: out[i] ~ number of values <= bounds_us[i] (Prometheus `le`).
 * Buckets wholly below a bound count fully; the one fine bucket straddling
 * a bound is split by linear interpolation (rounded), so each out[i] is off
 * by at most that bucket's count; values above max or below min are
 * placed exactly. out[] is non-decreasing and <= fw_hist_count(h); the
 * +Inf bucket is fw_hist_count(h). */
void fw_hist_cumulative(const fw_hist *h, const uint64_t *bounds_us, size_t n, uint64_t *out);

#endif
