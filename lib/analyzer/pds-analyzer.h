/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The flow analyzer: packets in, PodScope flow records (type 2) out.
 *
 * It keeps a table of TCP connections, reassembles both directions, reads
 * HTTP/1.1 and TLS handshakes from them, and calls back with one record when
 * an HTTP exchange completes, when a TLS handshake completes and when a
 * connection ends (FIN both ways, RST, idle timeout, eviction, flush).
 *
 * Memory is bounded: flows are taken from a table of max_flows entries (the
 * least recently active one is evicted when it is full, preferring a
 * half-open one), and every buffer counts against a per-flow and a total
 * allowance. No memory is allocated per packet on the in-order path.
 *
 * Stream ids are stream_id_base + the flow's 0-based creation number.
 * Flows start on a SYN or on a segment with payload; pure ACKs, FINs and
 * RSTs of unknown connections are ignored.
 *
 * Not thread-safe: one analyzer per capture thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	guint32 max_flows;	      /* flows tracked at once; default 65536 */
	gsize max_flow_memory;	      /* buffer bytes per flow; default 1 MiB */
	gsize max_total_memory;	      /* buffer bytes in all; default 64 MiB */
	guint32 max_header_bytes;     /* HTTP header block limit; default 16 KiB */
	guint32 body_prefix_bytes;    /* body bytes kept per message; default 1024 */
	guint32 max_pipeline;	      /* requests waiting for responses; default 32 */
	guint64 idle_timeout_ns;      /* established flows; default 5 min */
	guint64 half_open_timeout_ns; /* flows without a complete handshake or data; default 30 s */
	guint32 interface_id;	      /* written into every record */
	guint64 stream_id_base;
} PdsAnalyzerConfig;

typedef struct {
	guint64 packets; /* given to pds_analyzer_process() */
	guint64 bytes;	 /* their original lengths */
	guint64 tcp_packets;
	guint64 non_tcp_packets;   /* other protocols or link types */
	guint64 malformed_packets; /* headers cut or inconsistent */
	guint64 fragments;	   /* IP fragments (not reassembled) */
	guint64 ignored_packets;   /* TCP without a flow to belong to (pure ACK, stray FIN/RST) */
	guint64 flows_created;
	guint64 flows_active;
	guint64 flows_evicted; /* to make room in a full table */
	guint64 flows_timed_out;
	guint64 half_open_dropped; /* evicted or timed out without data: no record made */
	guint64 records;	   /* records handed to the callback */
	guint64 memory_denied;	   /* buffer requests refused by a limit */
	gsize memory_used;	   /* buffer bytes now */
	gsize memory_peak;
} PdsAnalyzerStats;

typedef struct _PdsAnalyzer PdsAnalyzer;

/* @record is a complete PodScope record (pds-record.h); take a reference to keep it. */
typedef void (*PdsAnalyzerRecordFunc)(GBytes *record, gpointer user_data);

/* Fills @cfg with the defaults. */
void pds_analyzer_config_init(PdsAnalyzerConfig *cfg);
/* @cfg NULL means defaults; zero fields of @cfg take their default too. */
PdsAnalyzer *
pds_analyzer_new(const PdsAnalyzerConfig *cfg, PdsAnalyzerRecordFunc func, gpointer user_data);
void pds_analyzer_free(PdsAnalyzer *analyzer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsAnalyzer, pds_analyzer_free)

/*
 * One captured frame of link type @linktype (Ethernet, raw IPv4/IPv6, Linux
 * SLL and SLL2, BSD loopback; VLAN tags are skipped). @ts_ns is the capture
 * time in nanoseconds since the epoch; it also drives idle expiry.
 */
void pds_analyzer_process(PdsAnalyzer *analyzer,
			  guint linktype,
			  guint64 ts_ns,
			  const guint8 *pkt,
			  guint32 caplen,
			  guint32 origlen);
/* Ends flows idle since before @now_ns minus their timeout (called by process too). */
void pds_analyzer_expire(PdsAnalyzer *analyzer, guint64 now_ns);
/* Ends every flow, emitting what is pending (end of a file, or shutdown). */
void pds_analyzer_flush(PdsAnalyzer *analyzer);

void pds_analyzer_get_stats(const PdsAnalyzer *analyzer, PdsAnalyzerStats *stats);
guint64 pds_analyzer_get_records(const PdsAnalyzer *analyzer);
guint64 pds_analyzer_get_flows_active(const PdsAnalyzer *analyzer);

G_END_DECLS
