/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* HTTP/1.1 parser: framing, pairing and every kind of bad input, fed in all splits. */
#include "config.h"

#define G_LOG_DOMAIN "PdsTest"

#include <string.h>

#include "pds-http-parser.h"
#include "pds-record.h"
#include "pds-text.h"

typedef struct {
	gchar *method;
	gchar *uri;
	gchar *host;
	guint status;
	guint64 req_body_len;
	guint64 resp_body_len;
	gchar *resp_body;
	guint n_interim;
	guint16 interim0;
	guint n_req_headers;
	guint n_resp_headers;
	guint32 anomalies;
	guint32 index;
	gboolean resp_gap;
} Exchange;

typedef struct {
	PdsMemBudget budget;
	PdsFlowMem mem;
	PdsHttpConn *conn;
	GArray *ex; /* of Exchange */
} Fixture;

static gchar *
span_dup(const PdsHttpMessage *m, PdsHttpSpan s)
{
	return s.len > 0 ? g_strndup((const char *)m->head + s.off, s.len) : NULL;
}

static void
on_exchange(const PdsHttpExchange *ex, gpointer user_data)
{
	Fixture *fx = user_data;
	Exchange e = {0};

	if (ex->request != NULL) {
		e.method = span_dup(ex->request, ex->request->method);
		e.uri = span_dup(ex->request, ex->request->uri);
		e.host = span_dup(ex->request, ex->request->host);
		e.req_body_len = ex->request->body_len;
		e.n_interim = ex->request->n_interim;
		e.interim0 = ex->request->interim[0];
		e.n_req_headers = ex->request->n_headers;
		e.index = ex->request->index;
	}
	if (ex->response != NULL) {
		e.status = ex->response->status;
		e.resp_body_len = ex->response->body_len;
		e.resp_body = g_strndup((const char *)ex->response->body, ex->response->body_kept);
		e.n_resp_headers = ex->response->n_headers;
		e.resp_gap = ex->response->body_gap;
	}
	e.anomalies = ex->anomalies;
	g_array_append_val(fx->ex, e);
}

static void
exchange_clear(gpointer p)
{
	Exchange *e = p;
	g_free(e->method);
	g_free(e->uri);
	g_free(e->host);
	g_free(e->resp_body);
}

static void
fixture_init(Fixture *fx, guint32 max_header, guint32 body_prefix, gsize flow_limit)
{
	PdsHttpLimits limits = {max_header, body_prefix, 8};

	memset(fx, 0, sizeof(*fx));
	fx->budget.limit = 64 * 1024 * 1024;
	fx->mem.total = &fx->budget;
	fx->mem.limit = flow_limit;
	fx->ex = g_array_new(FALSE, TRUE, sizeof(Exchange));
	g_array_set_clear_func(fx->ex, exchange_clear);
	fx->conn = pds_http_conn_new(&limits, &fx->mem, on_exchange, fx);
}

static void
fixture_clear(Fixture *fx)
{
	pds_http_conn_free(fx->conn);
	/* Every byte the parser took from its allowance came back. */
	g_assert_cmpuint(fx->mem.used, ==, 0);
	g_assert_cmpuint(fx->budget.used, ==, 0);
	g_array_unref(fx->ex);
}

/* Feeds @text in pieces of @piece bytes (0: all at once). */
static void
feed(Fixture *fx, guint dir, const char *text, gsize piece, guint64 ts)
{
	gsize len = strlen(text);
	if (piece == 0)
		piece = len;
	for (gsize off = 0; off < len; off += piece)
		pds_http_conn_data(fx->conn, dir, (const guint8 *)text + off, MIN(piece, len - off),
				   ts);
}

static const gsize splits[] = {0, 1, 2, 3, 7, 64};

static void
test_simple_get(void)
{
	for (guint s = 0; s < G_N_ELEMENTS(splits); s++) {
		Fixture fx;
		Exchange *e;
		fixture_init(&fx, 16384, 1024, 1 << 20);
		feed(&fx, 0, "GET /a/b?c=d HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n\r\n",
		     splits[s], 10);
		g_assert_cmpuint(fx.ex->len, ==, 0);
		feed(&fx, 1,
		     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: "
		     "text/plain\r\n\r\nhello",
		     splits[s], 20);
		g_assert_cmpuint(fx.ex->len, ==, 1);
		e = &g_array_index(fx.ex, Exchange, 0);
		g_assert_cmpstr(e->method, ==, "GET");
		g_assert_cmpstr(e->uri, ==, "/a/b?c=d");
		g_assert_cmpstr(e->host, ==, "example.test");
		g_assert_cmpuint(e->status, ==, 200);
		g_assert_cmpuint(e->resp_body_len, ==, 5);
		g_assert_cmpstr(e->resp_body, ==, "hello");
		g_assert_cmpuint(e->n_req_headers, ==, 2);
		g_assert_cmpuint(e->n_resp_headers, ==, 2);
		g_assert_cmpuint(e->anomalies, ==, 0);
		fixture_clear(&fx);
	}
}

