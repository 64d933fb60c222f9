/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HTTP/1.1 message framing as RFC 9112 describes it, tolerant where real
 * peers are (bare LF line ends, leading empty lines) and strict where a lax
 * reading would let a hostile peer desynchronise us (Content-Length syntax,
 * chunk sizes, CR inside header lines). What was wrong is kept as
 * PdsFlowAnomaly bits so the flow record can say it.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsAnalyzer"

#include <string.h>

#include "pds-http-parser.h"
#include "pds-record.h"
#include "pds-text.h"

typedef enum {
	ST_START,
	ST_HEAD,
	ST_BODY_LENGTH,
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_END,
	ST_TRAILERS,
	ST_BODY_CLOSE,
	ST_RESYNC, /* after a gap: wait for a segment that starts a message */
	ST_DEAD,
	ST_TUNNEL,
} PdsHttpState;

/* A chunk-size line longer than this is hostile (real ones are a few bytes plus extensions). */
#define CHUNK_LINE_MAX 4096

typedef struct {
	PdsHttpState state;
	PdsHttpMessage *msg;
	guint64 remaining;
	guint8 nl_state;       /* header end search: 0 in a line, 1 after LF, 2 after LF CR */
	guint32 line_total;    /* bytes of the current chunk-size or trailer line */
	guint64 chunk_size;    /* chunk size being read */
	guint n_digits;	       /* hex digits read */
	gboolean in_extension; /* after ';' or whitespace on a chunk-size line */
	gboolean seen_cr;      /* a CR at the end of a chunk-size line */
	guint32 trailer_bytes; /* of the trailer section */
	gboolean seen_message; /* a message started in this direction */
	gboolean answered;     /* the request being read was answered already (early response) */
} PdsHttpDir;

struct _PdsHttpConn {
	PdsHttpLimits limits;
	PdsFlowMem *mem;
	PdsHttpExchangeFunc func;
	gpointer user_data;
	PdsHttpDir dir[2];
	PdsHttpMessage **queue; /* ring of requests awaiting their response */
	guint q_head;
	guint q_len;
	guint32 next_index[2];
	guint32 anomalies;
	const char *anomaly_text;
	gboolean done;
	guint32 n_exchanges;
};

static void
conn_mark(PdsHttpConn *conn, PdsHttpMessage *msg, guint32 anomaly, const char *text)
{
	if (msg != NULL)
		msg->anomalies |= anomaly;
	conn->anomalies |= anomaly;
	if (conn->anomaly_text == NULL)
		conn->anomaly_text = text;
}

static PdsHttpMessage *
message_new(PdsHttpConn *conn, guint dir, guint64 ts)
{
	PdsHttpMessage *msg;

	if (!pds_flow_mem_take(conn->mem, sizeof(PdsHttpMessage)))
		return NULL;
	msg = g_new0(PdsHttpMessage, 1);
	msg->is_request = dir == 0;
	msg->ts_first = ts;
	msg->ts_last = ts;
	msg->index = conn->next_index[dir]++;
	return msg;
}

static void
message_free(PdsHttpConn *conn, PdsHttpMessage *msg)
{
	if (msg == NULL)
		return;
	pds_flow_mem_give(conn->mem,
			  sizeof(PdsHttpMessage) + msg->head_alloc +
				  (msg->body != NULL ? conn->limits.body_prefix_bytes : 0));
	g_free(msg->head);
	g_free(msg->body);
	g_free(msg);
}

static void
emit(PdsHttpConn *conn, const PdsHttpMessage *req, const PdsHttpMessage *resp, guint64 ts)
{
	PdsHttpExchange ex = {
		.request = req,
		.response = resp,
		.ts = ts,
		.anomalies =
			(req != NULL ? req->anomalies : 0) | (resp != NULL ? resp->anomalies : 0),
		.anomaly_text = conn->anomaly_text,
	};
	conn->n_exchanges++;
	if (conn->func != NULL)
		conn->func(&ex, conn->user_data);
}

static PdsHttpMessage *
queue_peek(PdsHttpConn *conn)
{
	return conn->q_len > 0 ? conn->queue[conn->q_head] : NULL;
}

