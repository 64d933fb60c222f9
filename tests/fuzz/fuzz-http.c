/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the HTTP/1.1 parser. Input: a list of steps, each a
 * control byte then data: bit 0 = direction, bit 1 = a gap instead of data,
 * bits 2..7 + 1 = length; a control byte 0xff ends a direction (FIN).
 */
#include "config.h"

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>

#include "pds-http-parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
on_exchange(const PdsHttpExchange *ex, gpointer user_data)
{
	guint *count = user_data;
	/* Touch what a record would read, so the sanitizer checks the spans. */
	if (ex->request != NULL) {
		volatile guint8 sink = 0;
		const PdsHttpMessage *m = ex->request;
		for (guint i = 0; i < m->n_headers; i++)
			sink ^= m->head[m->headers[i].off + m->headers[i].len - 1];
		if (m->uri.len > 0)
			sink ^= m->head[m->uri.off + m->uri.len - 1];
		(void)sink;
	}
	(*count)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PdsMemBudget budget = {.limit = 1 << 20};
	PdsFlowMem mem = {.total = &budget, .limit = 256 * 1024};
	PdsHttpLimits limits = {4096, 256, 4};
	guint count = 0;
	PdsHttpConn *conn = pds_http_conn_new(&limits, &mem, on_exchange, &count);
	size_t off = 0;
	guint64 ts = 0;

	while (off < size) {
		guint8 c = data[off++];
		guint dir = c & 1;
		size_t len = (c >> 2) + 1;
		if (c == 0xff) {
			pds_http_conn_fin(conn, off & 1, ts);
			continue;
		}
		if (c & 2) {
			pds_http_conn_gap(conn, dir, len * 37);
			continue;
		}
		len = MIN(len, size - off);
		pds_http_conn_data(conn, dir, data + off, len, ts++);
		off += len;
	}
	pds_http_conn_finish(conn, ts);
	pds_http_conn_free(conn);
	/* Everything taken from the allowance came back, and it was never exceeded. */
	if (mem.used != 0 || budget.used != 0 || budget.peak > mem.limit)
		abort();
	return 0;
}
