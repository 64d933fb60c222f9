/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Incremental HTTP/1.1 parser for one TCP connection, both directions.
 * Data arrives in order per direction (from reassembly) in pieces of any
 * size; requests are queued so pipelined responses pair with them in order.
 * A message's header block is copied once (bounded by max_header_bytes) and
 * parsed in place; bodies are never copied beyond the kept prefix.
 */
#pragma once

#include <glib.h>

#include "pds-analyzer-mem.h"

G_BEGIN_DECLS

#define PDS_HTTP_MAX_HEADERS 64
#define PDS_HTTP_MAX_INTERIM 4

/* A piece of a message's header block: offset and length into head. */
typedef struct {
	guint32 off;
	guint32 len;
} PdsHttpSpan;

typedef struct {
	guint8 *head; /* header block as received, up to and without the empty line */
	guint32 head_len;
	guint32 head_alloc;
	gboolean is_request;
	PdsHttpSpan method, uri, version, reason, host;
	guint16 status;
	PdsHttpSpan headers[PDS_HTTP_MAX_HEADERS]; /* whole "Name: value" lines */
	guint n_headers;
	guint16 interim[PDS_HTTP_MAX_INTERIM]; /* 1xx answers before the final one */
	guint n_interim;
	guint8 *body; /* the first body bytes (decoded), up to the configured prefix */
	guint32 body_kept;
	guint64 body_len;
	guint64 content_length;
	guint64 ts_first; /* first byte of the message */
	guint64 ts_last;  /* last byte of the message */
	guint32 index;	  /* 0-based position on the connection */
	guint32 anomalies;
	gboolean has_content_length;
	gboolean chunked;
	gboolean upgrade;  /* request asked for Upgrade (or CONNECT) */
	gboolean complete; /* the whole message was seen */
	gboolean body_gap; /* part of the body was never captured */
} PdsHttpMessage;

typedef struct {
	/* Either may be NULL: a request never answered, or a response whose request was not seen.
	 */
	const PdsHttpMessage *request;
	const PdsHttpMessage *response;
	guint64 ts; /* when the exchange ended (last byte seen, or connection end) */
	guint32 anomalies;
	const char *anomaly_text;
} PdsHttpExchange;

typedef void (*PdsHttpExchangeFunc)(const PdsHttpExchange *exchange, gpointer user_data);

typedef struct {
	guint32 max_header_bytes;
	guint32 body_prefix_bytes;
	guint32 max_pipeline; /* requests waiting for their response */
} PdsHttpLimits;

typedef struct _PdsHttpConn PdsHttpConn;

/* dir 0 = client to server, 1 = server to client, everywhere below. */
PdsHttpConn *pds_http_conn_new(const PdsHttpLimits *limits,
			       PdsFlowMem *mem,
			       PdsHttpExchangeFunc func,
			       gpointer user_data);
void pds_http_conn_free(PdsHttpConn *conn);
void pds_http_conn_data(PdsHttpConn *conn, guint dir, const guint8 *data, gsize len, guint64 ts);
/* @len bytes were lost in @dir: skipped inside a body of known length, else resynchronise. */
void pds_http_conn_gap(PdsHttpConn *conn, guint dir, guint64 len);
/* The direction ended (FIN delivered in order): ends a close-delimited body. */
void pds_http_conn_fin(PdsHttpConn *conn, guint dir, guint64 ts);
/* Connection end: reports what is pending (unanswered requests, partial responses). */
void pds_http_conn_finish(PdsHttpConn *conn, guint64 ts);
/*
 * The capture started inside the connection: each direction waits for a
 * segment that begins with a message before it parses anything.
 */
void pds_http_conn_set_midstream(PdsHttpConn *conn);
/* PdsFlowAnomaly bits seen on the connection so far, and a text for the first. */
guint32 pds_http_conn_get_anomalies(const PdsHttpConn *conn, const char **text);
/* TRUE once the connection switched protocols (101, CONNECT) or parsing gave up. */
gboolean pds_http_conn_is_done(const PdsHttpConn *conn);
guint32 pds_http_conn_get_n_exchanges(const PdsHttpConn *conn);

/* Quick test of the first bytes of a direction: 1 = looks like HTTP, 0 = no, -1 = need more. */
int pds_http_sniff_request(const guint8 *data, gsize len);
int pds_http_sniff_response(const guint8 *data, gsize len);

G_END_DECLS