static PdsHttpMessage *
queue_pop(PdsHttpConn *conn)
{
	PdsHttpMessage *msg;

	if (conn->q_len == 0)
		return NULL;
	msg = conn->queue[conn->q_head];
	conn->q_head = (conn->q_head + 1) % conn->limits.max_pipeline;
	conn->q_len--;
	return msg;
}

PdsHttpConn *
pds_http_conn_new(const PdsHttpLimits *limits,
		  PdsFlowMem *mem,
		  PdsHttpExchangeFunc func,
		  gpointer user_data)
{
	PdsHttpConn *conn;

	g_return_val_if_fail(limits != NULL && mem != NULL, NULL);
	conn = g_new0(PdsHttpConn, 1);
	conn->limits = *limits;
	if (conn->limits.max_pipeline == 0)
		conn->limits.max_pipeline = 1;
	conn->mem = mem;
	conn->func = func;
	conn->user_data = user_data;
	conn->queue = g_new0(PdsHttpMessage *, conn->limits.max_pipeline);
	return conn;
}

void
pds_http_conn_free(PdsHttpConn *conn)
{
	if (conn == NULL)
		return;
	for (guint d = 0; d < 2; d++)
		message_free(conn, conn->dir[d].msg);
	while (conn->q_len > 0)
		message_free(conn, queue_pop(conn));
	g_free(conn->queue);
	g_free(conn);
}

/* RFC 9110 tchar */
static inline gboolean
is_tchar(guint8 c)
{
	if (g_ascii_isalnum(c))
		return TRUE;
	switch (c) {
	case '!':
	case '#':
	case '$':
	case '%':
	case '&':
	case '\'':
	case '*':
	case '+':
	case '-':
	case '.':
	case '^':
	case '_':
	case '`':
	case '|':
	case '~':
		return TRUE;
	default:
		return FALSE;
	}
}

int
pds_http_sniff_request(const guint8 *data, gsize len)
{
	/* Methods in use are short upper-case tokens; anything else is not HTTP/1.x. */
	for (gsize i = 0; i < len && i <= 20; i++) {
		guint8 c = data[i];
		if (c == ' ')
			return i > 0 ? 1 : 0;
		if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
			return 0;
	}
	return len > 20 ? 0 : -1;
}

int
pds_http_sniff_response(const guint8 *data, gsize len)
{
	static const char prefix[] = "HTTP/";
	gsize n = MIN(len, sizeof(prefix) - 1);

	if (memcmp(data, prefix, n) != 0)
		return 0;
	return n == sizeof(prefix) - 1 ? 1 : -1;
}

static gboolean
span_equal_ci(const guint8 *base, PdsHttpSpan span, const char *text)
{
	gsize n = strlen(text);
	return span.len == n && g_ascii_strncasecmp((const char *)base + span.off, text, n) == 0;
}

static gboolean
is_http_version(const guint8 *p, gsize len)
{
	return len == 8 && memcmp(p, "HTTP/", 5) == 0 && g_ascii_isdigit(p[5]) && p[6] == '.' &&
	       g_ascii_isdigit(p[7]);
}

/* Does the comma-separated list in [p, p+len) hold @token (case-insensitive)? */
static gboolean
list_has_token(const guint8 *p, gsize len, const char *token, gboolean last_only)
{
	gsize tlen = strlen(token);
	gsize i = 0;
	gboolean found = FALSE;

	while (i < len) {
		gsize start, end;
		while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
			i++;
		start = i;
		while (i < len && p[i] != ',')
			i++;
		end = i;
		while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\t'))
			end--;
		if (end == start)
			continue;
		found = end - start == tlen &&
			g_ascii_strncasecmp((const char *)p + start, token, tlen) == 0;
		if (found && !last_only)
			return TRUE;
	}
	return found;
}

/*
 * Parses the header block of @msg in place. FALSE when the message cannot be
 * framed safely (bad start line, bad or conflicting Content-Length, unknown
 * transfer coding on a request); other problems only mark the message.
 */
