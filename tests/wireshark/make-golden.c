/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes the golden pcapng files of tests/data/ that the Wireshark tests
 * dissect with tshark. The records come from the real record codec and pcapng
 * writer of lib/; the big-endian section is laid out here by hand because our
 * writer only writes little-endian, and readers must take both.
 *
 *   make-golden OUTDIR
 *
 * The output is deterministic, so the files in git can be checked against a
 * fresh run (the "golden-regenerate" test does that).
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsGolden"

#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "pds-pcapng-writer.h"
#include "pds-pcapng.h"
#include "pds-record-codec.h"
#include "pds-record.h"

/* 2026-11-23 18:00:00 UTC, then records a few milliseconds apart. */
#define T0 G_GUINT64_CONSTANT(1795456800000000000)
#define MS G_GUINT64_CONSTANT(1000000)

static const guint8 web_ip[4] = {10, 200, 0, 2};
static const guint8 client_ip[4] = {10, 200, 0, 1};
static const guint8 api_ip6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20};
static const guint8 client_ip6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};

static GBytes *
record_source(guint64 ts, guint64 kernel_dropped, guint64 spool_dropped, const char *message)
{
	g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_SOURCE, 0, ts);

	pds_record_builder_add_string(b, PDS_SOURCE_ROLE, "agent");
	pds_record_builder_add_string(b, PDS_SOURCE_VERSION, "podscope-agent 0.1.0");
	pds_record_builder_add_string(b, PDS_SOURCE_ID, "agent-web-7d9c-1");
	pds_record_builder_add_string(b, PDS_SOURCE_NAMESPACE, "default");
	pds_record_builder_add_string(b, PDS_SOURCE_POD, "web-7d9c");
	pds_record_builder_add_string(b, PDS_SOURCE_NODE, "node-1");
	pds_record_builder_add_string(b, PDS_SOURCE_CONTAINER, "nginx");
	pds_record_builder_add_string(b, PDS_SOURCE_INTERFACE, "eth0");
	pds_record_builder_add_u64(b, PDS_SOURCE_KERNEL_RECEIVED, 1500);
	pds_record_builder_add_u64(b, PDS_SOURCE_KERNEL_DROPPED, kernel_dropped);
	pds_record_builder_add_u64(b, PDS_SOURCE_IF_DROPPED, 0);
	pds_record_builder_add_u64(b, PDS_SOURCE_SPOOL_DROPPED, spool_dropped);
	pds_record_builder_add_u64(b, PDS_SOURCE_SPOOL_BYTES, 4096);
	pds_record_builder_add_u64(b, PDS_SOURCE_EVENTS_LOST, 0);
	if (message != NULL)
		pds_record_builder_add_string(b, PDS_SOURCE_MESSAGE, message);
	return pds_record_builder_end(g_steal_pointer(&b));
}

static GBytes *
record_file(guint64 ts,
	    const char *syscall,
	    const char *path,
	    const char *raw_path,
	    gint64 result,
	    guint32 path_status)
{
	g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_FILE_ACCESS, 0, ts);

	pds_record_builder_add_string(b, PDS_FILE_SYSCALL, syscall);
	pds_record_builder_add_string(b, PDS_FILE_PATH, path);
	if (raw_path != NULL)
		pds_record_builder_add_string(b, PDS_FILE_RAW_PATH, raw_path);
	pds_record_builder_add_u32(b, PDS_FILE_PID, 4242);
	pds_record_builder_add_u32(b, PDS_FILE_TGID, 4240);
	pds_record_builder_add_string(b, PDS_FILE_COMM, "nginx");
	pds_record_builder_add_u64(b, PDS_FILE_CGROUP_ID, 12345);
	pds_record_builder_add_string(b, PDS_FILE_CONTAINER_NAME, "nginx");
	pds_record_builder_add_string(b, PDS_FILE_CONTAINER_ID, "containerd://4f1c0de5");
	pds_record_builder_add_u32(b, PDS_FILE_FLAGS, 0x80000); /* O_RDONLY|O_CLOEXEC */
	pds_record_builder_add_u32(b, PDS_FILE_MODE, 0644);
	pds_record_builder_add_i64(b, PDS_FILE_RESULT, result);
	if (result >= 0)
		pds_record_builder_add_string(b, PDS_FILE_RESOLVED_PATH, path);
	pds_record_builder_add_u32(b, PDS_FILE_PATH_STATUS, path_status);
	pds_record_builder_add_u8(b, PDS_FILE_COMPAT, 0);
	pds_record_builder_add_u64(b, PDS_FILE_COUNT, 1);
	pds_record_builder_add_string(b, PDS_FILE_POD, "web-7d9c");
	pds_record_builder_add_string(b, PDS_FILE_NAMESPACE, "default");
	return pds_record_builder_end(g_steal_pointer(&b));
}

