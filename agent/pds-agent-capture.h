/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One libpcap capture on one interface, driven by the main loop. Packets are
 * drained in batches: every wake-up appends one Enhanced Packet Block per
 * packet to a single reused buffer and hands the whole batch on at once, so
 * the hot path allocates nothing per packet and writes once per batch.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define PDS_AGENT_CAPTURE_DEFAULT_SNAPLEN     262144u
#define PDS_AGENT_CAPTURE_DEFAULT_BUFFER_SIZE (64u * 1024u * 1024u)

#define PDS_TYPE_AGENT_CAPTURE (pds_agent_capture_get_type())
G_DECLARE_FINAL_TYPE(PdsAgentCapture, pds_agent_capture, PDS, AGENT_CAPTURE, GObject)

typedef struct {
	const char *interface;	/* "eth0", "any", ... */
	const char *netns_path; /* nsfs path, or NULL for the current namespace */
	const char *filter;	/* the user's BPF filter, or NULL */
	/* appended as "and not (...)" to keep the agent's own traffic out; or NULL */
	const char *exclude_filter;
	guint32 snaplen;      /* 0 = default */
	guint32 buffer_size;  /* kernel ring bytes; 0 = default */
	guint32 interface_id; /* the IDB number EPBs refer to */
	/*
	 * 0: immediate mode, every packet wakes the agent (TPACKET_V2, one
	 * fixed-size ring slot per packet). N: packets are handed over in
	 * blocks at least every N ms (TPACKET_V3, packed blocks: many more
	 * small packets fit the same buffer, fewer wake-ups).
	 */
	guint buffer_timeout_ms;
	/*
	 * Run the flow analyzer on every packet: its records (TCP/TLS/HTTP
	 * summaries) go into the same batches as Custom Blocks, in capture order.
	 */
	gboolean analyze;
} PdsAgentCaptureConfig;

/*
 * Called once per batch with @n_blocks complete blocks in @batch: EPBs, and
 * Custom Blocks with analyzer records. The function owns @batch from then on
 * and returns an empty buffer (@batch emptied, or another) for the next one,
 * so a consumer can keep the batch without copying it.
 */
typedef GByteArray *(*PdsAgentCaptureBatchFunc)(GByteArray *batch,
						guint n_blocks,
						gpointer user_data);

typedef struct {
	guint64 received;   /* ps_recv: packets that passed the filter */
	guint64 dropped;    /* ps_drop: dropped for lack of buffer space */
	guint64 if_dropped; /* ps_ifdrop: dropped by the interface/driver */
	guint64 delivered;  /* packets handed to the batch function */
	guint64 bytes;	    /* captured bytes handed on */
	guint64 records;    /* analyzer records handed on */
} PdsAgentCaptureStats;

/*
 * Opens and activates the capture (inside @config->netns_path when set) and
 * installs the filter. Unknown interfaces and bad filters are errors that
 * say what exists and what pcap said.
 */
PdsAgentCapture *pds_agent_capture_new(const PdsAgentCaptureConfig *config, GError **error);

/* Start delivering batches from the main context of the caller. */
void pds_agent_capture_start(PdsAgentCapture *capture,
			     PdsAgentCaptureBatchFunc func,
			     gpointer user_data);
/* Deliver whatever is waiting now, then stop watching the capture. */
void pds_agent_capture_stop(PdsAgentCapture *capture);
/* Deliver whatever the kernel holds now (used before statistics and on exit). */
void pds_agent_capture_drain(PdsAgentCapture *capture);
/*
 * Stop reading the kernel's ring for a while (the consumer is full): packets
 * wait there, and what the ring cannot hold the kernel drops and counts,
 * which costs nothing here, instead of being copied only to be dropped.
 */
void pds_agent_capture_pause(PdsAgentCapture *capture);
void pds_agent_capture_resume(PdsAgentCapture *capture);
gboolean pds_agent_capture_is_paused(PdsAgentCapture *capture);
/* Let the analyzer end flows idle past their timeout (called from a timer). */
void pds_agent_capture_expire(PdsAgentCapture *capture);

gboolean
pds_agent_capture_get_stats(PdsAgentCapture *capture, PdsAgentCaptureStats *stats, GError **error);

const char *pds_agent_capture_get_interface(PdsAgentCapture *capture);
/* The filter given to the kernel (user filter and exclusion), or NULL. */
const char *pds_agent_capture_get_filter(PdsAgentCapture *capture);
guint16 pds_agent_capture_get_linktype(PdsAgentCapture *capture);
guint32 pds_agent_capture_get_snaplen(PdsAgentCapture *capture);

G_END_DECLS
