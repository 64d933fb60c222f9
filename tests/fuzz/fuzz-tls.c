/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the TLS handshake reader. Input: steps as in fuzz-http.c
 * (control byte: bit 0 direction, bit 1 gap, bits 2..7 + 1 length).
 */
#include "config.h"

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pds-tls-parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
on_done(const PdsTlsHandshakeInfo *info, gpointer user_data)
{
	/* Names must be terminated strings. */
	if (strlen(info->sni) >= sizeof(info->sni) || strlen(info->alpn) >= sizeof(info->alpn))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PdsMemBudget budget = {.limit = 1 << 20};
	PdsFlowMem mem = {.total = &budget, .limit = 256 * 1024};
	PdsTlsParser *tls = pds_tls_parser_new(&mem, on_done, NULL);
	size_t off = 0;
	guint64 ts = 0;

	while (off < size) {
		guint8 c = data[off++];
		guint dir = c & 1;
		size_t len = (c >> 2) + 1;
		if (c & 2) {
			pds_tls_parser_gap(tls, dir, len * 11);
			continue;
		}
		len = MIN(len, size - off);
		pds_tls_parser_data(tls, dir, data + off, len, ts++);
		off += len;
	}
	on_done(pds_tls_parser_get_info(tls), NULL);
	pds_tls_parser_free(tls);
	if (mem.used != 0 || budget.used != 0)
		abort();
	return 0;
}