static GBytes *
record_tls(guint64 ts)
{
	g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_FLOW, 0, ts);

	pds_record_builder_add_u8(b, PDS_FLOW_EVENT, PDS_FLOW_EVENT_TLS_HANDSHAKE);
	pds_record_builder_add_u64(b, PDS_FLOW_STREAM_ID, 7);
	pds_record_builder_add(b, PDS_FLOW_SRC_ADDR, client_ip, 4);
	pds_record_builder_add(b, PDS_FLOW_DST_ADDR, web_ip, 4);
	pds_record_builder_add_u16(b, PDS_FLOW_SRC_PORT, 41000);
	pds_record_builder_add_u16(b, PDS_FLOW_DST_PORT, 443);
	pds_record_builder_add_u8(b, PDS_FLOW_IP_PROTO, 6);
	pds_record_builder_add_u8(b, PDS_FLOW_PROTOCOL, PDS_FLOW_PROTOCOL_TLS);
	pds_record_builder_add_u8(b, PDS_FLOW_TCP_STATE, PDS_FLOW_TCP_CONNECTED);
	pds_record_builder_add_u64(b, PDS_FLOW_FIRST_PACKET_NS, ts - 6 * MS);
	pds_record_builder_add_u64(b, PDS_FLOW_T_TCP_HANDSHAKE, 250000);
	pds_record_builder_add_u64(b, PDS_FLOW_T_TLS_HANDSHAKE, 4500000);
	pds_record_builder_add_string(b, PDS_FLOW_TLS_SNI, "example.com");
	pds_record_builder_add_string(b, PDS_FLOW_TLS_ALPN_OFFERED, "h2");
	pds_record_builder_add_string(b, PDS_FLOW_TLS_ALPN_OFFERED, "http/1.1");
	pds_record_builder_add_string(b, PDS_FLOW_TLS_ALPN, "h2");
	pds_record_builder_add_u16(b, PDS_FLOW_TLS_VERSION, 0x0304);
	pds_record_builder_add_u16(b, PDS_FLOW_TLS_CIPHER, 0x1301);
	pds_record_builder_add_u8(b, PDS_FLOW_TLS_HRR, 1);
	pds_record_builder_add_u16(b, PDS_FLOW_TLS_CLIENT_VERSIONS, 0x0304);
	pds_record_builder_add_u16(b, PDS_FLOW_TLS_CLIENT_VERSIONS, 0x0303);
	return pds_record_builder_end(g_steal_pointer(&b));
}

