/* invest_internal.h - test hooks of fw_invest (investigations.c). Not a
 * library interface: only tests/unit/test_invest.c includes it. */
#ifndef FLYWHEEL_INVEST_INTERNAL_H
#define FLYWHEEL_INVEST_INTERNAL_H

#include <stdbool.h>
#include "flywheel/investigations.h"

/* Capacity of the in-memory queue; starts beyond it get FW_ERR_OVERLOAD. */
#define FW__INVEST_QUEUE_CAP 64u

/* While paused the worker takes nothing from the queue (tests fill it). */
void fw__invest_set_paused(fw_investigations *v, bool paused);

#endif