static gboolean
parse_head(PdsHttpConn *conn, PdsHttpMessage *msg)
{
	const guint8 *h = msg->head;
	guint32 n = msg->head_len;
	guint32 pos = 0, line_end, eol;
	gboolean te_seen = FALSE;
	PdsHttpSpan tmp;

	/* start line */
	{
		const guint8 *nl = memchr(h, '\n', n);
		if (nl == NULL)
			return FALSE;
		eol = nl - h;
		line_end = eol > 0 && h[eol - 1] == '\r' ? eol - 1 : eol;
	}
	if (msg->is_request) {
		guint32 i = 0, sp1, sp2;
		while (i < line_end && is_tchar(h[i]))
			i++;
		if (i == 0 || i >= line_end || h[i] != ' ')
			return FALSE;
		sp1 = i;
		i++;
		while (i < line_end && h[i] != ' ') {
			if (h[i] < 0x21 || h[i] == 0x7f)
				return FALSE;
			i++;
		}
		if (i >= line_end || i == sp1 + 1)
			return FALSE;
		sp2 = i;
		if (!is_http_version(h + sp2 + 1, line_end - sp2 - 1))
			return FALSE;
		msg->method = (PdsHttpSpan){0, sp1};
		msg->uri = (PdsHttpSpan){sp1 + 1, sp2 - sp1 - 1};
		msg->version = (PdsHttpSpan){sp2 + 1, 8};
		if (span_equal_ci(h, msg->method, "CONNECT"))
			msg->upgrade = TRUE;
	} else {
		if (line_end < 12 || !is_http_version(h, 8) || h[8] != ' ' ||
		    !g_ascii_isdigit(h[9]) || !g_ascii_isdigit(h[10]) || !g_ascii_isdigit(h[11]))
			return FALSE;
		if (line_end > 12 && h[12] != ' ')
			return FALSE;
		msg->version = (PdsHttpSpan){0, 8};
		msg->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
		if (line_end > 13)
			msg->reason = (PdsHttpSpan){13, line_end - 13};
		if (msg->status < 100)
			return FALSE;
	}

	pos = eol + 1;
	while (pos < n) {
		const guint8 *nl = memchr(h + pos, '\n', n - pos);
		guint32 colon, vstart, vend;
		gboolean bad_value = FALSE;

		eol = nl != NULL ? (guint32)(nl - h) : n;
		line_end = eol > pos && h[eol - 1] == '\r' ? eol - 1 : eol;
		if (line_end == pos)
			break; /* the empty line */
		if (h[pos] == ' ' || h[pos] == '\t') {
			conn_mark(conn, msg, PDS_FLOW_ANOMALY_HTTP_MALFORMED,
				  "obsolete line folding in HTTP headers");
			pos = eol + 1;
			continue;
		}
		colon = pos;
		while (colon < line_end && is_tchar(h[colon]))
			colon++;
		if (colon == pos || colon >= line_end || h[colon] != ':') {
			conn_mark(conn, msg, PDS_FLOW_ANOMALY_HTTP_MALFORMED,
				  "HTTP header line without a valid name and colon");
			pos = eol + 1;
			continue;
		}
		vstart = colon + 1;
		while (vstart < line_end && (h[vstart] == ' ' || h[vstart] == '\t'))
			vstart++;
		vend = line_end;
		while (vend > vstart && (h[vend - 1] == ' ' || h[vend - 1] == '\t'))
			vend--;
		for (guint32 i =
			     vstart + (guint32)pds_text_printable_prefix(h + vstart, vend - vstart);
		     i < vend; i++) {
			if ((h[i] < 0x20 && h[i] != '\t') || h[i] == 0x7f)
				bad_value = TRUE;
		}
		if (bad_value)
			conn_mark(conn, msg, PDS_FLOW_ANOMALY_HTTP_MALFORMED,
				  "CR, LF or control character inside an HTTP header value");

		if (msg->n_headers < PDS_HTTP_MAX_HEADERS)
			msg->headers[msg->n_headers++] = (PdsHttpSpan){pos, line_end - pos};
		else
			conn_mark(conn, msg, PDS_FLOW_ANOMALY_HTTP_HEADERS_TOO_LARGE,
				  "more HTTP header lines than are kept");

		tmp = (PdsHttpSpan){pos, colon - pos};
		if (span_equal_ci(h, tmp, "Content-Length")) {
			guint64 v = 0;
			if (vstart == vend)
				return FALSE;
			for (guint32 i = vstart; i < vend; i++) {
				if (!g_ascii_isdigit(h[i]) || v > (G_MAXUINT64 / 16)) {
					conn_mark(conn, msg, PDS_FLOW_ANOMALY_HTTP_MALFORMED,
						  "invalid Content-Length");
					return FALSE;
				}
				v = v * 10 + (h[i] - '0');
			}
			if (msg->has_content_length && v != msg->content_length) {
				conn_mark(conn, msg, PDS_FLOW_ANOMALY_HTTP_MALFORMED,
					  "conflicting Content-Length headers");
				return FALSE;
			}
			msg->has_content_length = TRUE;
			msg->content_length = v;
		} else if (span_equal_ci(h, tmp, "Transfer-Encoding")) {
			te_seen = TRUE;
			msg->chunked = list_has_token(h + vstart, vend - vstart, "chunked", TRUE);
		} else if (span_equal_ci(h, tmp, "Host")) {
			msg->host = (PdsHttpSpan){vstart, vend - vstart};
		} else if (span_equal_ci(h, tmp, "Upgrade")) {
			if (msg->is_request)
				msg->upgrade = TRUE;
		}
		pos = eol + 1;
	}

	if (te_seen && msg->has_content_length)
		conn_mark(conn, msg, PDS_FLOW_ANOMALY_HTTP_MALFORMED,
			  "both Transfer-Encoding and Content-Length (chunked wins)");
	if (te_seen && !msg->chunked && msg->is_request) {
		conn_mark(conn, msg, PDS_FLOW_ANOMALY_HTTP_MALFORMED,
			  "request transfer coding is not chunked");
		return FALSE;
	}
	if (te_seen)
		msg->has_content_length = FALSE;
	return TRUE;
}

