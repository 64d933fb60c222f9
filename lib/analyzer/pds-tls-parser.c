/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TLS record and handshake reading (RFC 5246, RFC 8446) for flow summaries.
 * Nothing is decrypted: the hellos are plaintext, and completion is inferred
 * from record types as the header explains.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsAnalyzer"

#include <string.h>

#include "pds-record.h"
#include "pds-tls-parser.h"

/* Largest TLSCiphertext fragment (RFC 5246 6.2.3: 2^14 + 2048). */
#define REC_MAX (16384u + 2048u)
/* Largest hello we keep; real ones are a few hundred bytes to a few KB (post-quantum shares). */
#define HELLO_MAX (64u * 1024u)

#define CT_CHANGE_CIPHER_SPEC 20
#define CT_ALERT	      21
#define CT_HANDSHAKE	      22
#define CT_APPLICATION_DATA   23
#define CT_HEARTBEAT	      24

#define HS_CLIENT_HELLO 1
#define HS_SERVER_HELLO 2

#define EXT_SERVER_NAME	       0
#define EXT_ALPN	       16
#define EXT_SUPPORTED_VERSIONS 43

/* RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest. */
static const guint8 hrr_random[32] = {
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
	0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
	0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
};

typedef struct {
	guint8 hdr[5];
	guint hdr_have;
	guint8 rec_type;
	guint32 rec_left;
	guint8 hs_hdr[4];
	guint hs_have;
	guint8 hs_type;
	guint32 hs_left;
	guint8 *hs_buf;
	guint32 hs_len;
	guint32 hs_alloc;
	gboolean ccs;	   /* sent ChangeCipherSpec */
	gboolean finished; /* sent an encrypted handshake record after its CCS (TLS <= 1.2) */
	gboolean dead;
	gboolean resync; /* mid-stream: wait for a segment that starts with a record */
} PdsTlsDir;

struct _PdsTlsParser {
	PdsFlowMem *mem;
	PdsTlsHandshakeFunc func;
	gpointer user_data;
	PdsTlsDir dir[2];
	PdsTlsHandshakeInfo info;
	guint32 anomalies;
	const char *anomaly_text;
};

static void
mark(PdsTlsParser *conn, guint32 anomaly, const char *text)
{
	conn->anomalies |= anomaly;
	if (conn->anomaly_text == NULL)
		conn->anomaly_text = text;
}

static void
hs_buf_free(PdsTlsParser *conn, PdsTlsDir *dir)
{
	if (dir->hs_buf == NULL)
		return;
	pds_flow_mem_give(conn->mem, dir->hs_alloc);
	g_clear_pointer(&dir->hs_buf, g_free);
	dir->hs_alloc = 0;
	dir->hs_len = 0;
}

static void
dir_fail(PdsTlsParser *conn, guint d, guint32 anomaly, const char *text)
{
	mark(conn, anomaly, text);
	hs_buf_free(conn, &conn->dir[d]);
	conn->dir[d].dead = TRUE;
}

PdsTlsParser *
pds_tls_parser_new(PdsFlowMem *mem, PdsTlsHandshakeFunc func, gpointer user_data)
{
	PdsTlsParser *conn;

	g_return_val_if_fail(mem != NULL, NULL);
	conn = g_new0(PdsTlsParser, 1);
	conn->mem = mem;
	conn->func = func;
	conn->user_data = user_data;
	return conn;
}

void
pds_tls_parser_free(PdsTlsParser *conn)
{
	if (conn == NULL)
		return;
	for (guint d = 0; d < 2; d++)
		hs_buf_free(conn, &conn->dir[d]);
	g_free(conn);
}

const PdsTlsHandshakeInfo *
pds_tls_parser_get_info(const PdsTlsParser *conn)
{
	return &conn->info;
}

guint32
pds_tls_parser_get_anomalies(const PdsTlsParser *conn, const char **text)
{
	if (text != NULL)
		*text = conn->anomaly_text;
	return conn->anomalies;
}

int
pds_tls_sniff(const guint8 *data, gsize len)
{
	if (len >= 1 && data[0] != CT_HANDSHAKE)
		return 0;
	if (len >= 2 && data[1] != 3)
		return 0;
	if (len >= 3 && data[2] > 4)
		return 0;
	if (len >= 6 && data[5] != HS_CLIENT_HELLO && data[5] != HS_SERVER_HELLO)
		return 0;
	return len >= 6 ? 1 : -1;
}

