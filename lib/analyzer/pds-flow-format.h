/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Flow records (type 2) as text for people or as one JSON object per line
 * for tools (`podscope analyze`, tests, the hub).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
	PDS_FLOW_FORMAT_TEXT,
	PDS_FLOW_FORMAT_JSON,
} PdsFlowFormat;

/*
 * Appends one line (without the newline) describing @record to @out.
 * FALSE with @error set when the record is malformed or not a flow record.
 */
gboolean pds_flow_record_format(
	const guint8 *record, gsize len, PdsFlowFormat format, GString *out, GError **error);

const char *pds_flow_event_to_string(guint value);
const char *pds_flow_protocol_to_string(guint value);
const char *pds_flow_tcp_state_to_string(guint value);
/* Name of one PdsFlowAnomaly bit, NULL for an unknown bit. */
const char *pds_flow_anomaly_to_string(guint32 bit);

G_END_DECLS
