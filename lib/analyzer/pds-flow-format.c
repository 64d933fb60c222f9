/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Flow record formatting. JSON keys are the field names of pds-record.h in
 * lower case without the PDS_FLOW_ prefix; repeated fields become arrays;
 * addresses are text; byte fields are strings with non-printable bytes
 * escaped. Unknown codes are kept as "field_<code>" with their size.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsAnalyzer"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <string.h>

#include "pds-flow-format.h"
#include "pds-record-codec.h"

typedef enum {
	FT_U8,
	FT_U16,
	FT_U32,
	FT_U64,
	FT_HEX16,
	FT_STR,
	FT_ADDR,
	FT_BYTES,
	FT_EVENT,
	FT_PROTOCOL,
	FT_STATE,
	FT_ANOMALIES,
} PdsFieldType;

typedef struct {
	guint16 code;
	const char *name;
	PdsFieldType type;
	gboolean repeat;
} PdsFieldInfo;

static const PdsFieldInfo field_info[] = {
	{PDS_FLOW_EVENT, "event", FT_EVENT, FALSE},
	{PDS_FLOW_STREAM_ID, "stream_id", FT_U64, FALSE},
	{PDS_FLOW_SRC_ADDR, "src_addr", FT_ADDR, FALSE},
	{PDS_FLOW_DST_ADDR, "dst_addr", FT_ADDR, FALSE},
	{PDS_FLOW_SRC_PORT, "src_port", FT_U16, FALSE},
	{PDS_FLOW_DST_PORT, "dst_port", FT_U16, FALSE},
	{PDS_FLOW_IP_PROTO, "ip_proto", FT_U8, FALSE},
	{PDS_FLOW_PROTOCOL, "protocol", FT_PROTOCOL, FALSE},
	{PDS_FLOW_TCP_STATE, "tcp_state", FT_STATE, FALSE},
	{PDS_FLOW_ANOMALIES, "anomalies", FT_ANOMALIES, FALSE},
	{PDS_FLOW_ANOMALY_TEXT, "anomaly_text", FT_STR, FALSE},
	{PDS_FLOW_SRC_NAME, "src_name", FT_STR, FALSE},
	{PDS_FLOW_DST_NAME, "dst_name", FT_STR, FALSE},
	{PDS_FLOW_FIRST_PACKET_NS, "first_packet_ns", FT_U64, FALSE},
	{PDS_FLOW_T_TCP_HANDSHAKE, "t_tcp_handshake", FT_U64, FALSE},
	{PDS_FLOW_T_TLS_HANDSHAKE, "t_tls_handshake", FT_U64, FALSE},
	{PDS_FLOW_T_SERVER, "t_server", FT_U64, FALSE},
	{PDS_FLOW_T_TRANSFER, "t_transfer", FT_U64, FALSE},
	{PDS_FLOW_T_TOTAL, "t_total", FT_U64, FALSE},
	{PDS_FLOW_BYTES_C2S, "bytes_c2s", FT_U64, FALSE},
	{PDS_FLOW_BYTES_S2C, "bytes_s2c", FT_U64, FALSE},
	{PDS_FLOW_PACKETS_C2S, "packets_c2s", FT_U64, FALSE},
	{PDS_FLOW_PACKETS_S2C, "packets_s2c", FT_U64, FALSE},
	{PDS_FLOW_RETRANSMISSIONS, "retransmissions", FT_U64, FALSE},
	{PDS_FLOW_GAP_BYTES, "gap_bytes", FT_U64, FALSE},
	{PDS_FLOW_TLS_SNI, "tls_sni", FT_STR, FALSE},
	{PDS_FLOW_TLS_ALPN_OFFERED, "tls_alpn_offered", FT_STR, TRUE},
	{PDS_FLOW_TLS_ALPN, "tls_alpn", FT_STR, FALSE},
	{PDS_FLOW_TLS_VERSION, "tls_version", FT_HEX16, FALSE},
	{PDS_FLOW_TLS_CIPHER, "tls_cipher", FT_HEX16, FALSE},
	{PDS_FLOW_TLS_HRR, "tls_hrr", FT_U8, FALSE},
	{PDS_FLOW_TLS_ENCRYPTED_BYTES, "tls_encrypted_bytes", FT_U64, FALSE},
	{PDS_FLOW_TLS_CLIENT_VERSIONS, "tls_client_versions", FT_HEX16, TRUE},
	{PDS_FLOW_HTTP_METHOD, "http_method", FT_STR, FALSE},
	{PDS_FLOW_HTTP_URI, "http_uri", FT_STR, FALSE},
	{PDS_FLOW_HTTP_VERSION, "http_version", FT_STR, FALSE},
	{PDS_FLOW_HTTP_STATUS, "http_status", FT_U16, FALSE},
	{PDS_FLOW_HTTP_REASON, "http_reason", FT_STR, FALSE},
	{PDS_FLOW_HTTP_REQUEST_HEADER, "http_request_headers", FT_STR, TRUE},
	{PDS_FLOW_HTTP_RESPONSE_HEADER, "http_response_headers", FT_STR, TRUE},
	{PDS_FLOW_HTTP_REQUEST_BODY, "http_request_body", FT_BYTES, FALSE},
	{PDS_FLOW_HTTP_REQUEST_BODY_LEN, "http_request_body_len", FT_U64, FALSE},
	{PDS_FLOW_HTTP_RESPONSE_BODY, "http_response_body", FT_BYTES, FALSE},
	{PDS_FLOW_HTTP_RESPONSE_BODY_LEN, "http_response_body_len", FT_U64, FALSE},
	{PDS_FLOW_HTTP_HOST, "http_host", FT_STR, FALSE},
	{PDS_FLOW_HTTP_REQUEST_INDEX, "http_request_index", FT_U32, FALSE},
	{PDS_FLOW_HTTP_INTERIM_STATUS, "http_interim_status", FT_U16, TRUE},
	{PDS_FLOW_HTTP_EXCHANGES, "http_exchanges", FT_U32, FALSE},
};

