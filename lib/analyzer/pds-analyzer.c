/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Flow table, packet decoding and record making of the analyzer.
 *
 * The table is open addressing with linear probing over indexes into one
 * array of flows, allocated once (calloc: pages are only touched as flows
 * are used) and recycled through a free list. A flow's two directions hash
 * to the same slot, so one lookup finds a packet's flow and its direction.
 * An LRU list orders flows by last activity for expiry and eviction.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsAnalyzer"

#include <string.h>

#include "pds-analyzer.h"
#include "pds-analyzer-mem.h"
#include "pds-text.h"
#include "pds-http-parser.h"
#include "pds-pcapng.h"
#include "pds-record-codec.h"
#include "pds-tcp-reasm.h"
#include "pds-tls-parser.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define NO_FLOW (-1)

/* Flows that are evicted first when the table is full are looked for among this many. */
#define EVICT_SCAN 16

typedef struct {
	guint8 family; /* 4 or 6 */
	guint8 src[16];
	guint8 dst[16];
	guint16 sport;
	guint16 dport;
	guint32 seq;
	guint32 ack;
	guint8 flags;
	const guint8 *payload;
	guint32 caplen; /* payload bytes captured */
	guint32 len;	/* payload bytes on the wire */
} PdsPacket;

typedef struct _PdsFlow PdsFlow;

struct _PdsAnalyzer {
	PdsAnalyzerConfig cfg;
	PdsAnalyzerRecordFunc func;
	gpointer user_data;
	PdsFlow *flows;	 /* cfg.max_flows entries */
	guint32 n_fresh; /* flows[n_fresh..] were never used */
	gint32 free_head;
	guint32 n_used;
	guint32 *slots; /* index + 1 of a flow, 0 = empty */
	guint32 mask;
	gint32 lru_head; /* least recently active */
	gint32 lru_tail;
	PdsMemBudget budget;
	PdsHttpLimits http_limits;
	PdsAnalyzerStats stats;
	guint64 next_stream;
	guint64 next_expire_ns;
};

struct _PdsFlow {
	PdsAnalyzer *an;
	guint32 hash;
	gint32 lru_prev;
	gint32 lru_next; /* also the free list link */
	guint8 family;
	guint8 addr[2][16]; /* [0] client, [1] server */
	guint16 port[2];
	guint64 stream_id;
	guint64 ts_first;
	guint64 ts_last;
	guint64 ts_syn;
	guint64 ts_synack;
	guint32 client_isn;
	gboolean syn_seen;
	gboolean synack_seen;
	gboolean detected;
	guint8 sniff_tries; /* segments looked at without recognising the protocol */
	guint8 proto;	    /* PdsFlowProtocol */
	guint32 anomalies;
	const char *anomaly_text;
	PdsTcpStream stream[2];
	guint64 bytes[2];
	guint64 packets[2];
	guint64 retransmissions;
	guint64 gap_bytes;
	PdsFlowMem mem;
	PdsHttpConn *http;
	PdsTlsParser *tls;
};