static void
body_add(PdsHttpConn *conn, PdsHttpMessage *msg, const guint8 *data, gsize len, guint64 ts)
{
	guint32 keep = conn->limits.body_prefix_bytes;

	msg->body_len += len;
	msg->ts_last = ts;
	if (msg->body_kept >= keep || len == 0)
		return;
	if (msg->body == NULL) {
		if (!pds_flow_mem_take(conn->mem, keep)) {
			conn_mark(conn, msg, PDS_FLOW_ANOMALY_MEMORY_LIMIT,
				  "memory limit reached: body prefix not kept");
			msg->body_kept = keep; /* stop trying */
			return;
		}
		msg->body = g_malloc(keep);
	}
	len = MIN(len, (gsize)(keep - msg->body_kept));
	memcpy(msg->body + msg->body_kept, data, len);
	msg->body_kept += len;
}

static void
dir_fail(PdsHttpConn *conn, guint d, guint32 anomaly, const char *text)
{
	PdsHttpDir *dir = &conn->dir[d];

	conn_mark(conn, dir->msg, anomaly, text);
	message_free(conn, dir->msg);
	dir->msg = NULL;
	dir->state = ST_DEAD;
	conn->done = TRUE;
}

static void
enter_tunnel(PdsHttpConn *conn)
{
	for (guint d = 0; d < 2; d++) {
		message_free(conn, conn->dir[d].msg);
		conn->dir[d].msg = NULL;
		conn->dir[d].state = ST_TUNNEL;
	}
	conn_mark(conn, NULL, PDS_FLOW_ANOMALY_UPGRADED,
		  "the connection switched protocols; HTTP parsing stopped");
	conn->done = TRUE;
}