int
pds_tls_sniff_record(const guint8 *data, gsize len)
{
	if (len < 5)
		return len > 0 && (data[0] < CT_CHANGE_CIPHER_SPEC || data[0] > CT_HEARTBEAT) ? 0
											      : -1;
	if (data[0] < CT_CHANGE_CIPHER_SPEC || data[0] > CT_HEARTBEAT || data[1] != 3 ||
	    data[2] > 4 || (guint)((data[3] << 8) | data[4]) > REC_MAX)
		return 0;
	return 1;
}

void
pds_tls_parser_set_midstream(PdsTlsParser *conn)
{
	g_return_if_fail(conn != NULL);
	for (guint d = 0; d < 2; d++) {
		if (conn->dir[d].hdr_have == 0)
			conn->dir[d].resync = TRUE;
	}
}

/* Bounds-checked reading of a hello message. */
typedef struct {
	const guint8 *p;
	const guint8 *end;
	gboolean bad;
} PdsTlsReader;

static guint
rd_u8(PdsTlsReader *r)
{
	if (r->bad || r->end - r->p < 1) {
		r->bad = TRUE;
		return 0;
	}
	return *r->p++;
}

static guint
rd_u16(PdsTlsReader *r)
{
	guint v;
	if (r->bad || r->end - r->p < 2) {
		r->bad = TRUE;
		return 0;
	}
	v = (r->p[0] << 8) | r->p[1];
	r->p += 2;
	return v;
}

/* A sub-reader over the next @len bytes, which are skipped in @r. */
static PdsTlsReader
rd_sub(PdsTlsReader *r, gsize len)
{
	PdsTlsReader sub = {r->p, r->p, TRUE};
	if (r->bad || (gsize)(r->end - r->p) < len) {
		r->bad = TRUE;
		return sub;
	}
	sub.end = r->p + len;
	sub.bad = FALSE;
	r->p += len;
	return sub;
}

