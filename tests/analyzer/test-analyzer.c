/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The analyzer end to end on crafted packets: link types, reassembly
 * (reordering, retransmission, holes), connection ends, and hostile loads
 * (SYN flood, table exhaustion, unbounded buffering) that must stay bounded.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsTest"

#include <string.h>

#include <glib/gstdio.h>

#include "pds-analyzer.h"
#include "pds-pcapng-writer.h"
#include "pds-pcapng.h"
#include "pds-record-codec.h"

#define SEC G_GUINT64_CONSTANT(1000000000)

typedef struct {
	PdsAnalyzer *an;
	GPtrArray *records; /* of GBytes */
	guint linktype;
	gboolean vlan;
	int family;
	guint8 client[16];
	guint8 server[16];
	guint16 cport;
	guint16 sport;
	guint32 seq[2]; /* next sequence number per direction, 0 = client */
	guint64 ts;
} Sim;

static void
on_record(GBytes *record, gpointer user_data)
{
	Sim *sim = user_data;
	g_ptr_array_add(sim->records, g_bytes_ref(record));
}

static void
sim_init(Sim *sim, const PdsAnalyzerConfig *cfg, guint linktype, int family)
{
	memset(sim, 0, sizeof(*sim));
	sim->records = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	sim->an = pds_analyzer_new(cfg, on_record, sim);
	sim->linktype = linktype;
	sim->family = family;
	if (family == 4) {
		memcpy(sim->client, (guint8[]){10, 0, 0, 1}, 4);
		memcpy(sim->server, (guint8[]){10, 0, 0, 2}, 4);
	} else {
		sim->client[0] = 0xfd;
		sim->client[15] = 1;
		sim->server[0] = 0xfd;
		sim->server[15] = 2;
	}
	sim->cport = 40000;
	sim->sport = 80;
	sim->seq[0] = 1000;
	sim->seq[1] = 0xfffffff0u; /* wraps around during the tests */
	sim->ts = 1700000000 * SEC;
}

static void
sim_clear(Sim *sim)
{
	pds_analyzer_free(sim->an);
	g_ptr_array_unref(sim->records);
}