static const char *const anomaly_names[] = {
	"gap",	    "http_malformed", "http_headers_too_large", "http_bad_chunk",   "tls_malformed",
	"not_http", "memory_limit",   "retransmission",		"overlap_mismatch", "upgraded",
};

const char *
pds_flow_event_to_string(guint value)
{
	switch (value) {
	case PDS_FLOW_EVENT_HTTP_EXCHANGE:
		return "http_exchange";
	case PDS_FLOW_EVENT_TLS_HANDSHAKE:
		return "tls_handshake";
	case PDS_FLOW_EVENT_CONNECTION_END:
		return "connection_end";
	default:
		return "unknown";
	}
}

const char *
pds_flow_protocol_to_string(guint value)
{
	switch (value) {
	case PDS_FLOW_PROTOCOL_TCP:
		return "tcp";
	case PDS_FLOW_PROTOCOL_TLS:
		return "tls";
	case PDS_FLOW_PROTOCOL_HTTP:
		return "http";
	default:
		return "unknown";
	}
}

const char *
pds_flow_tcp_state_to_string(guint value)
{
	switch (value) {
	case PDS_FLOW_TCP_CONNECTING:
		return "connecting";
	case PDS_FLOW_TCP_CONNECTED:
		return "connected";
	case PDS_FLOW_TCP_CLOSED:
		return "closed";
	case PDS_FLOW_TCP_RESET:
		return "reset";
	case PDS_FLOW_TCP_TIMED_OUT:
		return "timed_out";
	case PDS_FLOW_TCP_EVICTED:
		return "evicted";
	case PDS_FLOW_TCP_MIDSTREAM:
		return "midstream";
	default:
		return "unknown";
	}
}

const char *
pds_flow_anomaly_to_string(guint32 bit)
{
	for (guint i = 0; i < G_N_ELEMENTS(anomaly_names); i++) {
		if (bit == (1u << i))
			return anomaly_names[i];
	}
	return NULL;
}

