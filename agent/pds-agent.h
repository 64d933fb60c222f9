/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podscope-agent: one capture streamed to the hub. Ties a PdsAgentCapture to a
 * PdsUplink, describes the source in the header blocks (SHB, IDB, SOURCE
 * record) and sends Interface Statistics Blocks on a timer.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define PDS_AGENT_DEFAULT_HUB_PORT	 7443
#define PDS_AGENT_DEFAULT_SPOOL_LIMIT	 (64u * 1024u * 1024u)
#define PDS_AGENT_DEFAULT_GRACE_SECS	 60
#define PDS_AGENT_DEFAULT_STATS_INTERVAL 2
/*
 * Packets are handed over in blocks at least every 10 ms rather than one by
 * one (immediate mode): measured on veth with GSO, immediate mode costs about
 * five times the CPU per packet, and its ring of fixed 64 KiB slots holds only
 * about a thousand packets in 64 MiB. 10 ms keeps the latency target.
 */
#define PDS_AGENT_DEFAULT_BUFFER_TIMEOUT_MS 10

#define PDS_TYPE_AGENT (pds_agent_get_type())
G_DECLARE_FINAL_TYPE(PdsAgent, pds_agent, PDS, AGENT, GObject)

typedef struct {
	const char *hub;       /* HOST:PORT */
	const char *ca_path;   /* session CA certificate (PEM) */
	const char *cert_path; /* client certificate (PEM) */
	const char *key_path;  /* its private key (PEM) */
	/*
	 * Without certificate files: join the hub with a single-use token and
	 * the session CA's fingerprint ("sha256:<hex>") to get a certificate.
	 */
	const char *join_token;
	const char *ca_fingerprint;
	const char *interface;	 /* NULL = "eth0" */
	const char *netns;	 /* NAME or nsfs path, or NULL */
	const char *filter;	 /* BPF, or NULL */
	guint32 snaplen;	 /* 0 = default */
	guint32 buffer_size;	 /* 0 = default */
	guint buffer_timeout_ms; /* 0 = immediate mode */
	gboolean no_analyze;	 /* packets only, no flow records */
	gsize spool_limit;	 /* 0 = default */
	guint grace_secs;	 /* give up after this long without a hub */
	guint stats_interval;	 /* seconds between statistics; 0 = default */
	const char *namespace_;	 /* identity; NULL = "local" */
	const char *pod;	 /* NULL = netns name or host name */
	const char *node;	 /* NULL = host name */
} PdsAgentConfig;

/* Loads the credentials, resolves the hub, and opens the capture. */
PdsAgent *pds_agent_new(const PdsAgentConfig *config, GError **error);
void pds_agent_start(PdsAgent *agent);
/*
 * Delivers what the kernel holds, sends final statistics, waits (bounded by
 * the uplink) until the hub has acknowledged everything and says goodbye.
 * "stopped" is emitted from the main loop afterwards.
 */
void pds_agent_stop(PdsAgent *agent);

const char *pds_agent_get_source_id(PdsAgent *agent);
const char *pds_agent_get_filter(PdsAgent *agent);

/*
 * Signals:
 *  "given-up" ()             the hub was gone longer than the grace period
 *  "failed" (const char *)   the capture broke; the agent cannot continue
 *  "stopped" ()              after pds_agent_stop(): the uplink has flushed and closed
 */

G_END_DECLS