static GBytes *
record_http(guint64 ts)
{
	static const char req_body[] = "{\"q\":1}";
	static const char resp_body[] = "<html>hello</html>";
	g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_FLOW, 0, ts);

	pds_record_builder_add_u8(b, PDS_FLOW_EVENT, PDS_FLOW_EVENT_HTTP_EXCHANGE);
	pds_record_builder_add_u64(b, PDS_FLOW_STREAM_ID, 8);
	pds_record_builder_add(b, PDS_FLOW_SRC_ADDR, client_ip, 4);
	pds_record_builder_add(b, PDS_FLOW_DST_ADDR, web_ip, 4);
	pds_record_builder_add_u16(b, PDS_FLOW_SRC_PORT, 41234);
	pds_record_builder_add_u16(b, PDS_FLOW_DST_PORT, 80);
	pds_record_builder_add_u8(b, PDS_FLOW_IP_PROTO, 6);
	pds_record_builder_add_u8(b, PDS_FLOW_PROTOCOL, PDS_FLOW_PROTOCOL_HTTP);
	pds_record_builder_add_u8(b, PDS_FLOW_TCP_STATE, PDS_FLOW_TCP_CONNECTED);
	pds_record_builder_add_string(b, PDS_FLOW_SRC_NAME, "client.default");
	pds_record_builder_add_string(b, PDS_FLOW_DST_NAME, "web-7d9c.default");
	pds_record_builder_add_u64(b, PDS_FLOW_T_SERVER, 11200000);
	pds_record_builder_add_u64(b, PDS_FLOW_T_TRANSFER, 300000);
	pds_record_builder_add_u64(b, PDS_FLOW_T_TOTAL, 12300000);
	pds_record_builder_add_u64(b, PDS_FLOW_BYTES_C2S, 180);
	pds_record_builder_add_u64(b, PDS_FLOW_BYTES_S2C, 420);
	pds_record_builder_add_u64(b, PDS_FLOW_PACKETS_C2S, 3);
	pds_record_builder_add_u64(b, PDS_FLOW_PACKETS_S2C, 4);
	pds_record_builder_add_u64(b, PDS_FLOW_RETRANSMISSIONS, 0);
	pds_record_builder_add_u64(b, PDS_FLOW_GAP_BYTES, 0);
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_METHOD, "GET");
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_URI, "/index.html");
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_VERSION, "HTTP/1.1");
	pds_record_builder_add_u16(b, PDS_FLOW_HTTP_STATUS, 200);
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_REASON, "OK");
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_REQUEST_HEADER, "Host: web");
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_REQUEST_HEADER, "User-Agent: curl/7.88.1");
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_RESPONSE_HEADER, "Content-Type: text/html");
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_RESPONSE_HEADER, "Content-Length: 18");
	pds_record_builder_add(b, PDS_FLOW_HTTP_REQUEST_BODY, req_body, strlen(req_body));
	pds_record_builder_add_u64(b, PDS_FLOW_HTTP_REQUEST_BODY_LEN, strlen(req_body));
	pds_record_builder_add(b, PDS_FLOW_HTTP_RESPONSE_BODY, resp_body, strlen(resp_body));
	pds_record_builder_add_u64(b, PDS_FLOW_HTTP_RESPONSE_BODY_LEN, strlen(resp_body));
	pds_record_builder_add_string(b, PDS_FLOW_HTTP_HOST, "web");
	pds_record_builder_add_u32(b, PDS_FLOW_HTTP_REQUEST_INDEX, 0);
	return pds_record_builder_end(g_steal_pointer(&b));
}

/* A connection end over IPv6 without names: the Info column shows NRB names. */
static GBytes *
record_conn_end(guint64 ts)
{
	g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_FLOW, 0, ts);

	pds_record_builder_add_u8(b, PDS_FLOW_EVENT, PDS_FLOW_EVENT_CONNECTION_END);
	pds_record_builder_add_u64(b, PDS_FLOW_STREAM_ID, 9);
	pds_record_builder_add(b, PDS_FLOW_SRC_ADDR, client_ip6, 16);
	pds_record_builder_add(b, PDS_FLOW_DST_ADDR, api_ip6, 16);
	pds_record_builder_add_u16(b, PDS_FLOW_SRC_PORT, 52000);
	pds_record_builder_add_u16(b, PDS_FLOW_DST_PORT, 8080);
	pds_record_builder_add_u8(b, PDS_FLOW_IP_PROTO, 6);
	pds_record_builder_add_u8(b, PDS_FLOW_PROTOCOL, PDS_FLOW_PROTOCOL_TCP);
	pds_record_builder_add_u8(b, PDS_FLOW_TCP_STATE, PDS_FLOW_TCP_RESET);
	pds_record_builder_add_u32(b, PDS_FLOW_ANOMALIES,
				   PDS_FLOW_ANOMALY_GAP | PDS_FLOW_ANOMALY_RETRANSMISSION);
	pds_record_builder_add_string(b, PDS_FLOW_ANOMALY_TEXT,
				      "1448 bytes missing after seq 2897; 2 retransmissions");
	pds_record_builder_add_u64(b, PDS_FLOW_T_TOTAL, 2500000000u);
	pds_record_builder_add_u64(b, PDS_FLOW_BYTES_C2S, 1000);
	pds_record_builder_add_u64(b, PDS_FLOW_BYTES_S2C, 2896);
	pds_record_builder_add_u64(b, PDS_FLOW_RETRANSMISSIONS, 2);
	pds_record_builder_add_u64(b, PDS_FLOW_GAP_BYTES, 1448);
	pds_record_builder_add_u64(b, PDS_FLOW_TLS_ENCRYPTED_BYTES, 0);
	return pds_record_builder_end(g_steal_pointer(&b));
}