static void
test_chunked(void)
{
	for (guint s = 0; s < G_N_ELEMENTS(splits); s++) {
		Fixture fx;
		Exchange *e;
		fixture_init(&fx, 16384, 8, 1 << 20);
		feed(&fx, 0, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", splits[s], 1);
		feed(&fx, 1,
		     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
		     "5;ext=1\r\nhello\r\n"
		     "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
		     "0\r\nX-Trailer: yes\r\n\r\n",
		     splits[s], 2);
		g_assert_cmpuint(fx.ex->len, ==, 1);
		e = &g_array_index(fx.ex, Exchange, 0);
		g_assert_cmpuint(e->status, ==, 200);
		g_assert_cmpuint(e->resp_body_len, ==, 31);
		/* only the configured prefix of the decoded body */
		g_assert_cmpstr(e->resp_body, ==, "helloabc");
		g_assert_cmpuint(e->anomalies, ==, 0);
		fixture_clear(&fx);
	}
}

static void
test_no_body_responses(void)
{
	Fixture fx;
	fixture_init(&fx, 16384, 1024, 1 << 20);
	/* HEAD: Content-Length describes the GET it stands for; no body follows. */
	feed(&fx, 0, "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1);
	feed(&fx, 1, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 0, 2);
	feed(&fx, 0, "GET /y HTTP/1.1\r\nHost: h\r\n\r\n", 0, 3);
	feed(&fx, 1, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", 0, 4);
	feed(&fx, 0, "GET /z HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"a\"\r\n\r\n", 0, 5);
	feed(&fx, 1, "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n", 0, 6);
	feed(&fx, 0, "GET /w HTTP/1.1\r\nHost: h\r\n\r\n", 0, 7);
	feed(&fx, 1, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, 8);
	g_assert_cmpuint(fx.ex->len, ==, 4);
	g_assert_cmpuint(g_array_index(fx.ex, Exchange, 0).status, ==, 200);
	g_assert_cmpuint(g_array_index(fx.ex, Exchange, 0).resp_body_len, ==, 0);
	g_assert_cmpuint(g_array_index(fx.ex, Exchange, 1).status, ==, 204);
	g_assert_cmpuint(g_array_index(fx.ex, Exchange, 2).status, ==, 304);
	g_assert_cmpstr(g_array_index(fx.ex, Exchange, 3).uri, ==, "/w");
	g_assert_cmpstr(g_array_index(fx.ex, Exchange, 3).resp_body, ==, "ok");
	fixture_clear(&fx);
}

static void
test_pipelining(void)
{
	for (guint s = 0; s < G_N_ELEMENTS(splits); s++) {
		Fixture fx;
		fixture_init(&fx, 16384, 1024, 1 << 20);
		feed(&fx, 0,
		     "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
		     "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
		     "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n",
		     splits[s], 1);
		g_assert_cmpuint(fx.ex->len, ==, 0);
		feed(&fx, 1,
		     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
		     "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
		     "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nCC",
		     splits[s], 2);
		g_assert_cmpuint(fx.ex->len, ==, 3);
		g_assert_cmpstr(g_array_index(fx.ex, Exchange, 0).uri, ==, "/1");
		g_assert_cmpuint(g_array_index(fx.ex, Exchange, 0).status, ==, 200);
		g_assert_cmpuint(g_array_index(fx.ex, Exchange, 0).index, ==, 0);
		g_assert_cmpstr(g_array_index(fx.ex, Exchange, 1).method, ==, "POST");
		g_assert_cmpuint(g_array_index(fx.ex, Exchange, 1).req_body_len, ==, 3);
		g_assert_cmpuint(g_array_index(fx.ex, Exchange, 1).status, ==, 201);
		g_assert_cmpuint(g_array_index(fx.ex, Exchange, 1).index, ==, 1);
		g_assert_cmpstr(g_array_index(fx.ex, Exchange, 2).uri, ==, "/3");
		g_assert_cmpuint(g_array_index(fx.ex, Exchange, 2).status, ==, 404);
		fixture_clear(&fx);
	}
}

static void
test_continue(void)
{
	Fixture fx;
	Exchange *e;
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0,
	     "PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", 0,
	     1);
	feed(&fx, 1, "HTTP/1.1 100 Continue\r\n\r\n", 0, 2);
	g_assert_cmpuint(fx.ex->len, ==, 0);
	feed(&fx, 0, "data", 0, 3);
	feed(&fx, 1, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 0, 4);
	g_assert_cmpuint(fx.ex->len, ==, 1);
	e = &g_array_index(fx.ex, Exchange, 0);
	g_assert_cmpuint(e->status, ==, 201);
	g_assert_cmpuint(e->n_interim, ==, 1);
	g_assert_cmpuint(e->interim0, ==, 100);
	g_assert_cmpuint(e->req_body_len, ==, 4);
	fixture_clear(&fx);
}

static void
test_upgrade(void)
{
	Fixture fx;
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0,
	     "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0,
	     1);
	feed(&fx, 1, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
	     0, 2);
	g_assert_cmpuint(fx.ex->len, ==, 1);
	g_assert_cmpuint(g_array_index(fx.ex, Exchange, 0).status, ==, 101);
	g_assert_true(pds_http_conn_is_done(fx.conn));
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) & PDS_FLOW_ANOMALY_UPGRADED);
	/* WebSocket frames afterwards are not HTTP and must not be reported as broken HTTP. */
	feed(&fx, 0, "\x81\x85garbage", 0, 3);
	g_assert_false(pds_http_conn_get_anomalies(fx.conn, NULL) &
		       PDS_FLOW_ANOMALY_HTTP_MALFORMED);
	pds_http_conn_finish(fx.conn, 4);
	g_assert_cmpuint(fx.ex->len, ==, 1);
	fixture_clear(&fx);
}

