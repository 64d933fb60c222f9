/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory accounting of the analyzer. Every buffer a flow holds (out-of-order
 * segments, HTTP headers and body prefixes, TLS hello messages) is taken from
 * the flow's allowance and from the analyzer's total, so the worst case is
 * bounded whatever the traffic; a refused take is counted and the caller
 * degrades (a gap, a truncated field) instead of growing.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	gsize used;
	gsize peak;
	gsize limit;
	guint64 denied; /* takes refused by either limit */
} PdsMemBudget;

typedef struct {
	PdsMemBudget *total;
	gsize used;
	gsize limit;
	gboolean hit; /* a take was refused; the flow reports PDS_FLOW_ANOMALY_MEMORY_LIMIT */
} PdsFlowMem;

static inline gboolean
pds_flow_mem_take(PdsFlowMem *mem, gsize len)
{
	if (mem->used + len > mem->limit || mem->total->used + len > mem->total->limit) {
		mem->hit = TRUE;
		mem->total->denied++;
		return FALSE;
	}
	mem->used += len;
	mem->total->used += len;
	if (mem->total->used > mem->total->peak)
		mem->total->peak = mem->total->used;
	return TRUE;
}

static inline void
pds_flow_mem_give(PdsFlowMem *mem, gsize len)
{
	g_assert(mem->used >= len && mem->total->used >= len);
	mem->used -= len;
	mem->total->used -= len;
}

G_END_DECLS
