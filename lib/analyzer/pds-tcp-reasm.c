/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TCP reassembly for analysis. Sequence numbers compare modulo 2^32
 * (RFC 1982 serial arithmetic); a segment far ahead of the stream (more than
 * a maximal window) is not believed and dropped rather than buffered.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsAnalyzer"

#include <string.h>

#include "pds-record.h"
#include "pds-tcp-reasm.h"

/* RFC 7323: windows never exceed 2^30 bytes. */
#define MAX_AHEAD (1u << 30)

struct _PdsTcpSeg {
	PdsTcpSeg *next;
	guint32 seq;
	guint32 len;	/* sequence space */
	guint32 caplen; /* bytes stored in data */
	guint64 ts;
	guint8 data[];
};

static inline gint32
seq_diff(guint32 a, guint32 b)
{
	return (gint32)(a - b);
}

static void
emit_data(PdsTcpStream *s,
	  const PdsTcpCtx *ctx,
	  const guint8 *data,
	  guint32 caplen,
	  guint32 len,
	  guint64 ts)
{
	if (caplen > 0)
		ctx->funcs->data(ctx->user_data, ctx->dir, data, caplen, ts);
	if (len > caplen) {
		*ctx->gap_bytes += len - caplen;
		*ctx->anomalies |= PDS_FLOW_ANOMALY_GAP;
		ctx->funcs->gap(ctx->user_data, ctx->dir, len - caplen);
	}
	s->next_seq += len;
}

static void
emit_gap(PdsTcpStream *s, const PdsTcpCtx *ctx, guint32 len)
{
	if (len == 0)
		return;
	*ctx->gap_bytes += len;
	*ctx->anomalies |= PDS_FLOW_ANOMALY_GAP;
	ctx->funcs->gap(ctx->user_data, ctx->dir, len);
	s->next_seq += len;
}

static void
seg_free(PdsTcpSeg *seg, PdsFlowMem *mem)
{
	pds_flow_mem_give(mem, sizeof(PdsTcpSeg) + seg->caplen);
	g_free(seg);
}

static void
check_fin(PdsTcpStream *s, const PdsTcpCtx *ctx, guint64 ts)
{
	if (s->fin && !s->closed && s->next_seq == s->fin_seq) {
		s->closed = TRUE;
		ctx->funcs->fin(ctx->user_data, ctx->dir, ts);
	}
}

/* Hands on buffered segments that now touch next_seq. */
static void
drain(PdsTcpStream *s, const PdsTcpCtx *ctx)
{
	while (s->ooo != NULL && seq_diff(s->ooo->seq, s->next_seq) <= 0) {
		PdsTcpSeg *seg = s->ooo;
		gint32 skip = seq_diff(s->next_seq, seg->seq);

		s->ooo = seg->next;
		s->ooo_count--;
		if ((guint32)skip < seg->len) {
			guint32 cap_skip = MIN((guint32)skip, seg->caplen);
			emit_data(s, ctx, seg->data + cap_skip, seg->caplen - cap_skip,
				  seg->len - skip, seg->ts);
		}
		seg_free(seg, ctx->mem);
	}
}

/* Gives up on the first hole: reports it as a gap and hands on what follows. */
static gboolean
skip_first_hole(PdsTcpStream *s, const PdsTcpCtx *ctx, guint64 ts)
{
	if (s->ooo == NULL)
		return FALSE;
	emit_gap(s, ctx, s->ooo->seq - s->next_seq);
	drain(s, ctx);
	check_fin(s, ctx, ts);
	return TRUE;
}

void
pds_tcp_stream_syn(PdsTcpStream *s, guint32 isn)
{
	if (s->init)
		return;
	s->init = TRUE;
	s->next_seq = isn + 1;
}