static void
copy_name(char *dst, gsize dst_size, const guint8 *src, gsize len)
{
	/* Names end up in JSON and text: keep printable ASCII, replace the rest. */
	len = MIN(len, dst_size - 1);
	for (gsize i = 0; i < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[len] = '\0';
}

static gboolean
parse_extensions(PdsTlsParser *conn, PdsTlsReader *r, gboolean client, guint16 *selected_version)
{
	PdsTlsHandshakeInfo *info = &conn->info;
	PdsTlsReader exts;

	if (r->p == r->end)
		return TRUE; /* no extensions at all (old clients) */
	exts = rd_sub(r, rd_u16(r));
	while (!exts.bad && exts.p < exts.end) {
		guint type = rd_u16(&exts);
		PdsTlsReader ext = rd_sub(&exts, rd_u16(&exts));
		if (exts.bad)
			break;
		if (type == EXT_SERVER_NAME && client) {
			PdsTlsReader list = rd_sub(&ext, rd_u16(&ext));
			while (!list.bad && list.p < list.end) {
				guint name_type = rd_u8(&list);
				PdsTlsReader name = rd_sub(&list, rd_u16(&list));
				if (!list.bad && name_type == 0 && info->sni[0] == '\0')
					copy_name(info->sni, sizeof(info->sni), name.p,
						  name.end - name.p);
			}
			if (list.bad)
				return FALSE;
		} else if (type == EXT_ALPN) {
			PdsTlsReader list = rd_sub(&ext, rd_u16(&ext));
			if (client)
				info->n_alpn_offered = 0;
			while (!list.bad && list.p < list.end) {
				PdsTlsReader proto = rd_sub(&list, rd_u8(&list));
				if (list.bad)
					break;
				if (client && info->n_alpn_offered < PDS_TLS_MAX_ALPN)
					copy_name(info->alpn_offered[info->n_alpn_offered++],
						  sizeof(info->alpn_offered[0]), proto.p,
						  proto.end - proto.p);
				else if (!client)
					copy_name(info->alpn, sizeof(info->alpn), proto.p,
						  proto.end - proto.p);
			}
			if (list.bad)
				return FALSE;
		} else if (type == EXT_SUPPORTED_VERSIONS) {
			if (client) {
				PdsTlsReader list = rd_sub(&ext, rd_u8(&ext));
				info->n_client_versions = 0;
				while (!list.bad && list.p + 1 < list.end &&
				       info->n_client_versions < PDS_TLS_MAX_VERSIONS)
					info->client_versions[info->n_client_versions++] =
						rd_u16(&list);
				if (list.bad)
					return FALSE;
			} else {
				*selected_version = rd_u16(&ext);
				if (ext.bad)
					return FALSE;
			}
		}
	}
	return !exts.bad;
}

static void
parse_client_hello(PdsTlsParser *conn, const guint8 *p, gsize len, guint64 ts)
{
	PdsTlsReader r = {p, p + len, FALSE};
	guint16 unused = 0;

	if (!conn->info.client_hello)
		conn->info.ts_client_hello = ts;
	conn->info.client_hello = TRUE;
	rd_u16(&r);		/* legacy_version */
	rd_sub(&r, 32);		/* random */
	rd_sub(&r, rd_u8(&r));	/* session id */
	rd_sub(&r, rd_u16(&r)); /* cipher suites */
	rd_sub(&r, rd_u8(&r));	/* compression methods */
	if (r.bad || !parse_extensions(conn, &r, TRUE, &unused))
		mark(conn, PDS_FLOW_ANOMALY_TLS_MALFORMED, "malformed TLS ClientHello");
}

static void
parse_server_hello(PdsTlsParser *conn, const guint8 *p, gsize len)
{
	PdsTlsReader r = {p, p + len, FALSE};
	PdsTlsReader random;
	guint16 legacy, selected = 0, cipher;

	legacy = rd_u16(&r);
	random = rd_sub(&r, 32);
	rd_sub(&r, rd_u8(&r)); /* session id echo */
	cipher = rd_u16(&r);
	rd_u8(&r); /* compression */
	if (r.bad || !parse_extensions(conn, &r, FALSE, &selected)) {
		mark(conn, PDS_FLOW_ANOMALY_TLS_MALFORMED, "malformed TLS ServerHello");
		return;
	}
	conn->info.cipher = cipher;
	conn->info.version = selected != 0 ? selected : legacy;
	if (memcmp(random.p, hrr_random, 32) == 0) {
		conn->info.hrr = TRUE; /* the real ServerHello follows a second ClientHello */
		return;
	}
	conn->info.server_hello = TRUE;
}

static void
set_done(PdsTlsParser *conn, guint64 ts)
{
	if (conn->info.done)
		return;
	conn->info.done = TRUE;
	conn->info.ts_done = ts;
	if (conn->func != NULL)
		conn->func(&conn->info, conn->user_data);
}

static gboolean
is_tls13(const PdsTlsParser *conn)
{
	return conn->info.version >= 0x0304 && conn->info.version < 0x0400;
}

/* Handshake records after a CCS are encrypted, except in TLS 1.3 (compatibility CCS). */
static gboolean
handshake_encrypted(const PdsTlsParser *conn, const PdsTlsDir *dir)
{
	return dir->ccs && !is_tls13(conn);
}

static void
record_start(PdsTlsParser *conn, guint d, guint64 ts)
{
	PdsTlsDir *dir = &conn->dir[d];
	PdsTlsHandshakeInfo *info = &conn->info;

	switch (dir->rec_type) {
	case CT_CHANGE_CIPHER_SPEC:
		dir->ccs = TRUE;
		break;
	case CT_HANDSHAKE:
		if (handshake_encrypted(conn, dir)) {
			dir->finished = TRUE;
			if (conn->dir[0].finished && conn->dir[1].finished)
				set_done(conn, ts);
		}
		break;
	case CT_APPLICATION_DATA:
		if (info->done) {
			info->encrypted_bytes[d] += dir->rec_left;
		} else if (is_tls13(conn) && info->server_hello) {
			if (d == 0)
				set_done(conn, ts); /* the client's Finished */
		} else {
			/* Application data before any handshake we understood. */
			info->encrypted_bytes[d] += dir->rec_left;
		}
		break;
	default:
		break;
	}
}

static void
hs_message_done(PdsTlsParser *conn, guint d, guint64 ts)
{
	PdsTlsDir *dir = &conn->dir[d];

	if (dir->hs_buf != NULL) {
		if (dir->hs_type == HS_CLIENT_HELLO)
			parse_client_hello(conn, dir->hs_buf, dir->hs_len, ts);
		else
			parse_server_hello(conn, dir->hs_buf, dir->hs_len);
	}
	hs_buf_free(conn, dir);
	dir->hs_have = 0;
}

static void
hs_feed(PdsTlsParser *conn, guint d, const guint8 *data, gsize len, guint64 ts)
{
	PdsTlsDir *dir = &conn->dir[d];

	while (len > 0 && !dir->dead) {
		gsize n;
		if (dir->hs_have < 4) {
			n = MIN(4 - dir->hs_have, len);
			memcpy(dir->hs_hdr + dir->hs_have, data, n);
			dir->hs_have += n;
			data += n;
			len -= n;
			if (dir->hs_have < 4)
				return;
			dir->hs_type = dir->hs_hdr[0];
			dir->hs_left =
				(dir->hs_hdr[1] << 16) | (dir->hs_hdr[2] << 8) | dir->hs_hdr[3];
			dir->hs_len = 0;
			if ((dir->hs_type == HS_CLIENT_HELLO && d == 0) ||
			    (dir->hs_type == HS_SERVER_HELLO && d == 1)) {
				if (dir->hs_left > HELLO_MAX) {
					dir_fail(conn, d, PDS_FLOW_ANOMALY_TLS_MALFORMED,
						 "TLS hello message larger than any real one");
					return;
				}
				if (pds_flow_mem_take(conn->mem, dir->hs_left)) {
					dir->hs_buf = g_malloc(MAX(dir->hs_left, 1u));
					dir->hs_alloc = dir->hs_left;
				} else {
					mark(conn, PDS_FLOW_ANOMALY_MEMORY_LIMIT,
					     "memory limit reached: TLS hello not read");
				}
			}
			if (dir->hs_left == 0) {
				hs_message_done(conn, d, ts);
				continue;
			}
		}
		n = MIN(dir->hs_left, len);
		if (dir->hs_buf != NULL) {
			memcpy(dir->hs_buf + dir->hs_len, data, n);
			dir->hs_len += n;
		}
		dir->hs_left -= n;
		data += n;
		len -= n;
		if (dir->hs_left == 0)
			hs_message_done(conn, d, ts);
	}
}

void
pds_tls_parser_data(PdsTlsParser *conn, guint d, const guint8 *data, gsize len, guint64 ts)
{
	PdsTlsDir *dir;

	g_return_if_fail(conn != NULL && d < 2);
	dir = &conn->dir[d];

	if (dir->resync) {
		if (pds_tls_sniff_record(data, len) != 1)
			return;
		dir->resync = FALSE;
	}
	while (len > 0 && !dir->dead) {
		gsize n;
		if (dir->hdr_have < 5) {
			guint32 rec_len;
			n = MIN(5 - dir->hdr_have, len);
			memcpy(dir->hdr + dir->hdr_have, data, n);
			dir->hdr_have += n;
			data += n;
			len -= n;
			if (dir->hdr_have < 5)
				return;
			rec_len = (dir->hdr[3] << 8) | dir->hdr[4];
			if (dir->hdr[0] < CT_CHANGE_CIPHER_SPEC || dir->hdr[0] > CT_HEARTBEAT ||
			    dir->hdr[1] != 3 || dir->hdr[2] > 4 || rec_len > REC_MAX ||
			    (rec_len == 0 && dir->hdr[0] != CT_APPLICATION_DATA)) {
				dir_fail(conn, d, PDS_FLOW_ANOMALY_TLS_MALFORMED,
					 "invalid TLS record header");
				return;
			}
			dir->rec_type = dir->hdr[0];
			dir->rec_left = rec_len;
			record_start(conn, d, ts);
			if (dir->rec_left == 0) {
				dir->hdr_have = 0;
				continue;
			}
		}
		n = MIN(dir->rec_left, len);
		if (dir->rec_type == CT_HANDSHAKE && !handshake_encrypted(conn, dir))
			hs_feed(conn, d, data, n, ts);
		dir->rec_left -= n;
		data += n;
		len -= n;
		if (dir->rec_left == 0)
			dir->hdr_have = 0;
	}
}

void
pds_tls_parser_gap(PdsTlsParser *conn, guint d, guint64 len)
{
	PdsTlsDir *dir;

	g_return_if_fail(conn != NULL && d < 2);
	dir = &conn->dir[d];
	if (dir->dead)
		return;
	mark(conn, PDS_FLOW_ANOMALY_GAP, "bytes missing from the capture");
	/* Inside a record we can skip: its length says where the next one starts. */
	if (dir->hdr_have == 5 && len <= dir->rec_left) {
		if (dir->rec_type == CT_HANDSHAKE && !handshake_encrypted(conn, dir) &&
		    dir->hs_have > 0) {
			if (dir->hs_have < 4 || len > dir->hs_left) {
				dir_fail(conn, d, PDS_FLOW_ANOMALY_GAP,
					 "bytes missing inside a TLS handshake message");
				return;
			}
			/* The hello lost part of itself: drop it rather than misread it. */
			hs_buf_free(conn, dir);
			dir->hs_left -= len;
			if (dir->hs_left == 0)
				dir->hs_have = 0;
		}
		dir->rec_left -= len;
		if (dir->rec_left == 0)
			dir->hdr_have = 0;
		return;
	}
	dir_fail(conn, d, PDS_FLOW_ANOMALY_GAP, "bytes missing across TLS record boundaries");
}