static const PdsFieldInfo *
find_field(guint16 code)
{
	/* Codes are small: one lookup table, filled once. */
	static const PdsFieldInfo *by_code[256];
	static gsize init = 0;

	if (g_once_init_enter(&init)) {
		for (guint i = 0; i < G_N_ELEMENTS(field_info); i++)
			by_code[field_info[i].code] = &field_info[i];
		g_once_init_leave(&init, 1);
	}
	return code < G_N_ELEMENTS(by_code) ? by_code[code] : NULL;
}

static guint64
read_uint(const guint8 *v, guint16 len)
{
	guint64 x = 0;
	for (guint i = 0; i < len && i < 8; i++)
		x |= (guint64)v[i] << (8 * i);
	return x;
}

/* Decimal without printf: formatting dominates `podscope analyze --json` otherwise. */
static void
append_u64(GString *out, guint64 v)
{
	char buf[24];
	char *p = buf + sizeof(buf);

	do {
		*--p = '0' + v % 10;
		v /= 10;
	} while (v != 0);
	g_string_append_len(out, p, buf + sizeof(buf) - p);
}

static inline gboolean
json_plain(guint8 c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* JSON string body (no quotes) of bytes that may not be UTF-8. */
static void
append_json_text(GString *out, const guint8 *p, gsize len)
{
	static const char hex[] = "0123456789abcdef";
	const guint8 *s = p;
	const guint8 *end = p + len;
	gsize start = out->len;
	char *w;

	/* Written in place: at most 6 output bytes per input byte. */
	g_string_set_size(out, start + len * 6);
	w = out->str + start;
	while (s < end) {
		guint8 b = *s;
		gunichar c;

		if (json_plain(b)) {
			*w++ = b;
			s++;
			continue;
		}
		if (b >= 0x80) {
			c = g_utf8_get_char_validated((const gchar *)s, end - s);
			if (c != (gunichar)-1 && c != (gunichar)-2) {
				guint n = g_utf8_skip[b];
				memcpy(w, s, n);
				w += n;
				s += n;
				continue;
			}
			/* Not UTF-8: the byte as its Latin-1 code point. */
		}
		*w++ = '\\';
		switch (b) {
		case '"':
		case '\\':
			*w++ = b;
			break;
		case '\n':
			*w++ = 'n';
			break;
		case '\r':
			*w++ = 'r';
			break;
		case '\t':
			*w++ = 't';
			break;
		default:
			*w++ = 'u';
			*w++ = '0';
			*w++ = '0';
			*w++ = hex[b >> 4];
			*w++ = hex[b & 15];
		}
		s++;
	}
	g_string_truncate(out, w - out->str);
}

/* Text for people: printable ASCII and UTF-8 as is, other bytes as \xNN. */
static void
append_plain_text(GString *out, const guint8 *p, gsize len)
{
	const gchar *s = (const gchar *)p;
	const gchar *end = s + len;

	while (s < end) {
		gunichar c = g_utf8_get_char_validated(s, end - s);
		if (c == (gunichar)-1 || c == (gunichar)-2 || c < 0x20 || c == 0x7f) {
			g_string_append_printf(out, "\\x%02x", (guint8)*s);
			s++;
			continue;
		}
		g_string_append_len(out, s, g_utf8_next_char(s) - s);
		s = g_utf8_next_char(s);
	}
}

static void
append_addr(GString *out, const guint8 *v, guint16 len)
{
	char text[INET6_ADDRSTRLEN];

	if (len == 4) {
		for (guint i = 0; i < 4; i++) {
			if (i > 0)
				g_string_append_c(out, '.');
			append_u64(out, v[i]);
		}
	} else if (len == 16 && inet_ntop(AF_INET6, v, text, sizeof(text)) != NULL) {
		g_string_append(out, text);
	} else {
		g_string_append_c(out, '?');
	}
}

static void
append_quoted(GString *out, const char *text)
{
	g_string_append_c(out, '"');
	g_string_append(out, text);
	g_string_append_c(out, '"');
}

static void
append_json_value(GString *out, const PdsFieldInfo *info, const guint8 *v, guint16 len)
{
	switch (info->type) {
	case FT_U8:
	case FT_U16:
	case FT_U32:
	case FT_U64:
	case FT_HEX16:
		append_u64(out, read_uint(v, len));
		break;
	case FT_STR:
	case FT_BYTES:
		g_string_append_c(out, '"');
		append_json_text(out, v, len);
		g_string_append_c(out, '"');
		break;
	case FT_ADDR:
		g_string_append_c(out, '"');
		append_addr(out, v, len);
		g_string_append_c(out, '"');
		break;
	case FT_EVENT:
		append_quoted(out, pds_flow_event_to_string(read_uint(v, len)));
		break;
	case FT_PROTOCOL:
		append_quoted(out, pds_flow_protocol_to_string(read_uint(v, len)));
		break;
	case FT_STATE:
		append_quoted(out, pds_flow_tcp_state_to_string(read_uint(v, len)));
		break;
	case FT_ANOMALIES: {
		guint32 bits = read_uint(v, len);
		gboolean first = TRUE;
		g_string_append_c(out, '[');
		for (guint i = 0; i < 32; i++) {
			const char *name;
			if (!(bits & (1u << i)))
				continue;
			name = pds_flow_anomaly_to_string(1u << i);
			g_string_append_printf(out, "%s\"%s\"", first ? "" : ",",
					       name != NULL ? name : "unknown");
			first = FALSE;
		}
		g_string_append_c(out, ']');
		break;
	}
	}
}

typedef struct {
	guint16 code;
	const guint8 *value;
	guint16 len;
} PdsField;

static gboolean
collect(const guint8 *record, gsize len, PdsRecordHeader *hdr, GArray *fields, GError **error)
{
	PdsRecordIter iter;
	guint16 code, flen;
	const guint8 *value;
	g_autoptr(GError) local = NULL;

	if (!pds_record_iter_init(&iter, record, len, hdr, error))
		return FALSE;
	if (hdr->type != PDS_RECORD_FLOW) {
		g_set_error(error, PDS_RECORD_ERROR, PDS_RECORD_ERROR_BAD_FIELD,
			    "record of type %u (%s) is not a flow record", hdr->type,
			    pds_record_type_to_string(hdr->type));
		return FALSE;
	}
	while (pds_record_iter_next(&iter, &code, &value, &flen, &local)) {
		PdsField f = {code, value, flen};
		g_array_append_val(fields, f);
	}
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	return TRUE;
}

/* Was @code already written (repeated fields are written once, as an array)? */
static gboolean
seen_before(GArray *fields, guint i)
{
	guint16 code = g_array_index(fields, PdsField, i).code;
	for (guint j = 0; j < i; j++) {
		if (g_array_index(fields, PdsField, j).code == code)
			return TRUE;
	}
	return FALSE;
}

static void
format_json(const PdsRecordHeader *hdr, GArray *fields, GString *out)
{
	g_string_append(out, "{\"ts_ns\":");
	append_u64(out, hdr->timestamp_ns);
	g_string_append(out, ",\"interface_id\":");
	append_u64(out, hdr->interface_id);
	for (guint i = 0; i < fields->len; i++) {
		const PdsField *f = &g_array_index(fields, PdsField, i);
		const PdsFieldInfo *info = find_field(f->code);

		if (seen_before(fields, i))
			continue;
		if (info == NULL) {
			g_string_append_printf(out, ",\"field_%u\":%u", f->code, f->len);
			continue;
		}
		g_string_append(out, ",\"");
		g_string_append(out, info->name);
		g_string_append(out, "\":");
		if (!info->repeat) {
			append_json_value(out, info, f->value, f->len);
			continue;
		}
		g_string_append_c(out, '[');
		for (guint j = i; j < fields->len; j++) {
			const PdsField *g = &g_array_index(fields, PdsField, j);
			if (g->code != f->code)
				continue;
			if (j != i)
				g_string_append_c(out, ',');
			append_json_value(out, info, g->value, g->len);
		}
		g_string_append_c(out, ']');
	}
	g_string_append_c(out, '}');
}

static const PdsField *
get(GArray *fields, guint16 code)
{
	for (guint i = 0; i < fields->len; i++) {
		const PdsField *f = &g_array_index(fields, PdsField, i);
		if (f->code == code)
			return f;
	}
	return NULL;
}

static void
append_ms(GString *out, const char *label, GArray *fields, guint16 code)
{
	const PdsField *f = get(fields, code);
	if (f != NULL)
		g_string_append_printf(out, " %s=%.3fms", label,
				       read_uint(f->value, f->len) / 1000000.0);
}

static void
append_str(GString *out, const char *label, GArray *fields, guint16 code)
{
	const PdsField *f = get(fields, code);
	if (f == NULL)
		return;
	if (label != NULL)
		g_string_append_printf(out, " %s=", label);
	else
		g_string_append_c(out, ' ');
	append_plain_text(out, f->value, f->len);
}

static void
append_uint(GString *out, const char *label, GArray *fields, guint16 code, gboolean hex)
{
	const PdsField *f = get(fields, code);
	if (f == NULL)
		return;
	if (hex)
		g_string_append_printf(out, " %s=0x%04x", label,
				       (guint)read_uint(f->value, f->len));
	else
		g_string_append_printf(out, " %s=%" G_GUINT64_FORMAT, label,
				       read_uint(f->value, f->len));
}

static void
append_endpoint(GString *out, GArray *fields, guint16 addr_code, guint16 port_code)
{
	const PdsField *a = get(fields, addr_code);
	const PdsField *p = get(fields, port_code);
	gboolean v6 = a != NULL && a->len == 16;

	if (v6)
		g_string_append_c(out, '[');
	if (a != NULL)
		append_addr(out, a->value, a->len);
	if (v6)
		g_string_append_c(out, ']');
	if (p != NULL)
		g_string_append_printf(out, ":%u", (guint)read_uint(p->value, p->len));
}

static void
format_text(const PdsRecordHeader *hdr, GArray *fields, GString *out)
{
	g_autoptr(GDateTime) dt =
		g_date_time_new_from_unix_utc(hdr->timestamp_ns / G_GUINT64_CONSTANT(1000000000));
	const PdsField *f;
	guint event = 0;

	if (dt != NULL) {
		g_autofree gchar *when = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
		g_string_append_printf(out, "%s.%09" G_GUINT64_FORMAT "Z", when,
				       hdr->timestamp_ns % G_GUINT64_CONSTANT(1000000000));
	}
	f = get(fields, PDS_FLOW_STREAM_ID);
	if (f != NULL)
		g_string_append_printf(out, " stream=%" G_GUINT64_FORMAT,
				       read_uint(f->value, f->len));
	g_string_append_c(out, ' ');
	append_endpoint(out, fields, PDS_FLOW_SRC_ADDR, PDS_FLOW_SRC_PORT);
	g_string_append(out, " -> ");
	append_endpoint(out, fields, PDS_FLOW_DST_ADDR, PDS_FLOW_DST_PORT);
	f = get(fields, PDS_FLOW_PROTOCOL);
	if (f != NULL)
		g_string_append_printf(out, " %s",
				       pds_flow_protocol_to_string(read_uint(f->value, f->len)));
	f = get(fields, PDS_FLOW_EVENT);
	if (f != NULL)
		event = read_uint(f->value, f->len);
	g_string_append_printf(out, " %s", pds_flow_event_to_string(event));

	if (event == PDS_FLOW_EVENT_HTTP_EXCHANGE) {
		append_str(out, NULL, fields, PDS_FLOW_HTTP_METHOD);
		append_str(out, NULL, fields, PDS_FLOW_HTTP_URI);
		f = get(fields, PDS_FLOW_HTTP_STATUS);
		if (f != NULL)
			g_string_append_printf(out, " -> %u", (guint)read_uint(f->value, f->len));
		else
			g_string_append(out, " -> (no response)");
		append_str(out, "host", fields, PDS_FLOW_HTTP_HOST);
		append_uint(out, "request_body", fields, PDS_FLOW_HTTP_REQUEST_BODY_LEN, FALSE);
		append_uint(out, "response_body", fields, PDS_FLOW_HTTP_RESPONSE_BODY_LEN, FALSE);
		append_ms(out, "server", fields, PDS_FLOW_T_SERVER);
		append_ms(out, "transfer", fields, PDS_FLOW_T_TRANSFER);
		append_ms(out, "total", fields, PDS_FLOW_T_TOTAL);
	}
	if (event == PDS_FLOW_EVENT_TLS_HANDSHAKE || event == PDS_FLOW_EVENT_CONNECTION_END) {
		append_str(out, "sni", fields, PDS_FLOW_TLS_SNI);
		append_str(out, "alpn", fields, PDS_FLOW_TLS_ALPN);
		append_uint(out, "version", fields, PDS_FLOW_TLS_VERSION, TRUE);
		append_uint(out, "cipher", fields, PDS_FLOW_TLS_CIPHER, TRUE);
		if (get(fields, PDS_FLOW_TLS_HRR) != NULL)
			g_string_append(out, " hrr");
		append_ms(out, "tls_handshake", fields, PDS_FLOW_T_TLS_HANDSHAKE);
	}
	if (event == PDS_FLOW_EVENT_CONNECTION_END) {
		f = get(fields, PDS_FLOW_TCP_STATE);
		if (f != NULL)
			g_string_append_printf(
				out, " state=%s",
				pds_flow_tcp_state_to_string(read_uint(f->value, f->len)));
		append_uint(out, "bytes_c2s", fields, PDS_FLOW_BYTES_C2S, FALSE);
		append_uint(out, "bytes_s2c", fields, PDS_FLOW_BYTES_S2C, FALSE);
		append_uint(out, "encrypted", fields, PDS_FLOW_TLS_ENCRYPTED_BYTES, FALSE);
		append_uint(out, "retransmissions", fields, PDS_FLOW_RETRANSMISSIONS, FALSE);
		append_uint(out, "gap_bytes", fields, PDS_FLOW_GAP_BYTES, FALSE);
		append_ms(out, "duration", fields, PDS_FLOW_T_TOTAL);
	}
	append_ms(out, "tcp_handshake", fields, PDS_FLOW_T_TCP_HANDSHAKE);
	f = get(fields, PDS_FLOW_ANOMALIES);
	if (f != NULL) {
		guint32 bits = read_uint(f->value, f->len);
		g_string_append(out, " anomalies=");
		for (guint i = 0, n = 0; i < 32; i++) {
			const char *name;
			if (!(bits & (1u << i)))
				continue;
			name = pds_flow_anomaly_to_string(1u << i);
			g_string_append_printf(out, "%s%s", n++ > 0 ? "," : "",
					       name != NULL ? name : "unknown");
		}
		append_str(out, NULL, fields, PDS_FLOW_ANOMALY_TEXT);
	}
}

gboolean
pds_flow_record_format(
	const guint8 *record, gsize len, PdsFlowFormat format, GString *out, GError **error)
{
	PdsRecordHeader hdr;
	g_autoptr(GArray) fields = g_array_new(FALSE, FALSE, sizeof(PdsField));

	g_return_val_if_fail(record != NULL && out != NULL, FALSE);
	if (!collect(record, len, &hdr, fields, error))
		return FALSE;
	if (format == PDS_FLOW_FORMAT_JSON)
		format_json(&hdr, fields, out);
	else
		format_text(&hdr, fields, out);
	return TRUE;
}