static void
test_close_delimited(void)
{
	Fixture fx;
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "GET / HTTP/1.0\r\n\r\n", 0, 1);
	feed(&fx, 1, "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nsome body", 0, 2);
	feed(&fx, 1, " continues", 0, 3);
	g_assert_cmpuint(fx.ex->len, ==, 0);
	pds_http_conn_fin(fx.conn, 1, 4);
	g_assert_cmpuint(fx.ex->len, ==, 1);
	g_assert_cmpuint(g_array_index(fx.ex, Exchange, 0).resp_body_len, ==, 19);
	fixture_clear(&fx);
}

static void
test_unanswered_at_end(void)
{
	Fixture fx;
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1);
	feed(&fx, 1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, 2);
	g_assert_cmpuint(fx.ex->len, ==, 1);
	pds_http_conn_finish(fx.conn, 3);
	g_assert_cmpuint(fx.ex->len, ==, 2);
	g_assert_cmpstr(g_array_index(fx.ex, Exchange, 1).uri, ==, "/b");
	g_assert_cmpuint(g_array_index(fx.ex, Exchange, 1).status, ==, 0);
	fixture_clear(&fx);
}

static void
test_huge_headers(void)
{
	Fixture fx;
	g_autoptr(GString) req = g_string_new("GET / HTTP/1.1\r\nHost: h\r\n");
	fixture_init(&fx, 4096, 1024, 1 << 20);
	for (guint i = 0; i < 2000; i++)
		g_string_append_printf(req, "X-Filler-%u: %s\r\n", i,
				       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	g_string_append(req, "\r\n");
	feed(&fx, 0, req->str, 1460, 1);
	/* Bounded: never more than the limit held, the flow says why it stopped. */
	g_assert_cmpuint(fx.budget.peak, <=, 4096 + sizeof(PdsHttpMessage));
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) &
		      PDS_FLOW_ANOMALY_HTTP_HEADERS_TOO_LARGE);
	g_assert_true(pds_http_conn_is_done(fx.conn));
	fixture_clear(&fx);

	/* One endless header line without any newline. */
	fixture_init(&fx, 4096, 1024, 1 << 20);
	feed(&fx, 0, "GET / HTTP/1.1\r\nX: ", 0, 1);
	for (guint i = 0; i < 1000; i++)
		feed(&fx, 0, "abcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefgh", 0, 1);
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) &
		      PDS_FLOW_ANOMALY_HTTP_HEADERS_TOO_LARGE);
	fixture_clear(&fx);

	/* The per-flow allowance is smaller than the header limit: memory wins. */
	fixture_init(&fx, 65536, 1024, 2048);
	feed(&fx, 0, req->str, 1460, 1);
	g_assert_cmpuint(fx.budget.peak, <=, 2048);
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) & PDS_FLOW_ANOMALY_MEMORY_LIMIT);
	fixture_clear(&fx);
}