static inline guint32
mix32(guint32 h)
{
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

static inline guint32
endpoint_hash(const guint8 *addr, guint16 port)
{
	guint32 w[4];
	memcpy(w, addr, 16);
	return mix32(w[0] ^ mix32(w[1] ^ mix32(w[2] ^ mix32(w[3] ^ port))));
}

void
pds_analyzer_config_init(PdsAnalyzerConfig *cfg)
{
	g_return_if_fail(cfg != NULL);
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_flows = 65536;
	cfg->max_flow_memory = 1024 * 1024;
	cfg->max_total_memory = 64 * 1024 * 1024;
	cfg->max_header_bytes = 16 * 1024;
	cfg->body_prefix_bytes = 1024;
	cfg->max_pipeline = 32;
	cfg->idle_timeout_ns = 300 * G_GUINT64_CONSTANT(1000000000);
	cfg->half_open_timeout_ns = 30 * G_GUINT64_CONSTANT(1000000000);
}

PdsAnalyzer *
pds_analyzer_new(const PdsAnalyzerConfig *cfg, PdsAnalyzerRecordFunc func, gpointer user_data)
{
	PdsAnalyzer *an = g_new0(PdsAnalyzer, 1);
	PdsAnalyzerConfig def;
	guint32 n_slots = 16;

	pds_analyzer_config_init(&def);
	if (cfg != NULL) {
		an->cfg = *cfg;
		/* Zero means "default" for every limit. */
		if (an->cfg.max_flows == 0)
			an->cfg.max_flows = def.max_flows;
		if (an->cfg.max_flow_memory == 0)
			an->cfg.max_flow_memory = def.max_flow_memory;
		if (an->cfg.max_total_memory == 0)
			an->cfg.max_total_memory = def.max_total_memory;
		if (an->cfg.max_header_bytes == 0)
			an->cfg.max_header_bytes = def.max_header_bytes;
		if (an->cfg.max_pipeline == 0)
			an->cfg.max_pipeline = def.max_pipeline;
		if (an->cfg.idle_timeout_ns == 0)
			an->cfg.idle_timeout_ns = def.idle_timeout_ns;
		if (an->cfg.half_open_timeout_ns == 0)
			an->cfg.half_open_timeout_ns = def.half_open_timeout_ns;
	} else {
		an->cfg = def;
	}
	an->cfg.max_flows = MIN(an->cfg.max_flows, 1u << 24);
	an->func = func;
	an->user_data = user_data;
	an->flows = g_malloc0_n(an->cfg.max_flows, sizeof(PdsFlow));
	while (n_slots < an->cfg.max_flows * 2)
		n_slots <<= 1;
	an->slots = g_malloc0_n(n_slots, sizeof(guint32));
	an->mask = n_slots - 1;
	an->free_head = NO_FLOW;
	an->lru_head = an->lru_tail = NO_FLOW;
	an->budget.limit = an->cfg.max_total_memory;
	an->http_limits.max_header_bytes = an->cfg.max_header_bytes;
	an->http_limits.body_prefix_bytes = an->cfg.body_prefix_bytes;
	an->http_limits.max_pipeline = an->cfg.max_pipeline;
	an->next_stream = an->cfg.stream_id_base;
	return an;
}

static inline gint32
flow_index(const PdsAnalyzer *an, const PdsFlow *f)
{
	return (gint32)(f - an->flows);
}

/* ---- packet decoding ---- */

static gboolean
decode_tcp(PdsAnalyzer *an, const guint8 *p, guint32 avail, guint32 wire_len, PdsPacket *pkt)
{
	guint32 doff;

	if (avail < 20 || wire_len < 20) {
		an->stats.malformed_packets++;
		return FALSE;
	}
	doff = (p[12] >> 4) * 4u;
	if (doff < 20 || doff > wire_len || doff > avail) {
		an->stats.malformed_packets++;
		return FALSE;
	}
	pkt->sport = (p[0] << 8) | p[1];
	pkt->dport = (p[2] << 8) | p[3];
	pkt->seq = ((guint32)p[4] << 24) | (p[5] << 16) | (p[6] << 8) | p[7];
	pkt->ack = ((guint32)p[8] << 24) | (p[9] << 16) | (p[10] << 8) | p[11];
	pkt->flags = p[13];
	pkt->payload = p + doff;
	pkt->len = wire_len - doff;
	pkt->caplen = MIN(avail - doff, pkt->len);
	return TRUE;
}

static gboolean
decode_ipv4(PdsAnalyzer *an, const guint8 *p, guint32 avail, PdsPacket *pkt)
{
	guint32 ihl, total;

	if (avail < 20 || (p[0] >> 4) != 4) {
		an->stats.malformed_packets++;
		return FALSE;
	}
	ihl = (p[0] & 0x0f) * 4u;
	total = (p[2] << 8) | p[3];
	/* total == 0: TSO/GSO frames captured before segmentation say nothing; use the capture. */
	if (total == 0)
		total = avail;
	if (ihl < 20 || total < ihl || avail < ihl) {
		an->stats.malformed_packets++;
		return FALSE;
	}
	if (p[9] != 6) {
		an->stats.non_tcp_packets++;
		return FALSE;
	}
	if (((p[6] << 8) | p[7]) & 0x3fff) {
		an->stats.fragments++;
		return FALSE;
	}
	pkt->family = 4;
	memset(pkt->src, 0, 32);
	memcpy(pkt->src, p + 12, 4);
	memset(pkt->dst, 0, 16);
	memcpy(pkt->dst, p + 16, 4);
	return decode_tcp(an, p + ihl, MIN(avail, total) - ihl, total - ihl, pkt);
}

static gboolean
decode_ipv6(PdsAnalyzer *an, const guint8 *p, guint32 avail, PdsPacket *pkt)
{
	guint32 plen, off = 40;
	guint8 next;

	if (avail < 40 || (p[0] >> 4) != 6) {
		an->stats.malformed_packets++;
		return FALSE;
	}
	plen = (p[4] << 8) | p[5];
	if (plen == 0)
		plen = avail - 40; /* jumbogram or unsegmented offload */
	next = p[6];
	for (guint i = 0; i < 8; i++) {
		guint32 hlen;
		if (next == 6)
			break;
		if (next == 44) {
			an->stats.fragments++;
			return FALSE;
		}
		if (next != 0 && next != 43 && next != 60 && next != 51) {
			an->stats.non_tcp_packets++;
			return FALSE;
		}
		if (avail < off + 2) {
			an->stats.malformed_packets++;
			return FALSE;
		}
		hlen = next == 51 ? (p[off + 1] + 2u) * 4u : (p[off + 1] + 1u) * 8u;
		next = p[off];
		off += hlen;
	}
	if (next != 6 || off > avail || off > 40 + plen) {
		if (next != 6)
			an->stats.non_tcp_packets++;
		else
			an->stats.malformed_packets++;
		return FALSE;
	}
	pkt->family = 6;
	memcpy(pkt->src, p + 8, 16);
	memcpy(pkt->dst, p + 24, 16);
	return decode_tcp(an, p + off, MIN(avail, 40 + plen) - off, 40 + plen - off, pkt);
}

static gboolean
decode_ethertype(PdsAnalyzer *an, guint16 type, const guint8 *p, guint32 avail, PdsPacket *pkt)
{
	if (type == 0x0800)
		return decode_ipv4(an, p, avail, pkt);
	if (type == 0x86dd)
		return decode_ipv6(an, p, avail, pkt);
	an->stats.non_tcp_packets++;
	return FALSE;
}

static gboolean
decode_ip(PdsAnalyzer *an, const guint8 *p, guint32 avail, PdsPacket *pkt)
{
	if (avail >= 1 && (p[0] >> 4) == 4)
		return decode_ipv4(an, p, avail, pkt);
	if (avail >= 1 && (p[0] >> 4) == 6)
		return decode_ipv6(an, p, avail, pkt);
	an->stats.malformed_packets++;
	return FALSE;
}

static gboolean
decode(PdsAnalyzer *an, guint linktype, const guint8 *p, guint32 caplen, PdsPacket *pkt)
{
	switch (linktype) {
	case PDS_LINKTYPE_ETHERNET: {
		guint32 off = 12;
		guint16 type;
		for (;;) {
			if (caplen < off + 2) {
				an->stats.malformed_packets++;
				return FALSE;
			}
			type = (p[off] << 8) | p[off + 1];
			off += 2;
			if (type != 0x8100 && type != 0x88a8 && type != 0x9100)
				break;
			off += 2; /* the tag control information */
		}
		return decode_ethertype(an, type, p + off, caplen - off, pkt);
	}
	case PDS_LINKTYPE_RAW:
	case 12:  /* DLT_RAW on OpenBSD-style systems */
	case 14:  /* DLT_RAW elsewhere */
	case 228: /* LINKTYPE_IPV4 */
	case 229: /* LINKTYPE_IPV6 */
		return decode_ip(an, p, caplen, pkt);
	case PDS_LINKTYPE_LINUX_SLL:
		if (caplen < 16)
			break;
		return decode_ethertype(an, (p[14] << 8) | p[15], p + 16, caplen - 16, pkt);
	case PDS_LINKTYPE_LINUX_SLL2:
		if (caplen < 20)
			break;
		return decode_ethertype(an, (p[0] << 8) | p[1], p + 20, caplen - 20, pkt);
	case 0:	  /* BSD loopback: address family in host order */
	case 108: /* OpenBSD loopback: network order */
		if (caplen < 4)
			break;
		return decode_ip(an, p + 4, caplen - 4, pkt);
	default:
		an->stats.non_tcp_packets++;
		return FALSE;
	}
	an->stats.malformed_packets++;
	return FALSE;
}

/* ---- records ---- */

static void
add_addr(PdsRecordBuilder *b, guint16 code, const PdsFlow *f, guint side)
{
	pds_record_builder_add(b, code, f->addr[side], f->family == 4 ? 4 : 16);
}

/* Adds text that came off the wire as a UTF-8 string, escaping what is not printable. */
static void
add_text(PdsRecordBuilder *b, guint16 code, const guint8 *p, gsize len)
{
	gboolean clean = TRUE, ascii = TRUE;
	g_autoptr(GString) s = NULL;

	/* One pass for the common case, printable ASCII (valid UTF-8 as it is);
	 * the UTF-8 check runs only when a byte above 0x7f shows up. */
	for (gsize i = pds_text_printable_prefix(p, len); clean && i < len; i++) {
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			clean = FALSE;
		else if (p[i] >= 0x80)
			ascii = FALSE;
	}
	if (clean && !ascii)
		clean = g_utf8_validate_len((const char *)p, len, NULL);
	if (clean) {
		pds_record_builder_add(b, code, p, len);
		return;
	}
	s = g_string_sized_new(len + 16);
	for (gsize i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			g_string_append_c(s, p[i]);
		else
			g_string_append_printf(s, "\\x%02x", p[i]);
	}
	pds_record_builder_add(b, code, s->str, s->len);
}

static void
add_span(PdsRecordBuilder *b, guint16 code, const PdsHttpMessage *m, PdsHttpSpan span)
{
	if (span.len > 0)
		add_text(b, code, m->head + span.off, span.len);
}

static guint32
flow_anomalies(const PdsFlow *f, const char **text)
{
	guint32 a = f->anomalies;
	const char *t = f->anomaly_text;
	const char *sub = NULL;

	if (f->http != NULL) {
		a |= pds_http_conn_get_anomalies(f->http, &sub);
		if (t == NULL)
			t = sub;
	}
	if (f->tls != NULL) {
		a |= pds_tls_parser_get_anomalies(f->tls, &sub);
		if (t == NULL)
			t = sub;
	}
	if (f->mem.hit) {
		a |= PDS_FLOW_ANOMALY_MEMORY_LIMIT;
		if (t == NULL)
			t = "memory limit reached: some data was not analysed";
	}
	if (t == NULL && (a & PDS_FLOW_ANOMALY_GAP))
		t = "bytes missing from the capture";
	if (t == NULL && (a & PDS_FLOW_ANOMALY_RETRANSMISSION))
		t = "retransmitted segments";
	*text = t;
	return a;
}

static PdsRecordBuilder *
record_begin(
	const PdsFlow *f, PdsFlowEvent event, guint8 tcp_state, guint64 ts, guint32 extra_anomalies)
{
	PdsRecordBuilder *b = pds_record_builder_new(PDS_RECORD_FLOW, f->an->cfg.interface_id, ts);
	const char *text = NULL;
	guint32 anomalies = flow_anomalies(f, &text) | extra_anomalies;

	pds_record_builder_add_u8(b, PDS_FLOW_EVENT, event);
	pds_record_builder_add_u64(b, PDS_FLOW_STREAM_ID, f->stream_id);
	add_addr(b, PDS_FLOW_SRC_ADDR, f, 0);
	add_addr(b, PDS_FLOW_DST_ADDR, f, 1);
	pds_record_builder_add_u16(b, PDS_FLOW_SRC_PORT, f->port[0]);
	pds_record_builder_add_u16(b, PDS_FLOW_DST_PORT, f->port[1]);
	pds_record_builder_add_u8(b, PDS_FLOW_IP_PROTO, 6);
	pds_record_builder_add_u8(b, PDS_FLOW_PROTOCOL,
				  f->proto != 0 ? f->proto : PDS_FLOW_PROTOCOL_TCP);
	pds_record_builder_add_u8(b, PDS_FLOW_TCP_STATE, tcp_state);
	if (anomalies != 0) {
		pds_record_builder_add_u32(b, PDS_FLOW_ANOMALIES, anomalies);
		if (text != NULL)
			pds_record_builder_add_string(b, PDS_FLOW_ANOMALY_TEXT, text);
	}
	pds_record_builder_add_u64(b, PDS_FLOW_FIRST_PACKET_NS, f->ts_first);
	if (f->syn_seen && f->synack_seen && f->ts_synack >= f->ts_syn)
		pds_record_builder_add_u64(b, PDS_FLOW_T_TCP_HANDSHAKE, f->ts_synack - f->ts_syn);
	return b;
}

static void
record_end(PdsAnalyzer *an, PdsRecordBuilder *b)
{
	g_autoptr(GBytes) record = pds_record_builder_end(b);

	/* end() takes the contents; the spent builder is still ours to free. */
	pds_record_builder_free(b);

	an->stats.records++;
	if (an->func != NULL)
		an->func(record, an->user_data);
}

static guint8
flow_live_state(const PdsFlow *f)
{
	if (f->synack_seen)
		return PDS_FLOW_TCP_CONNECTED;
	if (f->syn_seen)
		return f->bytes[0] + f->bytes[1] > 0 ? PDS_FLOW_TCP_CONNECTED
						     : PDS_FLOW_TCP_CONNECTING;
	return PDS_FLOW_TCP_MIDSTREAM;
}

static void
add_tls(PdsRecordBuilder *b, const PdsTlsHandshakeInfo *info, gboolean with_bytes)
{
	if (info->sni[0] != '\0')
		pds_record_builder_add_string(b, PDS_FLOW_TLS_SNI, info->sni);
	for (guint i = 0; i < info->n_alpn_offered; i++)
		pds_record_builder_add_string(b, PDS_FLOW_TLS_ALPN_OFFERED, info->alpn_offered[i]);
	if (info->alpn[0] != '\0')
		pds_record_builder_add_string(b, PDS_FLOW_TLS_ALPN, info->alpn);
	if (info->server_hello || info->hrr) {
		pds_record_builder_add_u16(b, PDS_FLOW_TLS_VERSION, info->version);
		pds_record_builder_add_u16(b, PDS_FLOW_TLS_CIPHER, info->cipher);
	}
	if (info->hrr)
		pds_record_builder_add_u8(b, PDS_FLOW_TLS_HRR, 1);
	for (guint i = 0; i < info->n_client_versions; i++)
		pds_record_builder_add_u16(b, PDS_FLOW_TLS_CLIENT_VERSIONS,
					   info->client_versions[i]);
	if (info->done && info->client_hello && info->ts_done >= info->ts_client_hello)
		pds_record_builder_add_u64(b, PDS_FLOW_T_TLS_HANDSHAKE,
					   info->ts_done - info->ts_client_hello);
	if (with_bytes)
		pds_record_builder_add_u64(b, PDS_FLOW_TLS_ENCRYPTED_BYTES,
					   info->encrypted_bytes[0] + info->encrypted_bytes[1]);
}

static void
on_tls_done(const PdsTlsHandshakeInfo *info, gpointer user_data)
{
	PdsFlow *f = user_data;
	PdsRecordBuilder *b =
		record_begin(f, PDS_FLOW_EVENT_TLS_HANDSHAKE, flow_live_state(f), info->ts_done, 0);
	add_tls(b, info, FALSE);
	record_end(f->an, b);
}

static void
add_headers(PdsRecordBuilder *b, guint16 code, const PdsHttpMessage *m)
{
	for (guint i = 0; i < m->n_headers; i++)
		add_span(b, code, m, m->headers[i]);
}

static void
on_http_exchange(const PdsHttpExchange *ex, gpointer user_data)
{
	PdsFlow *f = user_data;
	const PdsHttpMessage *req = ex->request;
	const PdsHttpMessage *resp = ex->response;
	PdsRecordBuilder *b = record_begin(f, PDS_FLOW_EVENT_HTTP_EXCHANGE, flow_live_state(f),
					   ex->ts, ex->anomalies);

	if (req != NULL) {
		add_span(b, PDS_FLOW_HTTP_METHOD, req, req->method);
		add_span(b, PDS_FLOW_HTTP_URI, req, req->uri);
		add_span(b, PDS_FLOW_HTTP_VERSION, req, req->version);
		add_span(b, PDS_FLOW_HTTP_HOST, req, req->host);
		pds_record_builder_add_u32(b, PDS_FLOW_HTTP_REQUEST_INDEX, req->index);
		add_headers(b, PDS_FLOW_HTTP_REQUEST_HEADER, req);
		if (req->body_kept > 0 && req->body != NULL)
			pds_record_builder_add(b, PDS_FLOW_HTTP_REQUEST_BODY, req->body,
					       req->body_kept);
		pds_record_builder_add_u64(b, PDS_FLOW_HTTP_REQUEST_BODY_LEN, req->body_len);
		for (guint i = 0; i < req->n_interim; i++)
			pds_record_builder_add_u16(b, PDS_FLOW_HTTP_INTERIM_STATUS,
						   req->interim[i]);
	} else if (resp != NULL) {
		add_span(b, PDS_FLOW_HTTP_VERSION, resp, resp->version);
	}
	if (resp != NULL) {
		pds_record_builder_add_u16(b, PDS_FLOW_HTTP_STATUS, resp->status);
		add_span(b, PDS_FLOW_HTTP_REASON, resp, resp->reason);
		add_headers(b, PDS_FLOW_HTTP_RESPONSE_HEADER, resp);
		if (resp->body_kept > 0 && resp->body != NULL)
			pds_record_builder_add(b, PDS_FLOW_HTTP_RESPONSE_BODY, resp->body,
					       resp->body_kept);
		pds_record_builder_add_u64(b, PDS_FLOW_HTTP_RESPONSE_BODY_LEN, resp->body_len);
		pds_record_builder_add_u64(b, PDS_FLOW_T_TRANSFER, resp->ts_last - resp->ts_first);
	}
	if (req != NULL && resp != NULL) {
		if (resp->ts_first >= req->ts_last)
			pds_record_builder_add_u64(b, PDS_FLOW_T_SERVER,
						   resp->ts_first - req->ts_last);
		if (resp->ts_last >= req->ts_first)
			pds_record_builder_add_u64(b, PDS_FLOW_T_TOTAL,
						   resp->ts_last - req->ts_first);
	}
	if (f->tls != NULL)
		add_tls(b, pds_tls_parser_get_info(f->tls), FALSE);
	record_end(f->an, b);
}

static void
emit_connection_end(PdsFlow *f, guint8 state, guint64 ts)
{
	PdsRecordBuilder *b = record_begin(f, PDS_FLOW_EVENT_CONNECTION_END, state, ts, 0);

	pds_record_builder_add_u64(b, PDS_FLOW_T_TOTAL, f->ts_last - f->ts_first);
	pds_record_builder_add_u64(b, PDS_FLOW_BYTES_C2S, f->bytes[0]);
	pds_record_builder_add_u64(b, PDS_FLOW_BYTES_S2C, f->bytes[1]);
	pds_record_builder_add_u64(b, PDS_FLOW_PACKETS_C2S, f->packets[0]);
	pds_record_builder_add_u64(b, PDS_FLOW_PACKETS_S2C, f->packets[1]);
	pds_record_builder_add_u64(b, PDS_FLOW_RETRANSMISSIONS, f->retransmissions);
	pds_record_builder_add_u64(b, PDS_FLOW_GAP_BYTES, f->gap_bytes);
	if (f->tls != NULL)
		add_tls(b, pds_tls_parser_get_info(f->tls), TRUE);
	if (f->http != NULL)
		pds_record_builder_add_u32(b, PDS_FLOW_HTTP_EXCHANGES,
					   pds_http_conn_get_n_exchanges(f->http));
	record_end(f->an, b);
}

/* ---- reassembly sinks ---- */

/* Segments of a mid-stream flow looked at before it is called plain TCP. */
#define MIDSTREAM_SNIFF_TRIES 16

static void
detect(PdsFlow *f, guint dir, const guint8 *data, gsize len)
{
	PdsAnalyzer *an = f->an;
	gboolean midstream = !f->syn_seen && !f->synack_seen;

	if ((dir == 0 && pds_http_sniff_request(data, len) == 1) ||
	    (dir == 1 && pds_http_sniff_response(data, len) == 1)) {
		f->detected = TRUE;
		f->proto = PDS_FLOW_PROTOCOL_HTTP;
		f->http = pds_http_conn_new(&an->http_limits, &f->mem, on_http_exchange, f);
		if (midstream)
			pds_http_conn_set_midstream(f->http);
		return;
	}
	if (pds_tls_sniff(data, len) == 1 || (midstream && pds_tls_sniff_record(data, len) == 1)) {
		f->detected = TRUE;
		f->proto = PDS_FLOW_PROTOCOL_TLS;
		f->tls = pds_tls_parser_new(&f->mem, on_tls_done, f);
		if (midstream)
			pds_tls_parser_set_midstream(f->tls);
		return;
	}
	/*
	 * The first bytes of a connection say what it is; a capture that began
	 * inside one may have landed in a body: keep looking at segment starts.
	 */
	if (midstream && ++f->sniff_tries < MIDSTREAM_SNIFF_TRIES)
		return;
	f->detected = TRUE;
	f->proto = PDS_FLOW_PROTOCOL_TCP;
	if (f->port[1] == 80 || f->port[1] == 8080) {
		f->anomalies |= PDS_FLOW_ANOMALY_NOT_HTTP;
		f->anomaly_text = "the connection to an HTTP port does not carry HTTP/1.x";
	}
}

static void
sink_data(gpointer user_data, guint dir, const guint8 *data, gsize len, guint64 ts)
{
	PdsFlow *f = user_data;

	if (!f->detected)
		detect(f, dir, data, len);
	if (f->http != NULL)
		pds_http_conn_data(f->http, dir, data, len, ts);
	else if (f->tls != NULL)
		pds_tls_parser_data(f->tls, dir, data, len, ts);
}

static void
sink_gap(gpointer user_data, guint dir, guint64 len)
{
	PdsFlow *f = user_data;

	if (f->http != NULL)
		pds_http_conn_gap(f->http, dir, len);
	else if (f->tls != NULL)
		pds_tls_parser_gap(f->tls, dir, len);
}

static void
sink_fin(gpointer user_data, guint dir, guint64 ts)
{
	PdsFlow *f = user_data;

	if (f->http != NULL)
		pds_http_conn_fin(f->http, dir, ts);
}

static const PdsTcpSinkFuncs sink_funcs = {sink_data, sink_gap, sink_fin};

static inline void
ctx_init(PdsTcpCtx *ctx, PdsFlow *f, guint dir)
{
	ctx->funcs = &sink_funcs;
	ctx->user_data = f;
	ctx->dir = dir;
	ctx->mem = &f->mem;
	ctx->retransmissions = &f->retransmissions;
	ctx->gap_bytes = &f->gap_bytes;
	ctx->anomalies = &f->anomalies;
}

/* ---- flow table ---- */

static void
lru_unlink(PdsAnalyzer *an, PdsFlow *f)
{
	if (f->lru_prev != NO_FLOW)
		an->flows[f->lru_prev].lru_next = f->lru_next;
	else
		an->lru_head = f->lru_next;
	if (f->lru_next != NO_FLOW)
		an->flows[f->lru_next].lru_prev = f->lru_prev;
	else
		an->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = NO_FLOW;
}

static void
lru_append(PdsAnalyzer *an, PdsFlow *f)
{
	gint32 idx = flow_index(an, f);

	f->lru_prev = an->lru_tail;
	f->lru_next = NO_FLOW;
	if (an->lru_tail != NO_FLOW)
		an->flows[an->lru_tail].lru_next = idx;
	else
		an->lru_head = idx;
	an->lru_tail = idx;
}

static void
slot_remove(PdsAnalyzer *an, PdsFlow *f)
{
	guint32 want = (guint32)flow_index(an, f) + 1;
	guint32 i = f->hash & an->mask;
	guint32 j;

	while (an->slots[i] != want)
		i = (i + 1) & an->mask;
	/* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
	j = i;
	for (;;) {
		guint32 home;
		j = (j + 1) & an->mask;
		if (an->slots[j] == 0)
			break;
		home = an->flows[an->slots[j] - 1].hash & an->mask;
		if (((j > i) && (home <= i || home > j)) || ((j < i) && (home <= i && home > j))) {
			an->slots[i] = an->slots[j];
			i = j;
		}
	}
	an->slots[i] = 0;
}

static gboolean
flow_is_half_open(const PdsFlow *f)
{
	return f->bytes[0] == 0 && f->bytes[1] == 0 && !(f->syn_seen && f->synack_seen);
}

static void
flow_end(PdsAnalyzer *an, PdsFlow *f, guint8 state, guint64 ts)
{
	gboolean silent = flow_is_half_open(f) &&
			  (state == PDS_FLOW_TCP_EVICTED || state == PDS_FLOW_TCP_TIMED_OUT);

	if (!silent) {
		for (guint d = 0; d < 2; d++) {
			PdsTcpCtx ctx;
			ctx_init(&ctx, f, d);
			pds_tcp_stream_flush(&f->stream[d], &ctx, ts);
		}
		if (f->http != NULL)
			pds_http_conn_finish(f->http, ts);
		emit_connection_end(f, state, ts);
	} else {
		an->stats.half_open_dropped++;
	}
	if (state == PDS_FLOW_TCP_EVICTED)
		an->stats.flows_evicted++;
	else if (state == PDS_FLOW_TCP_TIMED_OUT)
		an->stats.flows_timed_out++;

	pds_http_conn_free(f->http);
	pds_tls_parser_free(f->tls);
	f->http = NULL;
	f->tls = NULL;
	for (guint d = 0; d < 2; d++)
		pds_tcp_stream_clear(&f->stream[d], &f->mem);
	g_assert(f->mem.used == 0);
	slot_remove(an, f);
	lru_unlink(an, f);
	f->lru_next = an->free_head;
	an->free_head = flow_index(an, f);
	an->n_used--;
	an->stats.flows_active = an->n_used;
}

static void
evict_one(PdsAnalyzer *an, guint64 ts)
{
	gint32 victim = an->lru_head;
	gint32 idx = an->lru_head;

	/* A half-open flow (SYN flood) goes before a real one that is merely quiet. */
	for (guint n = 0; idx != NO_FLOW && n < EVICT_SCAN; n++) {
		if (flow_is_half_open(&an->flows[idx])) {
			victim = idx;
			break;
		}
		idx = an->flows[idx].lru_next;
	}
	if (!flow_is_half_open(&an->flows[victim])) {
		PdsFlow *f = &an->flows[victim];
		f->anomalies |= PDS_FLOW_ANOMALY_MEMORY_LIMIT;
		if (f->anomaly_text == NULL)
			f->anomaly_text = "evicted: the flow table was full";
	}
	flow_end(an, &an->flows[victim], PDS_FLOW_TCP_EVICTED, ts);
}

static PdsFlow *
flow_create(PdsAnalyzer *an, const PdsPacket *pkt, guint32 hash, gboolean src_is_client, guint64 ts)
{
	PdsFlow *f;
	gint32 idx;
	guint32 i;

	if (an->n_used >= an->cfg.max_flows)
		evict_one(an, ts);
	if (an->free_head != NO_FLOW) {
		idx = an->free_head;
		an->free_head = an->flows[idx].lru_next;
	} else {
		idx = (gint32)an->n_fresh++;
	}
	f = &an->flows[idx];
	memset(f, 0, sizeof(*f));
	f->an = an;
	f->hash = hash;
	f->family = pkt->family;
	memcpy(f->addr[src_is_client ? 0 : 1], pkt->src, 16);
	memcpy(f->addr[src_is_client ? 1 : 0], pkt->dst, 16);
	f->port[src_is_client ? 0 : 1] = pkt->sport;
	f->port[src_is_client ? 1 : 0] = pkt->dport;
	f->stream_id = an->next_stream++;
	f->ts_first = ts;
	f->mem.total = &an->budget;
	f->mem.limit = an->cfg.max_flow_memory;
	lru_append(an, f);
	i = hash & an->mask;
	while (an->slots[i] != 0)
		i = (i + 1) & an->mask;
	an->slots[i] = (guint32)idx + 1;
	an->n_used++;
	an->stats.flows_created++;
	an->stats.flows_active = an->n_used;
	return f;
}

static PdsFlow *
flow_lookup(PdsAnalyzer *an, const PdsPacket *pkt, guint32 hash, guint *dir)
{
	guint32 i = hash & an->mask;

	while (an->slots[i] != 0) {
		PdsFlow *f = &an->flows[an->slots[i] - 1];
		if (f->hash == hash && f->family == pkt->family) {
			if (f->port[0] == pkt->sport && f->port[1] == pkt->dport &&
			    memcmp(f->addr[0], pkt->src, 16) == 0 &&
			    memcmp(f->addr[1], pkt->dst, 16) == 0) {
				*dir = 0;
				return f;
			}
			if (f->port[1] == pkt->sport && f->port[0] == pkt->dport &&
			    memcmp(f->addr[1], pkt->src, 16) == 0 &&
			    memcmp(f->addr[0], pkt->dst, 16) == 0) {
				*dir = 1;
				return f;
			}
		}
		i = (i + 1) & an->mask;
	}
	return NULL;
}

/*
 * Who is the client of a connection seen mid-stream: the content says it
 * when it can (a request, a ClientHello), else the side on the higher port.
 */
static gboolean
midstream_src_is_client(const PdsPacket *pkt)
{
	if (pkt->caplen > 0) {
		if (pds_http_sniff_request(pkt->payload, pkt->caplen) == 1)
			return TRUE;
		if (pds_http_sniff_response(pkt->payload, pkt->caplen) == 1)
			return FALSE;
		if (pds_tls_sniff(pkt->payload, pkt->caplen) == 1 && pkt->caplen > 5)
			return pkt->payload[5] == 1;
	}
	if (pkt->sport != pkt->dport)
		return pkt->sport > pkt->dport;
	return TRUE;
}

void
pds_analyzer_process(PdsAnalyzer *an,
		     guint linktype,
		     guint64 ts,
		     const guint8 *data,
		     guint32 caplen,
		     guint32 origlen)
{
	PdsPacket pkt;
	PdsFlow *f;
	guint32 hash;
	guint dir = 0;
	gboolean syn, ack;

	g_return_if_fail(an != NULL);
	g_return_if_fail(data != NULL || caplen == 0);

	an->stats.packets++;
	an->stats.bytes += origlen;
	if (ts >= an->next_expire_ns) {
		pds_analyzer_expire(an, ts);
		an->next_expire_ns = ts + G_GUINT64_CONSTANT(1000000000);
	}
	if (!decode(an, linktype, data, caplen, &pkt))
		return;
	an->stats.tcp_packets++;
	syn = (pkt.flags & TCP_SYN) != 0;
	ack = (pkt.flags & TCP_ACK) != 0;

	hash = endpoint_hash(pkt.src, pkt.sport) + endpoint_hash(pkt.dst, pkt.dport);
	f = flow_lookup(an, &pkt, hash, &dir);
	if (f != NULL && syn && !ack && dir == 0 && f->syn_seen && pkt.seq != f->client_isn) {
		/* The client's port is reused for a new connection. */
		flow_end(an, f, PDS_FLOW_TCP_CLOSED, ts);
		f = NULL;
	}
	if (f == NULL) {
		gboolean src_is_client;
		if (!syn && pkt.len == 0) {
			an->stats.ignored_packets++;
			return;
		}
		if (pkt.flags & TCP_RST) {
			an->stats.ignored_packets++;
			return;
		}
		if (syn)
			src_is_client = !ack;
		else
			src_is_client = midstream_src_is_client(&pkt);
		f = flow_create(an, &pkt, hash, src_is_client, ts);
		dir = src_is_client ? 0 : 1;
	}

	if (an->lru_tail != flow_index(an, f)) {
		lru_unlink(an, f);
		lru_append(an, f);
	}
	f->ts_last = ts;
	f->packets[dir]++;
	f->bytes[dir] += pkt.len;

	if (syn) {
		if (!ack && dir == 0) {
			if (!f->syn_seen) {
				f->syn_seen = TRUE;
				f->ts_syn = ts;
				f->client_isn = pkt.seq;
				pds_tcp_stream_syn(&f->stream[0], pkt.seq);
			} else {
				f->retransmissions++;
			}
		} else if (ack && dir == 1) {
			if (!f->synack_seen) {
				f->synack_seen = TRUE;
				f->ts_synack = ts;
				pds_tcp_stream_syn(&f->stream[1], pkt.seq);
			} else {
				f->retransmissions++;
			}
		}
	}
	if (pkt.flags & TCP_RST) {
		flow_end(an, f, PDS_FLOW_TCP_RESET, ts);
		return;
	}
	if (pkt.len > 0 || (pkt.flags & TCP_FIN)) {
		PdsTcpCtx ctx;
		ctx_init(&ctx, f, dir);
		pds_tcp_stream_segment(&f->stream[dir], &ctx, syn ? pkt.seq + 1 : pkt.seq,
				       pkt.payload, pkt.caplen, pkt.len, (pkt.flags & TCP_FIN) != 0,
				       ts);
	}
	if (ack && f->stream[!dir].init) {
		PdsTcpCtx ctx;
		ctx_init(&ctx, f, !dir);
		pds_tcp_stream_ack(&f->stream[!dir], &ctx, pkt.ack, ts);
	}
	if (f->stream[0].closed && f->stream[1].closed)
		flow_end(an, f, PDS_FLOW_TCP_CLOSED, ts);
}

void
pds_analyzer_expire(PdsAnalyzer *an, guint64 now)
{
	gint32 idx;
	guint64 shortest;

	g_return_if_fail(an != NULL);
	shortest = MIN(an->cfg.idle_timeout_ns, an->cfg.half_open_timeout_ns);
	idx = an->lru_head;
	while (idx != NO_FLOW) {
		PdsFlow *f = &an->flows[idx];
		gint32 next = f->lru_next;
		guint64 timeout;

		/* The list is in order of activity: past this point nothing is old enough. */
		if (f->ts_last + shortest > now)
			break;
		timeout = flow_is_half_open(f) ? an->cfg.half_open_timeout_ns
					       : an->cfg.idle_timeout_ns;
		if (f->ts_last + timeout <= now)
			flow_end(an, f, PDS_FLOW_TCP_TIMED_OUT, now);
		idx = next;
	}
}

void
pds_analyzer_flush(PdsAnalyzer *an)
{
	g_return_if_fail(an != NULL);
	while (an->lru_head != NO_FLOW) {
		PdsFlow *f = &an->flows[an->lru_head];
		flow_end(an, f, flow_live_state(f), f->ts_last);
	}
}

void
pds_analyzer_get_stats(const PdsAnalyzer *an, PdsAnalyzerStats *stats)
{
	g_return_if_fail(an != NULL && stats != NULL);
	*stats = an->stats;
	stats->flows_active = an->n_used;
	stats->memory_used = an->budget.used;
	stats->memory_peak = an->budget.peak;
	stats->memory_denied = an->budget.denied;
}

guint64
pds_analyzer_get_records(const PdsAnalyzer *an)
{
	return an->stats.records;
}

guint64
pds_analyzer_get_flows_active(const PdsAnalyzer *an)
{
	return an->n_used;
}

void
pds_analyzer_free(PdsAnalyzer *an)
{
	if (an == NULL)
		return;
	/* Without records: freeing is not an end of the flows the caller wants reported. */
	an->func = NULL;
	pds_analyzer_flush(an);
	g_free(an->flows);
	g_free(an->slots);
	g_free(an);
}