static void
message_done(PdsHttpConn *conn, guint d, guint64 ts)
{
	PdsHttpDir *dir = &conn->dir[d];
	PdsHttpMessage *msg = dir->msg;

	dir->msg = NULL;
	dir->state = ST_START;
	msg->complete = TRUE;
	if (msg->ts_last < ts)
		msg->ts_last = ts;

	if (d == 0) {
		if (dir->answered) {
			dir->answered = FALSE;
			message_free(conn, msg);
			return;
		}
		if (conn->q_len == conn->limits.max_pipeline) {
			/* Too many unanswered requests: report the oldest without its response. */
			PdsHttpMessage *old = queue_pop(conn);
			conn_mark(conn, old, PDS_FLOW_ANOMALY_MEMORY_LIMIT,
				  "too many pipelined requests waiting for a response");
			emit(conn, old, NULL, ts);
			message_free(conn, old);
		}
		conn->queue[(conn->q_head + conn->q_len) % conn->limits.max_pipeline] = msg;
		conn->q_len++;
		return;
	}

	{
		PdsHttpMessage *req = queue_pop(conn);
		PdsHttpMessage *reading = conn->dir[0].msg;
		gboolean tunnel;

		if (req == NULL && reading != NULL && reading->method.len > 0) {
			/* Answered before its body ended (100-continue refused, 413): pair now. */
			emit(conn, reading, msg, ts);
			conn->dir[0].answered = TRUE;
			message_free(conn, msg);
			return;
		}
		tunnel = msg->status == 101 ||
			 (req != NULL && req->upgrade && msg->status / 100 == 2 &&
			  span_equal_ci(req->head, req->method, "CONNECT"));
		emit(conn, req, msg, ts);
		message_free(conn, req);
		message_free(conn, msg);
		if (tunnel)
			enter_tunnel(conn);
	}
}

/* The header block of the current message is complete: decide how its body is framed. */
static void
start_body(PdsHttpConn *conn, guint d, guint64 ts)
{
	PdsHttpDir *dir = &conn->dir[d];
	PdsHttpMessage *msg = dir->msg;

	if (d == 1) {
		PdsHttpMessage *req = queue_peek(conn);
		guint16 st = msg->status;

		/* A request still sending its body (Expect: 100-continue) is the one answered. */
		if (req == NULL && conn->dir[0].msg != NULL && conn->dir[0].msg->method.len > 0)
			req = conn->dir[0].msg;

		if (st >= 100 && st < 200 && st != 101) {
			/* Interim answer (100 Continue, 103 Early Hints): the final one follows. */
			if (req != NULL && req->n_interim < PDS_HTTP_MAX_INTERIM)
				req->interim[req->n_interim++] = st;
			message_free(conn, msg);
			dir->msg = NULL;
			dir->state = ST_START;
			return;
		}
		if (st == 101 || st == 204 || st == 304 ||
		    (req != NULL && span_equal_ci(req->head, req->method, "HEAD")) ||
		    (req != NULL && req->upgrade && st / 100 == 2 &&
		     span_equal_ci(req->head, req->method, "CONNECT"))) {
			message_done(conn, d, ts);
			return;
		}
		if (msg->chunked) {
			dir->state = ST_CHUNK_SIZE;
		} else if (msg->has_content_length) {
			dir->remaining = msg->content_length;
			dir->state = ST_BODY_LENGTH;
		} else {
			dir->state = ST_BODY_CLOSE;
		}
	} else {
		if (msg->chunked) {
			dir->state = ST_CHUNK_SIZE;
		} else if (msg->has_content_length && msg->content_length > 0) {
			dir->remaining = msg->content_length;
			dir->state = ST_BODY_LENGTH;
		} else {
			message_done(conn, d, ts);
			return;
		}
	}
	if (dir->state == ST_BODY_LENGTH && dir->remaining == 0)
		message_done(conn, d, ts);
	if (dir->state == ST_CHUNK_SIZE) {
		dir->chunk_size = 0;
		dir->n_digits = 0;
		dir->line_total = 0;
		dir->in_extension = FALSE;
		dir->seen_cr = FALSE;
	}
}

/* Appends header bytes; returns bytes consumed, sets *complete at the empty line. */
static gsize
head_append(PdsHttpConn *conn, guint d, const guint8 *data, gsize len, gboolean *complete)
{
	PdsHttpDir *dir = &conn->dir[d];
	PdsHttpMessage *msg = dir->msg;
	gsize i;
	guint32 need;

	*complete = FALSE;
	for (i = 0; i < len; i++) {
		guint8 c;

		if (dir->nl_state == 0) {
			/* inside a line only the next LF matters: skip to it */
			const guint8 *nl = memchr(data + i, '\n', len - i);
			if (nl == NULL) {
				i = len;
				break;
			}
			i = (gsize)(nl - data);
			dir->nl_state = 1;
			continue;
		}
		c = data[i];
		if (c == '\n') {
			*complete = TRUE;
			i++;
			break;
		} else if (c == '\r' && dir->nl_state == 1) {
			dir->nl_state = 2;
		} else {
			dir->nl_state = 0;
		}
	}
	if (msg->head_len + i > conn->limits.max_header_bytes)
		return G_MAXSIZE;
	need = msg->head_len + i;
	if (need > msg->head_alloc) {
		/* Exact size when the block ends here (the usual case), else room to grow. */
		guint32 alloc =
			*complete ? need : MIN(MAX(need * 2, 512u), conn->limits.max_header_bytes);
		if (!pds_flow_mem_take(conn->mem, alloc - msg->head_alloc))
			return G_MAXSIZE - 1;
		msg->head = g_realloc(msg->head, alloc);
		msg->head_alloc = alloc;
	}
	memcpy(msg->head + msg->head_len, data, i);
	msg->head_len += i;
	return i;
}

