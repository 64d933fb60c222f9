/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stored PodScope records as JSON for the web viewer (GET /v1/records and
 * the /v1/live WebSocket): flow records (HTTP exchanges, TLS handshakes,
 * connection ends) and snoop file accesses, one flat object each with the
 * store index, so a client can resume after the last index it has.
 *
 *   {"index":N,"record_type":"flow","source_namespace":...,"source_pod":...,
 *    "source_interface":...,"ts_ns":...,"interface_id":..., <record fields>}
 *
 * Flow fields are those of `podscope analyze --json` (pds-flow-format.h);
 * file-access fields are the PDS_FILE_* names in lower case.
 */
#pragma once

#include <glib.h>

#include "pds-hub-store.h"

G_BEGIN_DECLS

typedef struct _PdsHubRecords PdsHubRecords;

PdsHubRecords *pds_hub_records_new(PdsHubStore *store);
void pds_hub_records_free(PdsHubRecords *records);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsHubRecords, pds_hub_records_free)

/*
 * Appends the JSON object of the stored block @data (index @index) to @out.
 * FALSE (and @out unchanged) when the block is not a record the viewer
 * shows: packets, interface and name blocks, source and control records,
 * malformed records.
 */
gboolean pds_hub_records_append_json(
	PdsHubRecords *records, guint64 index, const guint8 *data, gsize len, GString *out);

/* Appends @text as a JSON string (quotes included), invalid UTF-8 replaced. */
void pds_hub_records_append_json_string(GString *out, const char *text, gssize len);

G_END_DECLS