static void
put16(guint8 *p, guint v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void
put32(guint8 *p, guint32 v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* One frame from @dir (0 client, 1 server) in the simulation's link type. */
static GByteArray *
sim_frame(Sim *sim, guint dir, guint32 seq, guint32 ack, guint8 flags, const void *data, gsize len)
{
	GByteArray *f = g_byte_array_new();
	guint8 tcp[20] = {0};
	guint8 ip[40] = {0};
	const guint8 *src = dir == 0 ? sim->client : sim->server;
	const guint8 *dst = dir == 0 ? sim->server : sim->client;
	guint ethertype = sim->family == 4 ? 0x0800 : 0x86dd;
	gsize iplen;

	put16(tcp, dir == 0 ? sim->cport : sim->sport);
	put16(tcp + 2, dir == 0 ? sim->sport : sim->cport);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	put16(tcp + 14, 65535);
	if (sim->family == 4) {
		iplen = 20;
		ip[0] = 0x45;
		put16(ip + 2, 20 + 20 + len);
		ip[6] = 0x40; /* DF */
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
	} else {
		iplen = 40;
		ip[0] = 0x60;
		put16(ip + 4, 20 + len);
		ip[6] = 6;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	}

	switch (sim->linktype) {
	case PDS_LINKTYPE_ETHERNET: {
		guint8 eth[22] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
		gsize n = 12;
		if (sim->vlan) {
			/* QinQ: an 802.1ad tag then an 802.1Q tag */
			put16(eth + n, 0x88a8);
			put16(eth + n + 2, 100);
			put16(eth + n + 4, 0x8100);
			put16(eth + n + 6, 200);
			n += 8;
		}
		put16(eth + n, ethertype);
		g_byte_array_append(f, eth, n + 2);
		break;
	}
	case PDS_LINKTYPE_LINUX_SLL: {
		guint8 sll[16] = {0, dir == 0 ? 4 : 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0};
		put16(sll + 14, ethertype);
		g_byte_array_append(f, sll, 16);
		break;
	}
	case PDS_LINKTYPE_LINUX_SLL2: {
		guint8 sll2[20] = {0};
		put16(sll2, ethertype);
		sll2[8] = 0;
		put16(sll2 + 8, 1);
		sll2[11] = 6;
		g_byte_array_append(f, sll2, 20);
		break;
	}
	case 0: {
		guint32 af = sim->family == 4 ? 2 : 10;
		g_byte_array_append(f, (guint8 *)&af, 4);
		break;
	}
	default:
		break;
	}
	g_byte_array_append(f, ip, iplen);
	g_byte_array_append(f, tcp, 20);
	if (len > 0)
		g_byte_array_append(f, data, len);
	return f;
}

static void
sim_feed(Sim *sim, GByteArray *frame)
{
	sim->ts += 1000000; /* 1 ms per packet */
	pds_analyzer_process(sim->an, sim->linktype, sim->ts, frame->data, frame->len, frame->len);
}

/* Makes the next segment of @dir and advances its sequence number (not fed). */
static GByteArray *
sim_segment(Sim *sim, guint dir, guint8 flags, const void *data, gsize len)
{
	GByteArray *f = sim_frame(sim, dir, sim->seq[dir], sim->seq[!dir], flags, data, len);
	sim->seq[dir] += len + ((flags & 0x03) ? 1 : 0);
	return f;
}

static void
sim_send(Sim *sim, guint dir, guint8 flags, const char *text)
{
	g_autoptr(GByteArray) f =
		sim_segment(sim, dir, flags, text, text != NULL ? strlen(text) : 0);
	sim_feed(sim, f);
}

static void
sim_handshake(Sim *sim)
{
	sim_send(sim, 0, 0x02, NULL);
	sim_send(sim, 1, 0x12, NULL);
	sim_send(sim, 0, 0x10, NULL);
}

static void
sim_close(Sim *sim)
{
	sim_send(sim, 0, 0x11, NULL);
	sim_send(sim, 1, 0x11, NULL);
	sim_send(sim, 0, 0x10, NULL);
}

/* ---- record queries ---- */

static gboolean
rec_find(GBytes *rec, guint16 want, guint n, const guint8 **value, guint16 *len)
{
	PdsRecordIter iter;
	PdsRecordHeader hdr;
	guint16 code;
	g_autoptr(GError) error = NULL;
	gsize size;
	const guint8 *data = g_bytes_get_data(rec, &size);

	g_assert_true(pds_record_iter_init(&iter, data, size, &hdr, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(hdr.type, ==, PDS_RECORD_FLOW);
	while (pds_record_iter_next(&iter, &code, value, len, &error)) {
		if (code == want && n-- == 0)
			return TRUE;
	}
	g_assert_no_error(error);
	return FALSE;
}

static guint64
rec_uint(GBytes *rec, guint16 code)
{
	const guint8 *v;
	guint16 len;
	guint64 x = 0;
	if (!rec_find(rec, code, 0, &v, &len))
		return G_MAXUINT64;
	for (guint i = 0; i < len; i++)
		x |= (guint64)v[i] << (8 * i);
	return x;
}

static gboolean
rec_has(GBytes *rec, guint16 code)
{
	const guint8 *v;
	guint16 len;
	return rec_find(rec, code, 0, &v, &len);
}

static gchar *
rec_str(GBytes *rec, guint16 code)
{
	const guint8 *v;
	guint16 len;
	if (!rec_find(rec, code, 0, &v, &len))
		return NULL;
	return g_strndup((const char *)v, len);
}

static GBytes *
sim_record(Sim *sim, guint i)
{
	g_assert_cmpuint(i, <, sim->records->len);
	return g_ptr_array_index(sim->records, i);
}

static void
assert_str(GBytes *rec, guint16 code, const char *want)
{
	g_autofree gchar *got = rec_str(rec, code);
	g_assert_cmpstr(got, ==, want);
}

/* ---- tests ---- */

static const char request[] = "GET /index.html HTTP/1.1\r\nHost: web\r\nUser-Agent: t\r\n\r\n";
static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";

static void
check_one_exchange(Sim *sim, guint8 end_state, gsize resent)
{
	GBytes *ex, *end;
	g_assert_cmpuint(sim->records->len, ==, 2);
	ex = sim_record(sim, 0);
	end = sim_record(sim, 1);
	g_assert_cmpuint(rec_uint(ex, PDS_FLOW_EVENT), ==, PDS_FLOW_EVENT_HTTP_EXCHANGE);
	g_assert_cmpuint(rec_uint(ex, PDS_FLOW_PROTOCOL), ==, PDS_FLOW_PROTOCOL_HTTP);
	assert_str(ex, PDS_FLOW_HTTP_METHOD, "GET");
	assert_str(ex, PDS_FLOW_HTTP_URI, "/index.html");
	assert_str(ex, PDS_FLOW_HTTP_HOST, "web");
	assert_str(ex, PDS_FLOW_HTTP_RESPONSE_BODY, "hello world");
	g_assert_cmpuint(rec_uint(ex, PDS_FLOW_HTTP_STATUS), ==, 200);
	g_assert_cmpuint(rec_uint(ex, PDS_FLOW_SRC_PORT), ==, sim->cport);
	g_assert_cmpuint(rec_uint(ex, PDS_FLOW_DST_PORT), ==, sim->sport);
	g_assert_cmpuint(rec_uint(ex, PDS_FLOW_STREAM_ID), ==, rec_uint(end, PDS_FLOW_STREAM_ID));
	g_assert_cmpuint(rec_uint(end, PDS_FLOW_EVENT), ==, PDS_FLOW_EVENT_CONNECTION_END);
	g_assert_cmpuint(rec_uint(end, PDS_FLOW_TCP_STATE), ==, end_state);
	/* bytes on the wire, retransmissions included */
	g_assert_cmpuint(rec_uint(end, PDS_FLOW_BYTES_C2S), ==, strlen(request) + resent);
	g_assert_cmpuint(rec_uint(end, PDS_FLOW_BYTES_S2C), ==, strlen(response));
}

static void
test_link_types(void)
{
	static const struct {
		guint linktype;
		int family;
		gboolean vlan;
	} cases[] = {
		{PDS_LINKTYPE_ETHERNET, 4, FALSE},   {PDS_LINKTYPE_ETHERNET, 6, FALSE},
		{PDS_LINKTYPE_ETHERNET, 4, TRUE},    {PDS_LINKTYPE_RAW, 4, FALSE},
		{PDS_LINKTYPE_RAW, 6, FALSE},	     {PDS_LINKTYPE_LINUX_SLL, 4, FALSE},
		{PDS_LINKTYPE_LINUX_SLL2, 6, FALSE}, {0, 4, FALSE},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		Sim sim;
		GBytes *ex;
		const guint8 *v;
		guint16 len;

		sim_init(&sim, NULL, cases[i].linktype, cases[i].family);
		sim.vlan = cases[i].vlan;
		sim_handshake(&sim);
		sim_send(&sim, 0, 0x18, request);
		sim_send(&sim, 1, 0x18, response);
		sim_close(&sim);
		check_one_exchange(&sim, PDS_FLOW_TCP_CLOSED, 0);
		ex = sim_record(&sim, 0);
		g_assert_true(rec_find(ex, PDS_FLOW_SRC_ADDR, 0, &v, &len));
		g_assert_cmpuint(len, ==, cases[i].family == 4 ? 4 : 16);
		g_assert_cmpmem(v, len, sim.client, len);
		/* SYN at 1 ms, SYN-ACK at 2 ms; request at 4 ms, response at 5 ms */
		g_assert_cmpuint(rec_uint(ex, PDS_FLOW_T_TCP_HANDSHAKE), ==, 1000000);
		g_assert_cmpuint(rec_uint(ex, PDS_FLOW_T_SERVER), ==, 1000000);
		g_assert_cmpuint(rec_uint(ex, PDS_FLOW_TCP_STATE), ==, PDS_FLOW_TCP_CONNECTED);
		g_assert_false(rec_has(ex, PDS_FLOW_ANOMALIES));
		sim_clear(&sim);
	}
}

static void
test_reorder(void)
{
	Sim sim;
	GByteArray *req[3], *resp[3];
	gsize third = strlen(request) / 3;
	gsize rthird = strlen(response) / 3;

	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	sim_handshake(&sim);
	req[0] = sim_segment(&sim, 0, 0x10, request, third);
	req[1] = sim_segment(&sim, 0, 0x10, request + third, third);
	req[2] = sim_segment(&sim, 0, 0x18, request + 2 * third, strlen(request) - 2 * third);
	resp[0] = sim_segment(&sim, 1, 0x10, response, rthird);
	resp[1] = sim_segment(&sim, 1, 0x10, response + rthird, rthird);
	resp[2] = sim_segment(&sim, 1, 0x18, response + 2 * rthird, strlen(response) - 2 * rthird);
	/* The ACKs inside these segments only cover what was already delivered in order. */
	sim_feed(&sim, req[2]);
	sim_feed(&sim, req[0]);
	sim_feed(&sim, req[1]);
	sim_feed(&sim, resp[1]);
	sim_feed(&sim, resp[2]);
	sim_feed(&sim, resp[0]);
	for (guint i = 0; i < 3; i++) {
		g_byte_array_unref(req[i]);
		g_byte_array_unref(resp[i]);
	}
	sim_close(&sim);
	check_one_exchange(&sim, PDS_FLOW_TCP_CLOSED, 0);
	g_assert_false(rec_has(sim_record(&sim, 1), PDS_FLOW_ANOMALIES));
	g_assert_cmpuint(rec_uint(sim_record(&sim, 1), PDS_FLOW_GAP_BYTES), ==, 0);
	sim_clear(&sim);
}

static void
test_retransmission(void)
{
	Sim sim;
	g_autoptr(GByteArray) a = NULL;
	g_autoptr(GByteArray) overlap = NULL;
	guint32 seq_a;

	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	sim_handshake(&sim);
	seq_a = sim.seq[0];
	a = sim_segment(&sim, 0, 0x10, request, 10);
	sim_feed(&sim, a);
	sim_feed(&sim, a); /* exact duplicate */
	/* A segment that re-sends 5 old bytes and brings the rest. */
	overlap = sim_frame(&sim, 0, seq_a + 5, sim.seq[1], 0x18, request + 5, strlen(request) - 5);
	sim.seq[0] = seq_a + strlen(request);
	sim_feed(&sim, overlap);
	sim_send(&sim, 1, 0x18, response);
	sim_close(&sim);
	check_one_exchange(&sim, PDS_FLOW_TCP_CLOSED, 15);
	g_assert_cmpuint(rec_uint(sim_record(&sim, 1), PDS_FLOW_RETRANSMISSIONS), ==, 2);
	g_assert_true(rec_uint(sim_record(&sim, 1), PDS_FLOW_ANOMALIES) &
		      PDS_FLOW_ANOMALY_RETRANSMISSION);
	sim_clear(&sim);
}

static void
test_hole(void)
{
	Sim sim;
	g_autoptr(GString) body = g_string_new("HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n");
	g_autoptr(GByteArray) s1 = NULL;
	g_autoptr(GByteArray) s2 = NULL;
	g_autoptr(GByteArray) s3 = NULL;
	gsize head = body->len;
	GBytes *ex, *end;

	for (guint i = 0; i < 3000; i++)
		g_string_append_c(body, 'a' + i % 26);
	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	sim_handshake(&sim);
	sim_send(&sim, 0, 0x18, request);
	s1 = sim_segment(&sim, 1, 0x10, body->str, head + 1000);
	s2 = sim_segment(&sim, 1, 0x10, body->str + head + 1000, 1000);
	s3 = sim_segment(&sim, 1, 0x18, body->str + head + 2000, 1000);
	sim_feed(&sim, s1);
	sim_feed(&sim, s3); /* s2 never captured */
	g_assert_cmpuint(sim.records->len, ==, 0);
	/* The client acknowledges everything: the hole will not be filled. */
	sim_send(&sim, 0, 0x10, NULL);
	g_assert_cmpuint(sim.records->len, ==, 1);
	ex = sim_record(&sim, 0);
	g_assert_cmpuint(rec_uint(ex, PDS_FLOW_HTTP_RESPONSE_BODY_LEN), ==, 3000);
	g_assert_true(rec_uint(ex, PDS_FLOW_ANOMALIES) & PDS_FLOW_ANOMALY_GAP);
	sim_close(&sim);
	end = sim_record(&sim, 1);
	g_assert_cmpuint(rec_uint(end, PDS_FLOW_GAP_BYTES), ==, 1000);
	sim_clear(&sim);
}

static void
test_midstream(void)
{
	Sim sim;
	GBytes *ex;

	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	/* Capture starts inside a response body: not a message start, nothing to report. */
	sim_send(&sim, 1, 0x18, "tail of an earlier body");
	sim_send(&sim, 0, 0x18, request);
	sim_send(&sim, 1, 0x18, response);
	pds_analyzer_flush(sim.an);
	g_assert_cmpuint(sim.records->len, >=, 1);
	ex = NULL;
	for (guint i = 0; i < sim.records->len; i++) {
		GBytes *r = sim_record(&sim, i);
		/* Whatever the content says, the client is the side on the high port. */
		g_assert_cmpuint(rec_uint(r, PDS_FLOW_SRC_PORT), ==, sim.cport);
		g_assert_cmpuint(rec_uint(r, PDS_FLOW_TCP_STATE), ==, PDS_FLOW_TCP_MIDSTREAM);
		if (rec_uint(r, PDS_FLOW_EVENT) == PDS_FLOW_EVENT_CONNECTION_END)
			ex = r;
	}
	g_assert_nonnull(ex);
	g_assert_false(rec_has(ex, PDS_FLOW_T_TCP_HANDSHAKE));
	/* The body tail is skipped; the next message start is found and read. */
	assert_str(sim_record(&sim, 0), PDS_FLOW_HTTP_URI, "/index.html");
	g_assert_cmpuint(rec_uint(sim_record(&sim, 0), PDS_FLOW_HTTP_STATUS), ==, 200);
	g_assert_false(rec_has(sim_record(&sim, 0), PDS_FLOW_ANOMALIES));
	sim_clear(&sim);

	/* TLS seen mid-stream: records are found at segment starts and counted. */
	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	sim.sport = 443;
	sim_send(&sim, 1, 0x18, "continuation of a record that began before the capture");
	{
		static const guint8 rec[] = {0x17, 0x03, 0x03, 0x00, 0x05, 'a', 'b', 'c', 'd', 'e'};
		g_autoptr(GByteArray) a = sim_segment(&sim, 1, 0x18, rec, sizeof(rec));
		g_autoptr(GByteArray) b = sim_segment(&sim, 0, 0x18, rec, sizeof(rec));
		sim_feed(&sim, a);
		sim_feed(&sim, b);
	}
	pds_analyzer_flush(sim.an);
	g_assert_cmpuint(sim.records->len, ==, 1);
	ex = sim_record(&sim, 0);
	g_assert_cmpuint(rec_uint(ex, PDS_FLOW_PROTOCOL), ==, PDS_FLOW_PROTOCOL_TLS);
	g_assert_cmpuint(rec_uint(ex, PDS_FLOW_TLS_ENCRYPTED_BYTES), ==, 10);
	g_assert_false(rec_has(ex, PDS_FLOW_ANOMALIES));
	sim_clear(&sim);

	/* Mid-stream at a message boundary: the exchange is read. */
	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	sim_send(&sim, 0, 0x18, request);
	sim_send(&sim, 1, 0x18, response);
	pds_analyzer_flush(&*sim.an);
	g_assert_cmpuint(sim.records->len, ==, 2);
	assert_str(sim_record(&sim, 0), PDS_FLOW_HTTP_URI, "/index.html");
	g_assert_cmpuint(rec_uint(sim_record(&sim, 1), PDS_FLOW_TCP_STATE), ==,
			 PDS_FLOW_TCP_MIDSTREAM);
	sim_clear(&sim);
}

static void
test_reset(void)
{
	Sim sim;
	GBytes *ex, *end;

	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	sim_handshake(&sim);
	sim_send(&sim, 0, 0x18, request);
	sim_send(&sim, 1, 0x14, NULL); /* RST-ACK */
	g_assert_cmpuint(sim.records->len, ==, 2);
	ex = sim_record(&sim, 0);
	end = sim_record(&sim, 1);
	assert_str(ex, PDS_FLOW_HTTP_URI, "/index.html");
	g_assert_false(rec_has(ex, PDS_FLOW_HTTP_STATUS));
	g_assert_cmpuint(rec_uint(end, PDS_FLOW_TCP_STATE), ==, PDS_FLOW_TCP_RESET);
	/* Packets after the reset belong to no flow and make none. */
	sim_send(&sim, 0, 0x10, NULL);
	g_assert_cmpuint(pds_analyzer_get_flows_active(sim.an), ==, 0);
	sim_clear(&sim);
}

static void
test_idle_timeout(void)
{
	Sim sim;
	PdsAnalyzerConfig cfg;
	PdsAnalyzerStats st;

	pds_analyzer_config_init(&cfg);
	cfg.idle_timeout_ns = 60 * SEC;
	sim_init(&sim, &cfg, PDS_LINKTYPE_ETHERNET, 4);
	sim_handshake(&sim);
	sim_send(&sim, 0, 0x18, request);
	sim_send(&sim, 1, 0x18, response);
	g_assert_cmpuint(sim.records->len, ==, 1);
	pds_analyzer_expire(sim.an, sim.ts + 30 * SEC);
	g_assert_cmpuint(sim.records->len, ==, 1);
	pds_analyzer_expire(sim.an, sim.ts + 61 * SEC);
	g_assert_cmpuint(sim.records->len, ==, 2);
	g_assert_cmpuint(rec_uint(sim_record(&sim, 1), PDS_FLOW_TCP_STATE), ==,
			 PDS_FLOW_TCP_TIMED_OUT);
	pds_analyzer_get_stats(sim.an, &st);
	g_assert_cmpuint(st.flows_timed_out, ==, 1);
	g_assert_cmpuint(st.flows_active, ==, 0);
	sim_clear(&sim);
}

static void
test_syn_flood(void)
{
	Sim sim;
	PdsAnalyzerConfig cfg;
	PdsAnalyzerStats st;
	guint16 real_port;
	gboolean found = FALSE;

	pds_analyzer_config_init(&cfg);
	cfg.max_flows = 256;
	sim_init(&sim, &cfg, PDS_LINKTYPE_ETHERNET, 4);
	sim_handshake(&sim);
	sim_send(&sim, 0, 0x18, request);
	real_port = sim.cport;

	for (guint i = 0; i < 50000; i++) {
		g_autoptr(GByteArray) syn = NULL;
		sim.cport = 1024 + (i % 60000);
		sim.client[3] = 1 + i / 60000;
		sim.client[2] = 7;
		syn = sim_frame(&sim, 0, g_random_int(), 0, 0x02, NULL, 0);
		sim_feed(&sim, syn);
	}
	pds_analyzer_get_stats(sim.an, &st);
	g_assert_cmpuint(st.flows_active, <=, 256);
	g_assert_cmpuint(st.half_open_dropped, >=, 50000 - 256);
	g_assert_cmpuint(st.flows_created, ==, 50001);
	/* Half-open flows leave no records behind; the real one is still tracked. */
	g_assert_cmpuint(sim.records->len, ==, 0);

	sim.cport = real_port;
	sim.client[2] = 0;
	sim.client[3] = 1;
	sim_send(&sim, 1, 0x18, response);
	for (guint i = 0; i < sim.records->len; i++) {
		GBytes *r = sim_record(&sim, i);
		if (rec_uint(r, PDS_FLOW_EVENT) == PDS_FLOW_EVENT_HTTP_EXCHANGE &&
		    rec_uint(r, PDS_FLOW_HTTP_STATUS) == 200)
			found = TRUE;
	}
	g_assert_true(found);
	sim_clear(&sim);
}

static void
test_table_exhaustion(void)
{
	Sim sim;
	PdsAnalyzerConfig cfg;
	PdsAnalyzerStats st;
	guint evicted = 0;

	pds_analyzer_config_init(&cfg);
	cfg.max_flows = 32;
	sim_init(&sim, &cfg, PDS_LINKTYPE_ETHERNET, 4);
	for (guint i = 0; i < 100; i++) {
		sim.cport = 20000 + i;
		sim_handshake(&sim);
		sim_send(&sim, 0, 0x18, request);
	}
	pds_analyzer_get_stats(sim.an, &st);
	g_assert_cmpuint(st.flows_active, ==, 32);
	g_assert_cmpuint(st.flows_evicted, ==, 68);
	for (guint i = 0; i < sim.records->len; i++) {
		GBytes *r = sim_record(&sim, i);
		if (rec_uint(r, PDS_FLOW_EVENT) != PDS_FLOW_EVENT_CONNECTION_END)
			continue;
		g_assert_cmpuint(rec_uint(r, PDS_FLOW_TCP_STATE), ==, PDS_FLOW_TCP_EVICTED);
		g_assert_true(rec_uint(r, PDS_FLOW_ANOMALIES) & PDS_FLOW_ANOMALY_MEMORY_LIMIT);
		g_assert_true(rec_has(r, PDS_FLOW_ANOMALY_TEXT));
		evicted++;
	}
	g_assert_cmpuint(evicted, ==, 68);
	sim_clear(&sim);
}

static void
test_memory_bound(void)
{
	Sim sim;
	PdsAnalyzerConfig cfg;
	PdsAnalyzerStats st;
	guint8 chunk[1000];
	GBytes *end;

	memset(chunk, 'x', sizeof(chunk));
	pds_analyzer_config_init(&cfg);
	cfg.max_flow_memory = 64 * 1024;
	cfg.max_total_memory = 1024 * 1024;
	sim_init(&sim, &cfg, PDS_LINKTYPE_ETHERNET, 4);
	sim_handshake(&sim);
	sim_send(&sim, 0, 0x18,
		 "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n");
	/* The first body segment is lost; 2000 more arrive, never acknowledged. */
	sim.seq[0] += 1000;
	for (guint i = 0; i < 2000; i++) {
		g_autoptr(GByteArray) f = sim_segment(&sim, 0, 0x10, chunk, sizeof(chunk));
		sim_feed(&sim, f);
		pds_analyzer_get_stats(sim.an, &st);
		g_assert_cmpuint(st.memory_used, <=, cfg.max_flow_memory);
	}
	pds_analyzer_get_stats(sim.an, &st);
	g_assert_cmpuint(st.memory_peak, <=, cfg.max_flow_memory);
	g_assert_cmpuint(st.memory_denied, >, 0);
	sim_send(&sim, 0, 0x14, NULL);
	end = sim_record(&sim, sim.records->len - 1);
	g_assert_cmpuint(rec_uint(end, PDS_FLOW_GAP_BYTES), ==, 1000);
	g_assert_true(rec_uint(end, PDS_FLOW_ANOMALIES) & PDS_FLOW_ANOMALY_GAP);
	g_assert_true(rec_uint(end, PDS_FLOW_ANOMALIES) & PDS_FLOW_ANOMALY_MEMORY_LIMIT);
	pds_analyzer_get_stats(sim.an, &st);
	g_assert_cmpuint(st.memory_used, ==, 0);
	sim_clear(&sim);
}

static void
test_not_http_on_port_80(void)
{
	Sim sim;
	GBytes *end;

	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	sim_handshake(&sim);
	sim_send(&sim, 1, 0x18, "SSH-2.0-OpenSSH_9.2\r\n");
	sim_send(&sim, 0, 0x18, "SSH-2.0-client\r\n");
	sim_close(&sim);
	g_assert_cmpuint(sim.records->len, ==, 1);
	end = sim_record(&sim, 0);
	g_assert_cmpuint(rec_uint(end, PDS_FLOW_PROTOCOL), ==, PDS_FLOW_PROTOCOL_TCP);
	g_assert_true(rec_uint(end, PDS_FLOW_ANOMALIES) & PDS_FLOW_ANOMALY_NOT_HTTP);
	sim_clear(&sim);
}

static void
test_garbage_packets(void)
{
	Sim sim;
	GRand *rand = g_rand_new_with_seed(7);
	PdsAnalyzerStats st;
	static const guint linktypes[] = {PDS_LINKTYPE_ETHERNET,
					  PDS_LINKTYPE_RAW,
					  PDS_LINKTYPE_LINUX_SLL,
					  PDS_LINKTYPE_LINUX_SLL2,
					  0,
					  99};

	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	for (guint i = 0; i < 20000; i++) {
		g_autoptr(GByteArray) f =
			sim_frame(&sim, i & 1, g_rand_int(rand), g_rand_int(rand), g_rand_int(rand),
				  request, g_rand_int_range(rand, 0, 40));
		guint flips = g_rand_int_range(rand, 0, 6);
		for (guint j = 0; j < flips; j++)
			f->data[g_rand_int_range(rand, 0, f->len)] = g_rand_int(rand);
		pds_analyzer_process(sim.an, linktypes[i % G_N_ELEMENTS(linktypes)], sim.ts + i,
				     f->data, g_rand_int_range(rand, 0, f->len + 1), f->len);
	}
	pds_analyzer_flush(sim.an);
	pds_analyzer_get_stats(sim.an, &st);
	g_assert_cmpuint(st.packets, ==, 20000);
	g_assert_cmpuint(st.memory_used, ==, 0);
	g_rand_free(rand);
	sim_clear(&sim);
}

/* Frames of one HTTP connection, for files. */
static GPtrArray *
sim_connection_frames(Sim *sim)
{
	GPtrArray *frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
	g_ptr_array_add(frames, sim_segment(sim, 0, 0x02, NULL, 0));
	g_ptr_array_add(frames, sim_segment(sim, 1, 0x12, NULL, 0));
	g_ptr_array_add(frames, sim_segment(sim, 0, 0x10, NULL, 0));
	g_ptr_array_add(frames, sim_segment(sim, 0, 0x18, request, strlen(request)));
	g_ptr_array_add(frames, sim_segment(sim, 1, 0x18, response, strlen(response)));
	g_ptr_array_add(frames, sim_segment(sim, 0, 0x11, NULL, 0));
	g_ptr_array_add(frames, sim_segment(sim, 1, 0x11, NULL, 0));
	return frames;
}

static gchar *
run_analyze(const char *const *args, const char *stdin_file, gint *status)
{
	g_autofree gchar *exe =
		g_build_filename(g_getenv("PDS_BUILD_ROOT"), "extcap", "podscope", NULL);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *cmd = NULL;
	gchar *out = NULL;

	g_ptr_array_add(argv, exe);
	g_ptr_array_add(argv, (gpointer) "analyze");
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	if (stdin_file != NULL) {
		/* "-" reads standard input */
		g_autofree gchar *quoted = g_shell_quote(stdin_file);
		g_autofree gchar *joined = g_strjoinv(" ", (gchar **)argv->pdata);
		cmd = g_strdup_printf("%s < %s", joined, quoted);
		g_assert_true(g_spawn_sync(NULL, (gchar *[]){"/bin/sh", "-c", cmd, NULL}, NULL, 0,
					   NULL, NULL, &out, NULL, status, &error));
	} else {
		g_assert_true(g_spawn_sync(NULL, (gchar **)argv->pdata, NULL,
					   G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
					   status, &error));
	}
	g_assert_no_error(error);
	return out;
}

static void
test_cli(void)
{
	Sim sim;
	g_autoptr(GPtrArray) frames = NULL;
	g_autoptr(GByteArray) file = g_byte_array_new();
	g_autoptr(GByteArray) classic = g_byte_array_new();
	g_autoptr(PdsPcapngOptions) opts = pds_pcapng_options_new();
	g_autofree gchar *dir = g_dir_make_tmp("pds-analyze-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "one.pcapng", NULL);
	g_autofree gchar *cut = g_build_filename(dir, "cut.pcapng", NULL);
	g_autofree gchar *pcap = g_build_filename(dir, "one.pcap", NULL);
	g_autofree gchar *out = NULL;
	g_auto(GStrv) lines = NULL;
	gint status;
	guint32 hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, PDS_LINKTYPE_ETHERNET};

	if (g_getenv("PDS_BUILD_ROOT") == NULL) {
		g_test_skip("PDS_BUILD_ROOT is not set");
		return;
	}
	sim_init(&sim, NULL, PDS_LINKTYPE_ETHERNET, 4);
	frames = sim_connection_frames(&sim);
	pds_pcapng_write_shb(file, NULL);
	pds_pcapng_options_add_u8(opts, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_write_idb(file, PDS_LINKTYPE_ETHERNET, 65535, opts);
	g_byte_array_append(classic, (guint8 *)hdr, sizeof(hdr));
	for (guint i = 0; i < frames->len; i++) {
		GByteArray *f = g_ptr_array_index(frames, i);
		guint32 rec[4] = {1700000000 + i, i * 1000, f->len, f->len};
		pds_pcapng_write_epb(file, 0, (1700000000 + i) * SEC, f->data, f->len, f->len,
				     NULL);
		g_byte_array_append(classic, (guint8 *)rec, sizeof(rec));
		g_byte_array_append(classic, f->data, f->len);
	}
	g_assert_true(g_file_set_contents(path, (gchar *)file->data, file->len, NULL));
	g_assert_true(g_file_set_contents(pcap, (gchar *)classic->data, classic->len, NULL));
	/* The same file cut inside its last block. */
	g_assert_true(g_file_set_contents(cut, (gchar *)file->data, file->len - 10, NULL));

	out = run_analyze((const char *[]){"--json", path, NULL}, NULL, &status);
	g_assert_cmpint(status, ==, 0);
	lines = g_strsplit(g_strstrip(out), "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 2);
	g_assert_nonnull(strstr(lines[0], "\"event\":\"http_exchange\""));
	g_assert_nonnull(strstr(lines[0], "\"http_uri\":\"/index.html\""));
	g_assert_nonnull(strstr(lines[0], "\"src_addr\":\"10.0.0.1\""));
	g_assert_nonnull(strstr(lines[0], "\"http_response_body\":\"hello world\""));
	g_assert_nonnull(strstr(lines[1], "\"tcp_state\":\"closed\""));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&lines, g_strfreev);

	/* text, from standard input */
	out = run_analyze((const char *[]){"-", NULL}, path, &status);
	g_assert_cmpint(status, ==, 0);
	g_assert_nonnull(strstr(out, "10.0.0.1:40000 -> 10.0.0.2:80 http http_exchange GET "
				     "/index.html -> 200"));
	g_clear_pointer(&out, g_free);

	/* classic pcap gives the same records */
	out = run_analyze((const char *[]){"--json", pcap, NULL}, NULL, &status);
	g_assert_cmpint(status, ==, 0);
	g_assert_nonnull(strstr(out, "\"http_status\":200"));
	g_clear_pointer(&out, g_free);

	/* a damaged file: what was read is reported, and the exit status says it failed */
	out = run_analyze((const char *[]){"--json", cut, NULL}, NULL, &status);
	g_assert_false(g_spawn_check_wait_status(status, NULL));
	g_assert_nonnull(strstr(out, "\"http_status\":200"));
	g_clear_pointer(&out, g_free);

	/* usage errors */
	out = run_analyze((const char *[]){NULL}, NULL, &status);
	g_assert_false(g_spawn_check_wait_status(status, NULL));
	g_clear_pointer(&out, g_free);

	g_unlink(path);
	g_unlink(cut);
	g_unlink(pcap);
	g_rmdir(dir);
	sim_clear(&sim);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/analyzer/flow/link-types", test_link_types);
	g_test_add_func("/analyzer/flow/reorder", test_reorder);
	g_test_add_func("/analyzer/flow/retransmission", test_retransmission);
	g_test_add_func("/analyzer/flow/hole", test_hole);
	g_test_add_func("/analyzer/flow/midstream", test_midstream);
	g_test_add_func("/analyzer/flow/reset", test_reset);
	g_test_add_func("/analyzer/flow/idle-timeout", test_idle_timeout);
	g_test_add_func("/analyzer/flow/bad/syn-flood", test_syn_flood);
	g_test_add_func("/analyzer/flow/bad/table-exhaustion", test_table_exhaustion);
	g_test_add_func("/analyzer/flow/bad/memory-bound", test_memory_bound);
	g_test_add_func("/analyzer/flow/bad/not-http-on-port-80", test_not_http_on_port_80);
	g_test_add_func("/analyzer/flow/bad/garbage-packets", test_garbage_packets);
	g_test_add_func("/analyzer/cli/analyze", test_cli);
	return g_test_run();
}