/* Feeds one chunk-size line byte; FALSE on a bad line. */
static gboolean
chunk_size_byte(PdsHttpDir *dir, guint8 c, gboolean *line_done)
{
	*line_done = FALSE;
	if (++dir->line_total > CHUNK_LINE_MAX)
		return FALSE;
	if (c == '\n') {
		if (dir->n_digits == 0)
			return FALSE;
		*line_done = TRUE;
		return TRUE;
	}
	if (dir->seen_cr)
		return FALSE; /* CR must be followed by LF */
	if (c == '\r') {
		dir->seen_cr = TRUE;
		return TRUE;
	}
	if (dir->in_extension)
		return c >= 0x20 || c == '\t';
	if (g_ascii_isxdigit(c)) {
		if (++dir->n_digits > 15)
			return FALSE; /* would overflow; no real chunk is that large */
		dir->chunk_size = dir->chunk_size * 16 + g_ascii_xdigit_value(c);
		return TRUE;
	}
	if ((c == ';' || c == ' ' || c == '\t') && dir->n_digits > 0) {
		dir->in_extension = TRUE;
		return TRUE;
	}
	return FALSE;
}

void
pds_http_conn_data(PdsHttpConn *conn, guint d, const guint8 *data, gsize len, guint64 ts)
{
	PdsHttpDir *dir;

	g_return_if_fail(conn != NULL && d < 2);
	dir = &conn->dir[d];

	if (dir->state == ST_RESYNC) {
		/* Only a segment that starts like a message puts us back on track. */
		int s = d == 0 ? pds_http_sniff_request(data, len)
			       : pds_http_sniff_response(data, len);
		if (s != 1)
			return;
		dir->state = ST_START;
	}

	while (len > 0) {
		gsize n;

		switch (dir->state) {
		case ST_START: {
			int s;
			while (len > 0 && (*data == '\r' || *data == '\n')) {
				data++;
				len--;
			}
			if (len == 0)
				return;
			s = d == 0 ? pds_http_sniff_request(data, len)
				   : pds_http_sniff_response(data, len);
			if (s == 0) {
				if (dir->seen_message)
					dir_fail(conn, d, PDS_FLOW_ANOMALY_HTTP_MALFORMED,
						 "data that is not an HTTP message where one "
						 "should start");
				else
					dir_fail(conn, d, PDS_FLOW_ANOMALY_NOT_HTTP,
						 "the connection does not carry HTTP/1.x");
				return;
			}
			dir->msg = message_new(conn, d, ts);
			if (dir->msg == NULL) {
				dir_fail(conn, d, PDS_FLOW_ANOMALY_MEMORY_LIMIT,
					 "memory limit reached: HTTP message dropped");
				return;
			}
			dir->nl_state = 0;
			dir->state = ST_HEAD;
			break;
		}
		case ST_HEAD: {
			gboolean complete;
			n = head_append(conn, d, data, len, &complete);
			if (n == G_MAXSIZE) {
				dir_fail(conn, d, PDS_FLOW_ANOMALY_HTTP_HEADERS_TOO_LARGE,
					 "HTTP header block larger than the limit");
				return;
			}
			if (n == G_MAXSIZE - 1) {
				dir_fail(conn, d, PDS_FLOW_ANOMALY_MEMORY_LIMIT,
					 "memory limit reached while reading HTTP headers");
				return;
			}
			/* A start that only looked like HTTP in its first bytes. */
			if (d == 0 &&
			    pds_http_sniff_request(dir->msg->head, dir->msg->head_len) == 0) {
				dir_fail(conn, d,
					 dir->seen_message ? PDS_FLOW_ANOMALY_HTTP_MALFORMED
							   : PDS_FLOW_ANOMALY_NOT_HTTP,
					 "the connection does not carry HTTP/1.x");
				return;
			}
			dir->msg->ts_last = ts;
			data += n;
			len -= n;
			if (!complete)
				break;
			if (!parse_head(conn, dir->msg)) {
				if (dir->seen_message)
					dir_fail(conn, d, PDS_FLOW_ANOMALY_HTTP_MALFORMED,
						 "malformed HTTP message head");
				else
					dir_fail(conn, d, PDS_FLOW_ANOMALY_NOT_HTTP,
						 "the connection does not carry HTTP/1.x");
				return;
			}
			dir->seen_message = TRUE;
			start_body(conn, d, ts);
			break;
		}
		case ST_BODY_LENGTH:
			n = MIN(len, dir->remaining);
			body_add(conn, dir->msg, data, n, ts);
			data += n;
			len -= n;
			dir->remaining -= n;
			if (dir->remaining == 0)
				message_done(conn, d, ts);
			break;
		case ST_CHUNK_SIZE: {
			gboolean line_done = FALSE;
			while (len > 0 && !line_done) {
				if (!chunk_size_byte(dir, *data, &line_done)) {
					dir_fail(conn, d, PDS_FLOW_ANOMALY_HTTP_BAD_CHUNK,
						 "invalid chunk size line in a chunked body");
					return;
				}
				data++;
				len--;
			}
			dir->msg->ts_last = ts;
			if (!line_done)
				break;
			if (dir->chunk_size == 0) {
				dir->state = ST_TRAILERS;
				dir->line_total = 0;
				dir->trailer_bytes = 0;
			} else {
				dir->remaining = dir->chunk_size;
				dir->state = ST_CHUNK_DATA;
			}
			break;
		}
		case ST_CHUNK_DATA:
			n = MIN(len, dir->remaining);
			body_add(conn, dir->msg, data, n, ts);
			data += n;
			len -= n;
			dir->remaining -= n;
			if (dir->remaining == 0) {
				dir->state = ST_CHUNK_END;
				dir->seen_cr = FALSE;
			}
			break;
		case ST_CHUNK_END:
			if (*data == '\r' && !dir->seen_cr) {
				dir->seen_cr = TRUE;
			} else if (*data == '\n') {
				dir->state = ST_CHUNK_SIZE;
				dir->chunk_size = 0;
				dir->n_digits = 0;
				dir->line_total = 0;
				dir->in_extension = FALSE;
				dir->seen_cr = FALSE;
			} else {
				dir_fail(conn, d, PDS_FLOW_ANOMALY_HTTP_BAD_CHUNK,
					 "chunk data longer than its size");
				return;
			}
			data++;
			len--;
			break;
		case ST_TRAILERS:
			while (len > 0) {
				guint8 c = *data++;
				len--;
				if (++dir->trailer_bytes > conn->limits.max_header_bytes) {
					dir_fail(conn, d, PDS_FLOW_ANOMALY_HTTP_HEADERS_TOO_LARGE,
						 "HTTP trailer section larger than the limit");
					return;
				}
				if (c == '\n') {
					if (dir->line_total == 0) {
						message_done(conn, d, ts);
						break;
					}
					dir->line_total = 0;
				} else if (c != '\r') {
					dir->line_total++;
				}
			}
			break;
		case ST_BODY_CLOSE:
			body_add(conn, dir->msg, data, len, ts);
			len = 0;
			break;
		case ST_RESYNC:
		case ST_DEAD:
		case ST_TUNNEL:
			return;
		}
	}
}