static void
test_bad_chunks(void)
{
	static const char *const bodies[] = {
		"zz\r\nhello\r\n0\r\n\r\n",	       /* not hex */
		"fffffffffffffffff\r\nx\r\n0\r\n\r\n", /* 17 digits: overflow */
		"5\r\nhelloXX\r\n0\r\n\r\n",	       /* data longer than its size */
		"\r\nhello\r\n",		       /* no size at all */
		"-5\r\nhello\r\n",		       /* negative */
		"5\rX\nhello\r\n",		       /* CR not followed by LF */
	};
	for (guint i = 0; i < G_N_ELEMENTS(bodies); i++) {
		Fixture fx;
		g_autofree gchar *resp = g_strdup_printf(
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s", bodies[i]);
		fixture_init(&fx, 16384, 1024, 1 << 20);
		feed(&fx, 0, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1);
		feed(&fx, 1, resp, 1, 2);
		g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) &
			      PDS_FLOW_ANOMALY_HTTP_BAD_CHUNK);
		/* The request is still reported at the end, marked. */
		pds_http_conn_finish(fx.conn, 3);
		g_assert_cmpuint(fx.ex->len, ==, 1);
		fixture_clear(&fx);
	}
	{
		/* An endless chunk-size line is cut at a fixed length. */
		Fixture fx;
		fixture_init(&fx, 16384, 1024, 1 << 20);
		feed(&fx, 0, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1);
		feed(&fx, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;", 0, 2);
		for (guint i = 0; i < 200; i++)
			feed(&fx, 1, "extextextextextextextextextextextext", 0, 3);
		g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) &
			      PDS_FLOW_ANOMALY_HTTP_BAD_CHUNK);
		fixture_clear(&fx);
	}
}

static void
test_header_injection(void)
{
	Fixture fx;
	Exchange *e;

	/* A bare CR inside a value hides a second header from naive readers. */
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rSet-Cookie: evil=1\r\n\r\n", 0, 1);
	feed(&fx, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 2);
	g_assert_cmpuint(fx.ex->len, ==, 1);
	e = &g_array_index(fx.ex, Exchange, 0);
	g_assert_true(e->anomalies & PDS_FLOW_ANOMALY_HTTP_MALFORMED);
	g_assert_cmpuint(e->status, ==, 200);
	fixture_clear(&fx);

	/* Space before the colon, a line without a colon, obsolete folding. */
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "GET / HTTP/1.1\r\nHost : h\r\nNoColonHere\r\nX-B: one\r\n  folded\r\n\r\n", 0,
	     1);
	feed(&fx, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 2);
	g_assert_cmpuint(fx.ex->len, ==, 1);
	e = &g_array_index(fx.ex, Exchange, 0);
	g_assert_true(e->anomalies & PDS_FLOW_ANOMALY_HTTP_MALFORMED);
	g_assert_cmpuint(e->n_req_headers, ==, 1); /* only X-B is a valid header */
	fixture_clear(&fx);

	/* Smuggling: conflicting lengths stop the parse rather than guess. */
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0,
	     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc", 0,
	     1);
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) & PDS_FLOW_ANOMALY_HTTP_MALFORMED);
	g_assert_true(pds_http_conn_is_done(fx.conn));
	fixture_clear(&fx);

	/* Content-Length that is not a number. */
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\nabc", 0, 1);
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) & PDS_FLOW_ANOMALY_HTTP_MALFORMED);
	fixture_clear(&fx);

	/* A CRLF pair inside the request target is a second line, not a URI. */
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "GET /a\r\nInjected: 1 HTTP/1.1\r\n\r\n", 0, 1);
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) &
		      (PDS_FLOW_ANOMALY_NOT_HTTP | PDS_FLOW_ANOMALY_HTTP_MALFORMED));
	fixture_clear(&fx);
}