/* A field code this dissector does not know: skipped with a note, as readers must. */
static GBytes *
record_file_future(guint64 ts)
{
	static const guint8 future[6] = {1, 2, 3, 4, 5, 6};
	g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_FILE_ACCESS, 0, ts);

	pds_record_builder_add_string(b, PDS_FILE_SYSCALL, "execve");
	pds_record_builder_add(b, 999, future, sizeof(future));
	pds_record_builder_add_string(b, PDS_FILE_PATH, "/usr/sbin/nginx");
	pds_record_builder_add_string(b, PDS_FILE_COMM, "sh");
	pds_record_builder_add_u32(b, PDS_FILE_PATH_STATUS, PDS_FILE_PATH_INTERP);
	pds_record_builder_add_i64(b, PDS_FILE_RESULT, 0);
	return pds_record_builder_end(g_steal_pointer(&b));
}

/* The well-formed records every "good" file carries, in time order. */
static GPtrArray *
good_records(void)
{
	GPtrArray *records = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);

	g_ptr_array_add(records, record_source(T0, 0, 0, NULL));
	g_ptr_array_add(records,
			record_file(T0 + 1 * MS, "openat", "/etc/nginx/nginx.conf", NULL, 3, 0));
	g_ptr_array_add(records,
			record_file(T0 + 2 * MS, "openat", "/etc/nginx/conf.d/missing.conf",
				    "conf.d/../conf.d/missing.conf", -2, PDS_FILE_PATH_FROM_ENTRY));
	g_ptr_array_add(records, record_tls(T0 + 3 * MS));
	g_ptr_array_add(records, record_http(T0 + 4 * MS));
	g_ptr_array_add(records, record_conn_end(T0 + 5 * MS));
	g_ptr_array_add(records, record_file_future(T0 + 6 * MS));
	g_ptr_array_add(records, record_source(T0 + 7 * MS, 12, 3, "capture buffer overflowed"));
	return records;
}

static guint64
record_timestamp(GBytes *record)
{
	PdsRecordHeader header;
	gsize len;
	const guint8 *data = g_bytes_get_data(record, &len);
	g_autoptr(GError) error = NULL;

	if (!pds_record_parse_header(data, len, &header, &error)) {
		g_printerr("make-golden: a golden record does not parse: %s\n", error->message);
		exit(1);
	}
	return header.timestamp_ns;
}

static void
write_le_section_head(GByteArray *out, gboolean with_names)
{
	g_autoptr(PdsPcapngOptions) shb = pds_pcapng_options_new();
	g_autoptr(PdsPcapngOptions) idb = pds_pcapng_options_new();

	pds_pcapng_options_add_string(shb, PDS_PCAPNG_SHB_USERAPPL, "podscope make-golden");
	pds_pcapng_write_shb(out, shb);
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_NAME, "podscope");
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_DESCRIPTION, "PodScope records");
	pds_pcapng_options_add_u8(idb, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_write_idb(out, PDS_LINKTYPE_WIRESHARK_UPPER_PDU, 0, idb);
	if (with_names) {
		g_autoptr(PdsPcapngNrb) nrb = pds_pcapng_nrb_new();

		pds_pcapng_nrb_add_ipv4(nrb, web_ip, "web-7d9c.default");
		pds_pcapng_nrb_add_ipv4(nrb, client_ip, "client.default");
		pds_pcapng_nrb_add_ipv6(nrb, api_ip6, "api.default.svc");
		pds_pcapng_nrb_add_ipv6(nrb, client_ip6, "batch-5f2k.default");
		pds_pcapng_write_nrb(out, nrb);
	}
}