void
pds_http_conn_gap(PdsHttpConn *conn, guint d, guint64 len)
{
	PdsHttpDir *dir;

	g_return_if_fail(conn != NULL && d < 2);
	dir = &conn->dir[d];
	if (dir->state == ST_DEAD || dir->state == ST_TUNNEL)
		return;
	conn_mark(conn, dir->msg, PDS_FLOW_ANOMALY_GAP, "bytes missing from the capture");

	switch (dir->state) {
	case ST_BODY_LENGTH:
	case ST_CHUNK_DATA:
		if (len <= dir->remaining) {
			/* Lost body bytes: count them, keep framing. */
			dir->msg->body_len += len;
			dir->msg->body_gap = TRUE;
			dir->remaining -= len;
			if (dir->remaining == 0) {
				if (dir->state == ST_BODY_LENGTH) {
					message_done(conn, d, dir->msg->ts_last);
				} else {
					dir->state = ST_CHUNK_END;
					dir->seen_cr = FALSE;
				}
			}
			return;
		}
		break;
	case ST_BODY_CLOSE:
		dir->msg->body_len += len;
		dir->msg->body_gap = TRUE;
		return;
	default:
		break;
	}

	/* Framing is lost: report what we have and wait for a message start. */
	if (dir->msg != NULL) {
		PdsHttpMessage *msg = dir->msg;
		dir->msg = NULL;
		if (d == 1) {
			PdsHttpMessage *req = queue_pop(conn);
			if (msg->status != 0) {
				emit(conn, req, msg, msg->ts_last);
			} else if (req != NULL) {
				req->anomalies |= PDS_FLOW_ANOMALY_GAP;
				emit(conn, req, NULL, msg->ts_last);
			}
			message_free(conn, req);
		} else if (msg->method.len > 0) {
			emit(conn, msg, NULL, msg->ts_last);
		}
		message_free(conn, msg);
	} else if (d == 1 && conn->q_len > 0) {
		/* The response of the oldest request fell into the hole. */
		PdsHttpMessage *req = queue_pop(conn);
		req->anomalies |= PDS_FLOW_ANOMALY_GAP;
		emit(conn, req, NULL, req->ts_last);
		message_free(conn, req);
	}
	dir->state = ST_RESYNC;
}