static void
test_not_http(void)
{
	Fixture fx;
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "SSH-2.0-OpenSSH_9.2\r\n", 0, 1);
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) & PDS_FLOW_ANOMALY_NOT_HTTP);
	g_assert_true(pds_http_conn_is_done(fx.conn));
	fixture_clear(&fx);

	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0, 1);
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) & PDS_FLOW_ANOMALY_NOT_HTTP);
	fixture_clear(&fx);

	/* After a good exchange, garbage is malformed HTTP (not "not HTTP"). */
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1);
	feed(&fx, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 2);
	feed(&fx, 0, "\x01\x02\x03 junk\r\n\r\n", 0, 3);
	g_assert_true(pds_http_conn_get_anomalies(fx.conn, NULL) & PDS_FLOW_ANOMALY_HTTP_MALFORMED);
	fixture_clear(&fx);
}

static void
test_gap(void)
{
	Fixture fx;
	Exchange *e;

	/* A hole inside a body of known length keeps framing. */
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1);
	feed(&fx, 1, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", 0, 2);
	pds_http_conn_gap(fx.conn, 1, 80);
	feed(&fx, 1, "abcdefghij", 0, 3);
	g_assert_cmpuint(fx.ex->len, ==, 1);
	e = &g_array_index(fx.ex, Exchange, 0);
	g_assert_cmpuint(e->resp_body_len, ==, 100);
	g_assert_true(e->resp_gap);
	g_assert_true(e->anomalies & PDS_FLOW_ANOMALY_GAP);
	/* and the next exchange parses normally */
	feed(&fx, 0, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n", 0, 4);
	feed(&fx, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 5);
	g_assert_cmpuint(fx.ex->len, ==, 2);
	fixture_clear(&fx);

	/* A hole in a header block: the message is lost, parsing resumes at the next one. */
	fixture_init(&fx, 16384, 1024, 1 << 20);
	feed(&fx, 0, "GET /a HTTP/1.1\r\nHo", 0, 1);
	pds_http_conn_gap(fx.conn, 0, 10);
	feed(&fx, 0, "\r\n\r\n", 0, 2); /* tail of the lost request: ignored */
	feed(&fx, 0, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n", 0, 3);
	feed(&fx, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 4);
	g_assert_cmpuint(fx.ex->len, ==, 1);
	g_assert_cmpstr(g_array_index(fx.ex, Exchange, 0).uri, ==, "/b");
	fixture_clear(&fx);
}

/* The word-at-a-time check against the plain byte rule, for every byte value
 * at every place of a 24-byte line. */
static void
test_printable_prefix(void)
{
	guint8 line[24];

	memset(line, 'a', sizeof(line));
	g_assert_cmpuint(pds_text_printable_prefix(line, sizeof(line)), ==, 24);
	g_assert_cmpuint(pds_text_printable_prefix(line, 23), ==, 16);
	g_assert_cmpuint(pds_text_printable_prefix(line, 7), ==, 0);
	for (guint b = 0; b < 256; b++) {
		gboolean printable = b >= 0x20 && b < 0x7f;

		for (gsize pos = 0; pos < sizeof(line); pos++) {
			gsize prefix;

			memset(line, ' ' + (pos % 90), sizeof(line));
			line[pos] = (guint8)b;
			prefix = pds_text_printable_prefix(line, sizeof(line));
			if (printable)
				g_assert_cmpuint(prefix, ==, 24);
			else
				g_assert_cmpuint(prefix, ==, pos / 8 * 8);
		}
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/analyzer/http/simple-get", test_simple_get);
	g_test_add_func("/analyzer/http/chunked", test_chunked);
	g_test_add_func("/analyzer/http/no-body-responses", test_no_body_responses);
	g_test_add_func("/analyzer/http/pipelining", test_pipelining);
	g_test_add_func("/analyzer/http/continue", test_continue);
	g_test_add_func("/analyzer/http/upgrade", test_upgrade);
	g_test_add_func("/analyzer/http/close-delimited", test_close_delimited);
	g_test_add_func("/analyzer/http/unanswered-at-end", test_unanswered_at_end);
	g_test_add_func("/analyzer/http/bad/huge-headers", test_huge_headers);
	g_test_add_func("/analyzer/http/bad/chunks", test_bad_chunks);
	g_test_add_func("/analyzer/http/bad/header-injection", test_header_injection);
	g_test_add_func("/analyzer/http/bad/not-http", test_not_http);
	g_test_add_func("/analyzer/http/gap", test_gap);
	g_test_add_func("/analyzer/http/printable-prefix", test_printable_prefix);
	return g_test_run();
}
