/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One direction of a TCP connection put back in order. In-order payload is
 * handed on where it lies in the packet (no copy); only segments that arrive
 * ahead of a hole are copied, within the flow's memory allowance. A hole is
 * declared a gap (never glued over) when the peer acknowledges data beyond
 * it, when buffering would exceed the allowance, or when the stream ends.
 */
#pragma once

#include <glib.h>

#include "pds-analyzer-mem.h"

G_BEGIN_DECLS

typedef struct _PdsTcpSeg PdsTcpSeg;

typedef struct {
	guint32 next_seq; /* next byte to hand on */
	guint32 fin_seq;
	gboolean init;	 /* next_seq is known (SYN seen, or first segment mid-stream) */
	gboolean fin;	 /* FIN seen (perhaps ahead of a hole) */
	gboolean closed; /* FIN handed on: nothing more comes */
	PdsTcpSeg *ooo;	 /* segments ahead of next_seq, by sequence number */
	guint32 ooo_count;
} PdsTcpStream;

typedef struct {
	void (*data)(gpointer user_data, guint dir, const guint8 *data, gsize len, guint64 ts);
	void (*gap)(gpointer user_data, guint dir, guint64 len);
	void (*fin)(gpointer user_data, guint dir, guint64 ts);
} PdsTcpSinkFuncs;

/* Where one direction's results go; built by the caller for each call. */
typedef struct {
	const PdsTcpSinkFuncs *funcs;
	gpointer user_data;
	guint dir;
	PdsFlowMem *mem;
	guint64 *retransmissions;
	guint64 *gap_bytes;
	guint32 *anomalies; /* PdsFlowAnomaly bits */
} PdsTcpCtx;

/* A SYN (or SYN-ACK) with this sequence number: data starts at @isn + 1. */
void pds_tcp_stream_syn(PdsTcpStream *stream, guint32 isn);
/*
 * One segment: @len bytes of sequence space starting at @seq, of which the
 * first @caplen are in @data (the rest was cut by the snap length).
 */
void pds_tcp_stream_segment(PdsTcpStream *stream,
			    const PdsTcpCtx *ctx,
			    guint32 seq,
			    const guint8 *data,
			    guint32 caplen,
			    guint32 len,
			    gboolean fin,
			    guint64 ts);
/* The peer acknowledged up to @ack: a hole below it with data after it will never be filled. */
void pds_tcp_stream_ack(PdsTcpStream *stream, const PdsTcpCtx *ctx, guint32 ack, guint64 ts);
/* End of the stream: hand on what is buffered, holes as gaps, then the FIN if seen. */
void pds_tcp_stream_flush(PdsTcpStream *stream, const PdsTcpCtx *ctx, guint64 ts);
/* Frees buffered segments without handing them on. */
void pds_tcp_stream_clear(PdsTcpStream *stream, PdsFlowMem *mem);

G_END_DECLS