void
pds_http_conn_fin(PdsHttpConn *conn, guint d, guint64 ts)
{
	PdsHttpDir *dir;

	g_return_if_fail(conn != NULL && d < 2);
	dir = &conn->dir[d];
	if (dir->state == ST_BODY_CLOSE && dir->msg != NULL)
		message_done(conn, d, ts);
}

void
pds_http_conn_finish(PdsHttpConn *conn, guint64 ts)
{
	PdsHttpDir *resp_dir, *req_dir;

	g_return_if_fail(conn != NULL);
	resp_dir = &conn->dir[1];
	req_dir = &conn->dir[0];

	if (resp_dir->state == ST_BODY_CLOSE && resp_dir->msg != NULL)
		message_done(conn, 1, ts);
	if (resp_dir->msg != NULL && resp_dir->msg->status != 0) {
		/* A response cut short by the end of the connection. */
		PdsHttpMessage *req = queue_pop(conn);
		emit(conn, req, resp_dir->msg, ts);
		message_free(conn, req);
	}
	message_free(conn, resp_dir->msg);
	resp_dir->msg = NULL;
	while (conn->q_len > 0) {
		PdsHttpMessage *req = queue_pop(conn);
		emit(conn, req, NULL, ts);
		message_free(conn, req);
	}
	if (req_dir->msg != NULL && req_dir->msg->method.len > 0 && !req_dir->answered)
		emit(conn, req_dir->msg, NULL, ts);
	message_free(conn, req_dir->msg);
	req_dir->msg = NULL;
	resp_dir->state = req_dir->state = ST_DEAD;
}

void
pds_http_conn_set_midstream(PdsHttpConn *conn)
{
	g_return_if_fail(conn != NULL);
	for (guint d = 0; d < 2; d++) {
		if (conn->dir[d].state == ST_START && conn->dir[d].msg == NULL) {
			conn->dir[d].state = ST_RESYNC;
			/* What follows the first message start is held to HTTP's rules. */
			conn->dir[d].seen_message = TRUE;
		}
	}
}

guint32
pds_http_conn_get_anomalies(const PdsHttpConn *conn, const char **text)
{
	if (text != NULL)
		*text = conn->anomaly_text;
	return conn->anomalies;
}

gboolean
pds_http_conn_is_done(const PdsHttpConn *conn)
{
	return conn->done;
}

guint32
pds_http_conn_get_n_exchanges(const PdsHttpConn *conn)
{
	return conn->n_exchanges;
}