static void
write_epdu(GByteArray *out, const guint8 *record, gsize len, guint64 ts)
{
	g_autoptr(GByteArray) payload = g_byte_array_new();

	pds_record_append_exported_pdu(payload, record, len);
	pds_pcapng_write_epb(out, 0, ts, payload->data, payload->len, payload->len, NULL);
}

/* Big-endian blocks, by hand. */
static void
put_be16(GByteArray *out, guint16 v)
{
	v = GUINT16_TO_BE(v);
	g_byte_array_append(out, (const guint8 *)&v, 2);
}

static void
put_be32(GByteArray *out, guint32 v)
{
	v = GUINT32_TO_BE(v);
	g_byte_array_append(out, (const guint8 *)&v, 4);
}

static void
put_pad(GByteArray *out, gsize len)
{
	static const guint8 zeros[4] = {0};

	if (len % 4 != 0)
		g_byte_array_append(out, zeros, (guint)(4 - len % 4));
}

/* Writes the block length at @start and appends the trailing copy. */
static void
be_block_end(GByteArray *out, guint start)
{
	guint32 total = out->len - start + 4;
	guint32 be = GUINT32_TO_BE(total);

	memcpy(out->data + start + 4, &be, 4);
	put_be32(out, total);
}

static guint
be_block_begin(GByteArray *out, guint32 type)
{
	guint start = out->len;

	put_be32(out, type);
	put_be32(out, 0); /* fixed by be_block_end() */
	return start;
}

static void
be_option_string(GByteArray *out, guint16 code, const char *value)
{
	gsize len = strlen(value);

	put_be16(out, code);
	put_be16(out, (guint16)len);
	g_byte_array_append(out, (const guint8 *)value, (guint)len);
	put_pad(out, len);
}

static void
write_be_section_head(GByteArray *out)
{
	guint start;
	static const guint8 tsresol[4] = {9, 0, 0, 0};

	start = be_block_begin(out, PDS_PCAPNG_BT_SHB);
	put_be32(out, PDS_PCAPNG_BYTE_ORDER_MAGIC);
	put_be16(out, 1);
	put_be16(out, 0);
	put_be32(out, 0xffffffffu); /* section length unknown */
	put_be32(out, 0xffffffffu);
	be_option_string(out, PDS_PCAPNG_SHB_USERAPPL, "podscope make-golden (big-endian)");
	put_be32(out, 0); /* opt_endofopt */
	be_block_end(out, start);

	start = be_block_begin(out, PDS_PCAPNG_BT_IDB);
	put_be16(out, PDS_LINKTYPE_WIRESHARK_UPPER_PDU);
	put_be16(out, 0);
	put_be32(out, 0);
	be_option_string(out, PDS_PCAPNG_IF_NAME, "podscope");
	put_be16(out, PDS_PCAPNG_IF_TSRESOL);
	put_be16(out, 1);
	g_byte_array_append(out, tsresol, 4); /* one byte, padded */
	put_be32(out, 0);
	be_block_end(out, start);
}

static void
write_be_epdu(GByteArray *out, GBytes *record)
{
	g_autoptr(GByteArray) payload = g_byte_array_new();
	gsize len;
	const guint8 *data = g_bytes_get_data(record, &len);
	guint64 ts = record_timestamp(record);
	guint start;

	pds_record_append_exported_pdu(payload, data, len);
	start = be_block_begin(out, PDS_PCAPNG_BT_EPB);
	put_be32(out, 0);
	put_be32(out, (guint32)(ts >> 32));
	put_be32(out, (guint32)ts);
	put_be32(out, payload->len);
	put_be32(out, payload->len);
	g_byte_array_append(out, payload->data, payload->len);
	put_pad(out, payload->len);
	be_block_end(out, start);
}

static void
write_be_custom(GByteArray *out, GBytes *record)
{
	gsize len;
	const guint8 *data = g_bytes_get_data(record, &len);
	guint start;

	start = be_block_begin(out, PDS_PCAPNG_BT_CUSTOM);
	put_be32(out, PDS_PEN);
	g_byte_array_append(out, data, (guint)len);
	put_pad(out, len);
	be_block_end(out, start);
}