/* FALSE when memory is refused. */
static gboolean
insert_ooo(PdsTcpStream *s,
	   const PdsTcpCtx *ctx,
	   guint32 seq,
	   const guint8 *data,
	   guint32 caplen,
	   guint32 len,
	   guint64 ts)
{
	PdsTcpSeg **pp = &s->ooo;
	PdsTcpSeg *seg;

	while (*pp != NULL && seq_diff((*pp)->seq, seq) < 0)
		pp = &(*pp)->next;
	/* The same segment again: a retransmission; check that it says the same. */
	for (PdsTcpSeg *o = *pp; o != NULL && o->seq == seq; o = o->next) {
		if (o->len >= len) {
			guint32 n = MIN(caplen, o->caplen);
			(*ctx->retransmissions)++;
			*ctx->anomalies |= PDS_FLOW_ANOMALY_RETRANSMISSION;
			if (memcmp(o->data, data, n) != 0)
				*ctx->anomalies |= PDS_FLOW_ANOMALY_OVERLAP_MISMATCH;
			return TRUE;
		}
	}
	if (!pds_flow_mem_take(ctx->mem, sizeof(PdsTcpSeg) + caplen))
		return FALSE;
	seg = g_malloc(sizeof(PdsTcpSeg) + caplen);
	seg->seq = seq;
	seg->len = len;
	seg->caplen = caplen;
	seg->ts = ts;
	memcpy(seg->data, data, caplen);
	seg->next = *pp;
	*pp = seg;
	s->ooo_count++;
	return TRUE;
}

void
pds_tcp_stream_segment(PdsTcpStream *s,
		       const PdsTcpCtx *ctx,
		       guint32 seq,
		       const guint8 *data,
		       guint32 caplen,
		       guint32 len,
		       gboolean fin,
		       guint64 ts)
{
	gint32 rel;

	caplen = MIN(caplen, len);
	if (!s->init) {
		/* Mid-stream: the first byte we see is where the stream starts for us. */
		s->init = TRUE;
		s->next_seq = seq;
	}
	if (fin && !s->fin) {
		s->fin = TRUE;
		s->fin_seq = seq + len;
	}
	if (len == 0 || s->closed) {
		if (len > 0)
			(*ctx->retransmissions)++;
		check_fin(s, ctx, ts);
		return;
	}

	rel = seq_diff(seq, s->next_seq);
	if (rel <= 0) {
		guint32 skip = (guint32)(-(gint64)rel);
		if (skip >= len) {
			(*ctx->retransmissions)++;
			*ctx->anomalies |= PDS_FLOW_ANOMALY_RETRANSMISSION;
		} else {
			guint32 cap_skip = MIN(skip, caplen);
			if (skip > 0) {
				(*ctx->retransmissions)++;
				*ctx->anomalies |= PDS_FLOW_ANOMALY_RETRANSMISSION;
			}
			emit_data(s, ctx, data + cap_skip, caplen - cap_skip, len - skip, ts);
			drain(s, ctx);
		}
		check_fin(s, ctx, ts);
		return;
	}

	if ((guint32)rel > MAX_AHEAD)
		return;
	while (!insert_ooo(s, ctx, seq, data, caplen, len, ts)) {
		/* Out of allowance: stop waiting for the oldest hole. */
		if (!skip_first_hole(s, ctx, ts)) {
			/* Nothing buffered: this segment alone is too big to keep. */
			rel = seq_diff(seq, s->next_seq);
			if (rel > 0)
				emit_gap(s, ctx, (guint32)rel);
			emit_data(s, ctx, data, caplen, len, ts);
			drain(s, ctx);
			check_fin(s, ctx, ts);
			return;
		}
		rel = seq_diff(seq, s->next_seq);
		if (rel <= 0) {
			/* The skip caught up with this segment: hand it on directly. */
			pds_tcp_stream_segment(s, ctx, seq, data, caplen, len, FALSE, ts);
			return;
		}
	}
}

void
pds_tcp_stream_ack(PdsTcpStream *s, const PdsTcpCtx *ctx, guint32 ack, guint64 ts)
{
	while (s->init && s->ooo != NULL && seq_diff(ack, s->ooo->seq) > 0)
		skip_first_hole(s, ctx, ts);
}

void
pds_tcp_stream_flush(PdsTcpStream *s, const PdsTcpCtx *ctx, guint64 ts)
{
	while (skip_first_hole(s, ctx, ts))
		;
	if (s->fin && !s->closed && seq_diff(s->fin_seq, s->next_seq) > 0) {
		emit_gap(s, ctx, s->fin_seq - s->next_seq);
		check_fin(s, ctx, ts);
	}
}

void
pds_tcp_stream_clear(PdsTcpStream *s, PdsFlowMem *mem)
{
	while (s->ooo != NULL) {
		PdsTcpSeg *seg = s->ooo;
		s->ooo = seg->next;
		seg_free(seg, mem);
	}
	s->ooo_count = 0;
}
