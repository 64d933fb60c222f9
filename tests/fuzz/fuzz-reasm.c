/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the whole analyzer (decoding, flow table, reassembly,
 * parsers, records) with small limits so eviction and memory refusal run.
 * Input: frames, each u16 length (big-endian), u8 link type selector, bytes.
 */
#include "config.h"

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>

#include "pds-analyzer.h"
#include "pds-record-codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const guint linktypes[] = {1, 101, 113, 276, 0, 228, 229, 12};

static void
on_record(GBytes *record, gpointer user_data)
{
	gsize len;
	const guint8 *p = g_bytes_get_data(record, &len);
	PdsRecordIter iter;
	PdsRecordHeader hdr;
	guint16 code, flen;
	const guint8 *value;

	/* Every record the analyzer makes must parse. */
	if (!pds_record_iter_init(&iter, p, len, &hdr, NULL))
		abort();
	while (pds_record_iter_next(&iter, &code, &value, &flen, NULL))
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PdsAnalyzerConfig cfg;
	PdsAnalyzerStats st;
	PdsAnalyzer *an;
	size_t off = 0;
	guint64 ts = G_GUINT64_CONSTANT(1700000000000000000);

	pds_analyzer_config_init(&cfg);
	cfg.max_flows = 8;
	cfg.max_flow_memory = 16 * 1024;
	cfg.max_total_memory = 48 * 1024;
	cfg.max_header_bytes = 2048;
	cfg.body_prefix_bytes = 64;
	cfg.max_pipeline = 2;
	an = pds_analyzer_new(&cfg, on_record, NULL);
	while (off + 3 <= size) {
		size_t len = (data[off] << 8) | data[off + 1];
		guint8 sel = data[off + 2];
		off += 3;
		len = MIN(len, size - off);
		/* The selector's high bits move the clock, to reach the idle timeouts. */
		ts += (guint64)(sel >> 3) * (sel >= 0xf8 ? 60 : 1) * G_GUINT64_CONSTANT(1000000000);
		pds_analyzer_process(an, linktypes[sel & 7], ts, data + off, len, len);
		off += len;
	}
	pds_analyzer_flush(an);
	pds_analyzer_get_stats(an, &st);
	if (st.memory_used != 0 || st.memory_peak > cfg.max_total_memory || st.flows_active != 0)
		abort();
	pds_analyzer_free(an);
	return 0;
}