/* A copy of a well-formed record, for the malformed cases to break. */
static GByteArray *
mutable_copy(GBytes *record)
{
	gsize len;
	const guint8 *data = g_bytes_get_data(record, &len);
	GByteArray *copy = g_byte_array_sized_new((guint)len);

	g_byte_array_append(copy, data, (guint)len);
	return copy;
}

static void
set_le16_at(GByteArray *a, guint off, guint16 v)
{
	v = GUINT16_TO_LE(v);
	memcpy(a->data + off, &v, 2);
}

static void
set_le32_at(GByteArray *a, guint off, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(a->data + off, &v, 4);
}

static GBytes *
small_file_record(guint64 ts, const char *path)
{
	g_autoptr(PdsRecordBuilder) b = pds_record_builder_new(PDS_RECORD_FILE_ACCESS, 0, ts);

	pds_record_builder_add_string(b, PDS_FILE_SYSCALL, "openat");
	pds_record_builder_add_string(b, PDS_FILE_PATH, path);
	pds_record_builder_add_u32(b, PDS_FILE_PID, 77);
	pds_record_builder_add_string(b, PDS_FILE_COMM, "cat");
	return pds_record_builder_end(g_steal_pointer(&b));
}

static void
write_malformed(GByteArray *out)
{
	guint64 ts = T0 + 100 * MS;
	static const guint8 three[3] = {1, 2, 3};

	write_le_section_head(out, FALSE);

	/* 1: record_length larger than the bytes that follow. */
	{
		g_autoptr(GBytes) r = small_file_record(ts, "/etc/too-long");
		g_autoptr(GByteArray) a = mutable_copy(r);

		set_le32_at(a, 4, a->len + 16);
		write_epdu(out, a->data, a->len, ts);
	}
	/* 2: record_length smaller than the header. */
	{
		g_autoptr(GBytes) r = small_file_record(ts + 1 * MS, "/etc/too-short");
		g_autoptr(GByteArray) a = mutable_copy(r);

		set_le32_at(a, 4, 12);
		write_epdu(out, a->data, a->len, ts + 1 * MS);
	}
	/* 3: the last field claims more bytes than the record holds. */
	{
		g_autoptr(GBytes) r = small_file_record(ts + 2 * MS, "/etc/truncated-field");
		g_autoptr(GByteArray) a = mutable_copy(r);

		/* Drop the end code and the comm field's value; keep its header. */
		g_byte_array_set_size(a, a->len - 8);
		set_le32_at(a, 4, a->len);
		write_epdu(out, a->data, a->len, ts + 2 * MS);
	}
	/* 4: a u32 field with 3 bytes. */
	{
		g_autoptr(PdsRecordBuilder) b =
			pds_record_builder_new(PDS_RECORD_FILE_ACCESS, 0, ts + 3 * MS);
		g_autoptr(GBytes) r = NULL;
		gsize len;
		const guint8 *data;

		pds_record_builder_add_string(b, PDS_FILE_SYSCALL, "openat");
		pds_record_builder_add(b, PDS_FILE_PID, three, sizeof(three));
		pds_record_builder_add_string(b, PDS_FILE_PATH, "/etc/bad-pid");
		r = pds_record_builder_end(g_steal_pointer(&b));
		data = g_bytes_get_data(r, &len);
		write_epdu(out, data, len, ts + 3 * MS);
	}
	/* 5: an unknown record type. */
	{
		g_autoptr(GBytes) r = small_file_record(ts + 4 * MS, "/etc/type-9");
		g_autoptr(GByteArray) a = mutable_copy(r);

		set_le16_at(a, 0, 9);
		write_epdu(out, a->data, a->len, ts + 4 * MS);
	}
	/* 6: an unknown record version. */
	{
		g_autoptr(GBytes) r = small_file_record(ts + 5 * MS, "/etc/version-2");
		g_autoptr(GByteArray) a = mutable_copy(r);

		set_le16_at(a, 2, 2);
		write_epdu(out, a->data, a->len, ts + 5 * MS);
	}
	/* 7: no end-of-fields code. */
	{
		g_autoptr(GBytes) r = small_file_record(ts + 6 * MS, "/etc/no-end");
		g_autoptr(GByteArray) a = mutable_copy(r);

		g_byte_array_set_size(a, a->len - 4);
		set_le32_at(a, 4, a->len);
		write_epdu(out, a->data, a->len, ts + 6 * MS);
	}
	/* 8: bytes after the end code, inside record_length. */
	{
		g_autoptr(GBytes) r = small_file_record(ts + 7 * MS, "/etc/after-end");
		g_autoptr(GByteArray) a = mutable_copy(r);
		static const guint8 junk[4] = {0xde, 0xad, 0xbe, 0xef};

		g_byte_array_append(a, junk, sizeof(junk));
		set_le32_at(a, 4, a->len);
		write_epdu(out, a->data, a->len, ts + 7 * MS);
	}
	/* 9: a custom block whose data is shorter than a record header. */
	{
		static const guint8 stub[8] = {1, 0, 1, 0, 8, 0, 0, 0};

		pds_pcapng_write_custom(out, PDS_PEN, stub, sizeof(stub), TRUE);
	}
	/* 10: a custom block whose record has a truncated field. */
	{
		g_autoptr(GBytes) r = small_file_record(ts + 9 * MS, "/etc/custom-truncated");
		g_autoptr(GByteArray) a = mutable_copy(r);

		g_byte_array_set_size(a, a->len - 8);
		set_le32_at(a, 4, a->len);
		pds_pcapng_write_custom(out, PDS_PEN, a->data, a->len, TRUE);
	}
	/* 11: a well-formed record after all that: the dissector recovers. */
	{
		g_autoptr(GBytes) r = small_file_record(ts + 10 * MS, "/etc/hostname");
		gsize len;
		const guint8 *data = g_bytes_get_data(r, &len);

		write_epdu(out, data, len, ts + 10 * MS);
	}
}

static gboolean
save(const char *dir, const char *name, GByteArray *data, GError **error)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);

	if (!g_file_set_contents(path, (const gchar *)data->data, data->len, error)) {
		g_prefix_error(error, "Cannot write golden file %s: ", path);
		return FALSE;
	}
	g_print("wrote %s (%u bytes)\n", path, data->len);
	return TRUE;
}

int
main(int argc, char **argv)
{
	g_autoptr(GPtrArray) records = good_records();
	g_autoptr(GByteArray) epdu = g_byte_array_new();
	g_autoptr(GByteArray) custom = g_byte_array_new();
	g_autoptr(GByteArray) be = g_byte_array_new();
	g_autoptr(GByteArray) malformed = g_byte_array_new();
	g_autoptr(GError) error = NULL;

	if (argc != 2) {
		g_printerr("Usage: %s OUTDIR\n"
			   "Writes the golden pcapng files of the Wireshark tests into OUTDIR.\n",
			   argv[0]);
		return 2;
	}

	write_le_section_head(epdu, TRUE);
	write_le_section_head(custom, FALSE);
	write_be_section_head(be);
	for (guint i = 0; i < records->len; i++) {
		GBytes *record = g_ptr_array_index(records, i);
		gsize len;
		const guint8 *data = g_bytes_get_data(record, &len);

		write_epdu(epdu, data, len, record_timestamp(record));
		pds_record_write_custom_block(custom, record);
	}
	/* The big-endian file carries both envelopes: all as EPBs, then all as custom blocks. */
	for (guint i = 0; i < records->len; i++)
		write_be_epdu(be, g_ptr_array_index(records, i));
	for (guint i = 0; i < records->len; i++)
		write_be_custom(be, g_ptr_array_index(records, i));
	write_malformed(malformed);

	if (!save(argv[1], "podscope-exported-pdu.pcapng", epdu, &error) ||
	    !save(argv[1], "podscope-custom-block.pcapng", custom, &error) ||
	    !save(argv[1], "podscope-big-endian.pcapng", be, &error) ||
	    !save(argv[1], "podscope-malformed.pcapng", malformed, &error)) {
		g_printerr("make-golden: %s\n", error->message);
		return 1;
	}
	return 0;
}
