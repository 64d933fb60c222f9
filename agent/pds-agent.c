/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsAgent"

#include "pds-agent.h"

#include <gio/gio.h>
#include <string.h>

#include "pds-agent-capture.h"
#include "pds-agent-netns.h"
#include "pds-join.h"
#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"
#include "pds-tls.h"
#include "pds-uplink.h"

struct _PdsAgent {
	GObject parent_instance;

	gchar *source_id;
	gchar *namespace_;
	gchar *pod;
	gchar *node;
	gchar *interface;
	gchar *hub_host;
	guint16 hub_port;
	guint stats_interval;
	guint64 start_ns;
	gsize spool_limit;

	PdsTlsIdentity *identity;
	PdsTlsIdentity *ca;
	PdsAgentCapture *capture;
	PdsUplink *uplink;
	guint stats_id;
	gboolean stopped;
	guint64 pauses; /* times the capture paused because the spool was full */
	guint64 pauses_reported;

	/* What the last SOURCE record said, to send a new one only on change. */
	gboolean source_sent;
	guint64 last_kernel_dropped;
	guint64 last_if_dropped;
	guint64 last_spool_dropped;

	GByteArray *scratch; /* statistics blocks; reused */
};

G_DEFINE_TYPE(PdsAgent, pds_agent, G_TYPE_OBJECT)

/* Room the last statistics blocks need in the spool, and how long to wait for it. */
#define PDS_AGENT_STATS_ROOM	    4096
#define PDS_AGENT_STOP_ROOM_WAIT_MS 3000

/*
 * Back-pressure: with less room than two capture batches left in the spool
 * the capture pauses, and resumes when the hub's acknowledgements have
 * emptied half of it. Meanwhile packets wait in the kernel's ring, which
 * drops what it cannot hold at no cost to us; copying every packet only for
 * the full spool to drop it took a third of the agent's CPU under bulk load.
 */
#define PDS_AGENT_PAUSE_ROOM (2u * 1024u * 1024u)

enum {
	SIGNAL_GIVEN_UP,
	SIGNAL_FAILED,
	SIGNAL_STOPPED,
	N_SIGNALS,
};
static guint signals[N_SIGNALS];

static guint64
pds_agent_now_ns(void)
{
	return (guint64)g_get_real_time() * 1000u;
}

const char *
pds_agent_get_source_id(PdsAgent *self)
{
	g_return_val_if_fail(PDS_IS_AGENT(self), NULL);
	return self->source_id;
}

const char *
pds_agent_get_filter(PdsAgent *self)
{
	g_return_val_if_fail(PDS_IS_AGENT(self), NULL);
	return pds_agent_capture_get_filter(self->capture);
}

/*
 * "tcp and host A and port P": the agent's own hub connection, which may
 * leave through the captured interface (in Kubernetes it does) and must not
 * be captured, or every packet sent would be captured again.
 */
static gchar *
pds_agent_make_exclude_filter(const char *host, guint16 port)
{
	g_autoptr(GString) hosts = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	GList *addrs = NULL;

	if (g_hostname_is_ip_address(host)) {
		g_string_append_printf(hosts, "host %s", host);
	} else {
		g_autoptr(GResolver) resolver = g_resolver_get_default();
		addrs = g_resolver_lookup_by_name(resolver, host, NULL, &error);
		if (addrs == NULL) {
			g_warning("cannot resolve hub %s (%s); its traffic is not excluded from "
				  "the capture",
				  host, error->message);
			return NULL;
		}
		for (GList *l = addrs; l != NULL; l = l->next) {
			g_autofree gchar *ip = g_inet_address_to_string(G_INET_ADDRESS(l->data));
			g_string_append_printf(hosts, "%shost %s", hosts->len > 0 ? " or " : "",
					       ip);
		}
		g_resolver_free_addresses(addrs);
	}
	return g_strdup_printf("tcp and (%s) and port %u", hosts->str, port);
}

static GBytes *
pds_agent_make_source_record(PdsAgent *self,
			     const PdsAgentCaptureStats *stats,
			     guint64 spool_dropped,
			     guint64 spool_bytes,
			     const char *message)
{
	g_autoptr(PdsRecordBuilder) b =
		pds_record_builder_new(PDS_RECORD_SOURCE, 0, pds_agent_now_ns());

	pds_record_builder_add_string(b, PDS_SOURCE_ROLE, "agent");
	pds_record_builder_add_string(b, PDS_SOURCE_VERSION, PACKAGE_VERSION);
	pds_record_builder_add_string(b, PDS_SOURCE_ID, self->source_id);
	pds_record_builder_add_string(b, PDS_SOURCE_NAMESPACE, self->namespace_);
	pds_record_builder_add_string(b, PDS_SOURCE_POD, self->pod);
	pds_record_builder_add_string(b, PDS_SOURCE_NODE, self->node);
	pds_record_builder_add_string(b, PDS_SOURCE_INTERFACE, self->interface);
	if (stats != NULL) {
		pds_record_builder_add_u64(b, PDS_SOURCE_KERNEL_RECEIVED, stats->received);
		pds_record_builder_add_u64(b, PDS_SOURCE_KERNEL_DROPPED, stats->dropped);
		pds_record_builder_add_u64(b, PDS_SOURCE_IF_DROPPED, stats->if_dropped);
		pds_record_builder_add_u64(b, PDS_SOURCE_SPOOL_DROPPED, spool_dropped);
		pds_record_builder_add_u64(b, PDS_SOURCE_SPOOL_BYTES, spool_bytes);
	}
	if (message != NULL)
		pds_record_builder_add_string(b, PDS_SOURCE_MESSAGE, message);
	return pds_record_builder_end(b);
}

static GBytes *
pds_agent_make_header_blocks(PdsAgent *self)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(PdsPcapngOptions) shb = pds_uplink_source_shb_options_new(
		"agent", self->source_id, self->namespace_, self->pod, self->node);
	g_autoptr(PdsPcapngOptions) idb = pds_pcapng_options_new();
	g_autoptr(GBytes) source = NULL;
	g_autofree gchar *if_name =
		g_strdup_printf("%s/%s/%s", self->namespace_, self->pod, self->interface);
	g_autofree gchar *if_desc =
		g_strdup_printf("podscope-agent %s on %s", PACKAGE_VERSION, self->node);
	const char *filter = pds_agent_capture_get_filter(self->capture);

	pds_pcapng_options_add_custom_kv(shb, "interface", self->interface);
	pds_pcapng_write_shb(out, shb);

	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_NAME, if_name);
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_DESCRIPTION, if_desc);
	pds_pcapng_options_add_u8(idb, PDS_PCAPNG_IF_TSRESOL, 9);
	if (filter != NULL) {
		/* if_filter: one byte of type (0 = libpcap filter string), then the string. */
		gsize len = strlen(filter);
		g_autofree guint8 *value = g_malloc(len + 1);
		value[0] = 0;
		memcpy(value + 1, filter, len);
		pds_pcapng_options_add(idb, PDS_PCAPNG_IF_FILTER, value,
				       (guint16)MIN(len + 1, (gsize)G_MAXUINT16));
	}
	pds_pcapng_write_idb(out, pds_agent_capture_get_linktype(self->capture),
			     pds_agent_capture_get_snaplen(self->capture), idb);

	source = pds_agent_make_source_record(self, NULL, 0, 0, NULL);
	pds_record_write_custom_block(out, source);
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

/* ISB (and a SOURCE record when a drop counter moved), sent as data blocks. */
static void
pds_agent_send_stats(PdsAgent *self)
{
	g_autofree gchar *message = NULL;
	g_autoptr(PdsPcapngOptions) isb = pds_pcapng_options_new();
	g_autoptr(GError) error = NULL;
	PdsAgentCaptureStats stats = {0};
	guint64 now = pds_agent_now_ns();
	guint64 spool_dropped = pds_uplink_get_dropped_blocks(self->uplink);
	guint64 saved_kernel_dropped, saved_if_dropped, saved_spool_dropped, saved_pauses_reported;
	gboolean saved_source_sent;
	guint n_blocks = 1;

	/* Packets waiting in the kernel go first, so the counters cover them
	 * (not while paused: the spool has no room for them). */
	if (!pds_agent_capture_is_paused(self->capture))
		pds_agent_capture_drain(self->capture);
	if (!pds_agent_capture_get_stats(self->capture, &stats, &error)) {
		g_warning("%s", error->message);
		return;
	}
	pds_pcapng_options_add_u64(isb, PDS_PCAPNG_ISB_STARTTIME, self->start_ns);
	pds_pcapng_options_add_u64(isb, PDS_PCAPNG_ISB_ENDTIME, now);
	pds_pcapng_options_add_u64(isb, PDS_PCAPNG_ISB_IFRECV, stats.received);
	pds_pcapng_options_add_u64(isb, PDS_PCAPNG_ISB_IFDROP, stats.if_dropped);
	pds_pcapng_options_add_u64(isb, PDS_PCAPNG_ISB_OSDROP, stats.dropped);
	pds_pcapng_options_add_u64(isb, PDS_PCAPNG_ISB_USRDELIV, stats.delivered);

	g_byte_array_set_size(self->scratch, 0);
	pds_pcapng_write_isb(self->scratch, 0, now, isb);

	saved_source_sent = self->source_sent;
	saved_kernel_dropped = self->last_kernel_dropped;
	saved_if_dropped = self->last_if_dropped;
	saved_spool_dropped = self->last_spool_dropped;
	saved_pauses_reported = self->pauses_reported;
	if (!self->source_sent || stats.dropped != self->last_kernel_dropped ||
	    stats.if_dropped != self->last_if_dropped ||
	    spool_dropped != self->last_spool_dropped) {
		g_autoptr(GBytes) record = NULL;
		/* Say in the capture itself why packets are missing. */
		if (stats.dropped > self->last_kernel_dropped &&
		    self->pauses > self->pauses_reported) {
			message = g_strdup_printf(
				"the kernel dropped %" G_GUINT64_FORMAT " packets on %s so far: "
				"the capture was paused while the spool was full (the hub is "
				"away or slower than the capture; raise --spool-limit)",
				stats.dropped, self->interface);
			g_warning("%s", message);
		} else if (stats.dropped > self->last_kernel_dropped) {
			message = g_strdup_printf("the kernel dropped %" G_GUINT64_FORMAT
						  " packets on %s so far: the capture buffer was "
						  "full (raise --buffer-size)",
						  stats.dropped, self->interface);
			g_warning("%s", message);
		} else if (spool_dropped > self->last_spool_dropped) {
			message = g_strdup_printf(
				"%" G_GUINT64_FORMAT " blocks dropped so far: the hub did not take "
				"them and the spool was full (raise --spool-limit)",
				spool_dropped);
		}
		record = pds_agent_make_source_record(self, &stats, spool_dropped,
						      pds_uplink_get_spool_bytes(self->uplink),
						      message);
		pds_record_write_custom_block(self->scratch, record);
		n_blocks++;
		self->source_sent = TRUE;
		self->last_kernel_dropped = stats.dropped;
		self->last_if_dropped = stats.if_dropped;
		self->last_spool_dropped = spool_dropped;
	}
	/* a pause ongoing now may still cost packets: keep it unreported */
	if (!pds_agent_capture_is_paused(self->capture))
		self->pauses_reported = self->pauses;
	pds_uplink_send_blocks(self->uplink, self->scratch->data, self->scratch->len, n_blocks);
	if (pds_uplink_get_dropped_blocks(self->uplink) > spool_dropped) {
		/* The spool was full: the counters must still reach the hub, next time. */
		self->source_sent = saved_source_sent;
		self->last_kernel_dropped = saved_kernel_dropped;
		self->last_if_dropped = saved_if_dropped;
		self->last_spool_dropped = saved_spool_dropped;
		self->pauses_reported = saved_pauses_reported;
	}
	g_debug("stats: recv %" G_GUINT64_FORMAT " drop %" G_GUINT64_FORMAT
		" ifdrop %" G_GUINT64_FORMAT " delivered %" G_GUINT64_FORMAT
		" spool %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT " blocks dropped",
		stats.received, stats.dropped, stats.if_dropped, stats.delivered,
		pds_uplink_get_spool_bytes(self->uplink), spool_dropped);
}

static gboolean
pds_agent_on_stats_timer(gpointer user_data)
{
	pds_agent_capture_expire(PDS_AGENT(user_data)->capture);
	pds_agent_send_stats(PDS_AGENT(user_data));
	return G_SOURCE_CONTINUE;
}

static void
pds_agent_pause_capture(PdsAgent *self)
{
	if (pds_agent_capture_is_paused(self->capture))
		return;
	pds_agent_capture_pause(self->capture);
	if (!pds_agent_capture_is_paused(self->capture))
		return; /* stopping: nothing to pause */
	if (self->pauses++ == 0)
		g_message("the spool is full (the hub %s:%u is away or slower than the capture): "
			  "capture paused until the hub has taken half of it; meanwhile packets "
			  "wait in the kernel's ring (--buffer-size), which drops and counts "
			  "what it cannot hold",
			  self->hub_host, self->hub_port);
	else
		g_debug("capture paused: the spool is full");
	pds_uplink_notify_room(self->uplink, self->spool_limit / 2);
}

static void
pds_agent_on_room(PdsUplink *uplink, gpointer user_data)
{
	PdsAgent *self = PDS_AGENT(user_data);

	if (self->stopped)
		return;
	g_debug("capture resumed: the spool has room again");
	pds_agent_capture_resume(self->capture);
}

static GByteArray *
pds_agent_on_batch(GByteArray *batch, guint n_blocks, gpointer user_data)
{
	PdsAgent *self = PDS_AGENT(user_data);
	guint64 dropped = pds_uplink_get_dropped_blocks(self->uplink);
	GByteArray *next = pds_uplink_send_batch(self->uplink, batch, n_blocks);
	gboolean full;

	/* a wake-up hands over its last batch here: send it in this iteration */
	pds_uplink_push(self->uplink);
	full = pds_uplink_get_dropped_blocks(self->uplink) > dropped ||
	       pds_uplink_get_spool_room(self->uplink) <
		       MIN(PDS_AGENT_PAUSE_ROOM, self->spool_limit / 4);
	/* only with more than half the spool waiting will acknowledgements
	 * ever bring it down to half and resume the capture */
	if (full && !self->stopped &&
	    pds_uplink_get_spool_bytes(self->uplink) > self->spool_limit / 2)
		pds_agent_pause_capture(self);
	return next;
}

static void
pds_agent_on_capture_failed(PdsAgentCapture *capture, const char *message, gpointer user_data)
{
	PdsAgent *self = PDS_AGENT(user_data);
	g_signal_emit(self, signals[SIGNAL_FAILED], 0, message);
}

static void
pds_agent_on_connected(PdsUplink *uplink, gpointer user_data)
{
	PdsAgent *self = PDS_AGENT(user_data);
	g_info("connected to hub %s:%u", self->hub_host, self->hub_port);
}

static void
pds_agent_on_disconnected(PdsUplink *uplink, const char *reason, gpointer user_data)
{
	PdsAgent *self = PDS_AGENT(user_data);
	if (self->stopped)
		return;
	g_message("lost hub %s:%u (%s); capturing into the spool (%" G_GUINT64_FORMAT
		  " bytes waiting) and reconnecting",
		  self->hub_host, self->hub_port, reason != NULL ? reason : "closed",
		  pds_uplink_get_spool_bytes(uplink));
}

static void
pds_agent_on_dropping(PdsUplink *uplink, guint64 total_dropped, gpointer user_data)
{
	PdsAgent *self = PDS_AGENT(user_data);
	g_warning("dropping captured packets: the hub %s:%u is away or slower than the capture, "
		  "and the spool is full "
		  "(%" G_GUINT64_FORMAT
		  " blocks dropped so far); raise --spool-limit or bring the hub back",
		  self->hub_host, self->hub_port, total_dropped);
}

static void
pds_agent_on_given_up(PdsUplink *uplink, gpointer user_data)
{
	PdsAgent *self = PDS_AGENT(user_data);
	g_signal_emit(self, signals[SIGNAL_GIVEN_UP], 0);
}

void
pds_agent_start(PdsAgent *self)
{
	g_return_if_fail(PDS_IS_AGENT(self));

	self->start_ns = pds_agent_now_ns();
	pds_uplink_start(self->uplink);
	pds_agent_capture_start(self->capture, pds_agent_on_batch, self);
	self->stats_id =
		g_timeout_add_seconds(self->stats_interval, pds_agent_on_stats_timer, self);
}

static gboolean
pds_agent_wake(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

/*
 * Before the last statistics: a spool full because the hub fell behind would
 * drop them, and with them the count of what was dropped. Let the hub catch
 * up a little (bounded) while nothing new is captured.
 */
static void
pds_agent_wait_for_spool_room(PdsAgent *self)
{
	gint64 deadline = g_get_monotonic_time() + PDS_AGENT_STOP_ROOM_WAIT_MS * 1000;
	guint wake_id;

	if (!pds_uplink_is_connected(self->uplink) ||
	    pds_uplink_get_spool_bytes(self->uplink) + PDS_AGENT_STATS_ROOM <= self->spool_limit)
		return;
	wake_id = g_timeout_add(20, pds_agent_wake, NULL);
	while (pds_uplink_is_connected(self->uplink) &&
	       pds_uplink_get_spool_bytes(self->uplink) + PDS_AGENT_STATS_ROOM >
		       self->spool_limit &&
	       g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(wake_id);
}

static void
pds_agent_emit_stopped(gpointer user_data)
{
	g_autoptr(PdsAgent) self = PDS_AGENT(user_data);
	g_signal_emit(self, signals[SIGNAL_STOPPED], 0);
}

void
pds_agent_stop(PdsAgent *self)
{
	g_return_if_fail(PDS_IS_AGENT(self));

	if (self->stopped)
		return;
	g_clear_handle_id(&self->stats_id, g_source_remove);
	pds_agent_capture_stop(self->capture);
	pds_agent_wait_for_spool_room(self);
	pds_agent_send_stats(self);
	self->stopped = TRUE;
	/* Waits, bounded, until the hub has acknowledged everything queued. */
	pds_uplink_stop(self->uplink);
	/* What an operator asks first after a capture: did everything arrive? */
	{
		PdsAgentCaptureStats stats;
		g_autoptr(GError) error = NULL;

		if (pds_agent_capture_get_stats(self->capture, &stats, &error))
			g_message("stopped: %" G_GUINT64_FORMAT
				  " packets captured, %" G_GUINT64_FORMAT
				  " dropped by the kernel; %" G_GUINT64_FORMAT
				  " blocks dropped because the spool was full, %" G_GUINT64_FORMAT
				  " not confirmed by the hub",
				  stats.delivered, stats.dropped,
				  pds_uplink_get_dropped_blocks(self->uplink),
				  pds_uplink_get_unconfirmed_blocks(self->uplink));
	}
	g_idle_add_once(pds_agent_emit_stopped, g_object_ref(self));
}

static gboolean
pds_agent_parse_hub(PdsAgent *self, const char *hub, GError **error)
{
	g_autoptr(GSocketConnectable) addr = NULL;
	g_autoptr(GError) parse_error = NULL;

	if (hub == NULL || hub[0] == '\0') {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "no hub given: use --hub HOST:PORT or PODSCOPE_HUB");
		return FALSE;
	}
	addr = g_network_address_parse(hub, PDS_AGENT_DEFAULT_HUB_PORT, &parse_error);
	if (addr == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "invalid hub address '%s': %s (expected HOST:PORT)", hub,
			    parse_error->message);
		return FALSE;
	}
	self->hub_host = g_strdup(g_network_address_get_hostname(G_NETWORK_ADDRESS(addr)));
	self->hub_port = g_network_address_get_port(G_NETWORK_ADDRESS(addr));
	if (self->hub_port == 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "invalid hub address '%s': port 0", hub);
		return FALSE;
	}
	return TRUE;
}

/* How long a join waits before trying again to reach a hub that is not up yet. */
#define PDS_AGENT_JOIN_RETRY_SECS 2

/*
 * Certificate files, or a join: an ephemeral container cannot mount the
 * files, so it proves itself with a single-use token and gets a certificate
 * in memory. The hub may still be starting: an unreachable hub is retried
 * until the grace period is over; a refused token is final.
 */
static gboolean
pds_agent_load_credentials(PdsAgent *self, const PdsAgentConfig *config, GError **error)
{
	if (config->cert_path == NULL && config->key_path == NULL && config->join_token != NULL) {
		PdsJoinRequest req = {0};
		gint64 deadline =
			g_get_monotonic_time() + (gint64)config->grace_secs * G_USEC_PER_SEC;

		if (config->ca_fingerprint == NULL) {
			g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
					    "joining the hub needs the session CA's fingerprint: "
					    "--ca-fingerprint or PODSCOPE_CA_FINGERPRINT");
			return FALSE;
		}
		req.hub_host = self->hub_host;
		req.hub_port = self->hub_port;
		req.token = config->join_token;
		req.ca_fingerprint = config->ca_fingerprint;
		req.namespace_ = self->namespace_;
		req.pod = self->pod;
		for (;;) {
			g_autoptr(GError) local = NULL;

			if (pds_join_run(&req, &self->identity, &self->ca, &local)) {
				g_info("joined the hub %s:%u as %s", self->hub_host, self->hub_port,
				       pds_tls_identity_get_common_name(self->identity));
				return TRUE;
			}
			if (local->domain != G_IO_ERROR || config->grace_secs == 0 ||
			    g_get_monotonic_time() >= deadline) {
				g_propagate_prefixed_error(error, g_steal_pointer(&local),
							   "cannot join the hub %s:%u: ",
							   self->hub_host, self->hub_port);
				return FALSE;
			}
			g_message("cannot join the hub %s:%u yet (%s); retrying", self->hub_host,
				  self->hub_port, local->message);
			g_usleep(PDS_AGENT_JOIN_RETRY_SECS * G_USEC_PER_SEC);
		}
	}
	if (config->ca_path == NULL || config->cert_path == NULL || config->key_path == NULL) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "the hub connection needs --ca, --cert and --key (or "
				    "PODSCOPE_CA, PODSCOPE_CERT, PODSCOPE_KEY), or a join token "
				    "(--join-token with --ca-fingerprint)");
		return FALSE;
	}
	self->ca = pds_tls_identity_new_trust_from_file(config->ca_path, error);
	if (self->ca == NULL) {
		g_prefix_error(error, "cannot load the CA certificate %s: ", config->ca_path);
		return FALSE;
	}
	self->identity =
		pds_tls_identity_new_from_files(config->cert_path, config->key_path, error);
	if (self->identity == NULL) {
		g_prefix_error(error, "cannot load the client certificate %s / key %s: ",
			       config->cert_path, config->key_path);
		return FALSE;
	}
	return TRUE;
}

PdsAgent *
pds_agent_new(const PdsAgentConfig *config, GError **error)
{
	g_autoptr(PdsAgent) self = NULL;
	g_autofree gchar *netns_path = NULL;
	g_autofree gchar *exclude = NULL;
	g_autofree gchar *uuid = NULL;
	g_autoptr(PdsJoinToken) token = NULL;
	g_autoptr(GBytes) header = NULL;
	PdsAgentCaptureConfig cap = {0};
	PdsUplinkConfig up = {0};

	g_return_val_if_fail(config != NULL, NULL);

	self = g_object_new(PDS_TYPE_AGENT, NULL);
	if (!pds_agent_parse_hub(self, config->hub, error))
		return NULL;

	if (config->netns != NULL && config->netns[0] != '\0') {
		netns_path = pds_agent_netns_resolve(config->netns, error);
		if (netns_path == NULL)
			return NULL;
	}

	/* A join token names the pod it was made for: the default identity. */
	if (config->join_token != NULL && config->cert_path == NULL) {
		token = pds_join_token_parse(config->join_token, error);
		if (token == NULL) {
			g_prefix_error(error, "invalid join token: ");
			return NULL;
		}
	}
	self->interface = g_strdup(config->interface != NULL ? config->interface : "eth0");
	self->node = g_strdup(config->node != NULL ? config->node : g_get_host_name());
	if (config->namespace_ != NULL)
		self->namespace_ = g_strdup(config->namespace_);
	else if (token != NULL)
		self->namespace_ = g_strdup(token->namespace_);
	else
		self->namespace_ = g_strdup("local");
	if (config->pod != NULL)
		self->pod = g_strdup(config->pod);
	else if (token != NULL)
		self->pod = g_strdup(token->pod);
	else if (config->netns != NULL && config->netns[0] != '\0')
		self->pod = pds_agent_netns_display_name(config->netns);
	else
		self->pod = g_strdup(g_get_host_name());
	uuid = g_uuid_string_random();
	self->source_id = g_strdup_printf("agent:%s/%s/%s:%s", self->namespace_, self->pod,
					  self->interface, uuid);
	self->stats_interval = config->stats_interval > 0 ? config->stats_interval
							  : PDS_AGENT_DEFAULT_STATS_INTERVAL;

	exclude = pds_agent_make_exclude_filter(self->hub_host, self->hub_port);
	cap.interface = self->interface;
	cap.netns_path = netns_path;
	cap.filter = config->filter;
	cap.exclude_filter = exclude;
	cap.snaplen = config->snaplen;
	cap.buffer_size = config->buffer_size;
	cap.buffer_timeout_ms = config->buffer_timeout_ms;
	cap.analyze = !config->no_analyze;
	cap.interface_id = 0;
	self->capture = pds_agent_capture_new(&cap, error);
	if (self->capture == NULL)
		return NULL;
	g_signal_connect(self->capture, "failed", G_CALLBACK(pds_agent_on_capture_failed), self);
	g_info("capturing on %s%s%s, linktype %u, snaplen %u, filter: %s", self->interface,
	       netns_path != NULL ? " in " : "", netns_path != NULL ? netns_path : "",
	       pds_agent_capture_get_linktype(self->capture),
	       pds_agent_capture_get_snaplen(self->capture),
	       pds_agent_capture_get_filter(self->capture) != NULL
		       ? pds_agent_capture_get_filter(self->capture)
		       : "(none)");

	/* After the capture: an unknown interface is the likelier mistake to report. */
	if (!pds_agent_load_credentials(self, config, error))
		return NULL;

	header = pds_agent_make_header_blocks(self);
	up.hub_host = self->hub_host;
	up.hub_port = self->hub_port;
	up.server_name = (gchar *)"podscope-hub";
	up.identity = self->identity;
	up.ca = self->ca;
	up.source_id = self->source_id;
	self->spool_limit =
		config->spool_limit > 0 ? config->spool_limit : PDS_AGENT_DEFAULT_SPOOL_LIMIT;
	up.spool_limit_bytes = self->spool_limit;
	up.heartbeat_secs = 5;
	up.grace_secs = config->grace_secs;
	self->uplink = pds_uplink_new(&up, header);
	g_signal_connect(self->uplink, "connected", G_CALLBACK(pds_agent_on_connected), self);
	g_signal_connect(self->uplink, "disconnected", G_CALLBACK(pds_agent_on_disconnected), self);
	g_signal_connect(self->uplink, "dropping", G_CALLBACK(pds_agent_on_dropping), self);
	g_signal_connect(self->uplink, "room", G_CALLBACK(pds_agent_on_room), self);
	g_signal_connect(self->uplink, "given-up", G_CALLBACK(pds_agent_on_given_up), self);
	return g_steal_pointer(&self);
}

static void
pds_agent_finalize(GObject *object)
{
	PdsAgent *self = PDS_AGENT(object);

	g_clear_handle_id(&self->stats_id, g_source_remove);
	if (self->uplink != NULL)
		g_signal_handlers_disconnect_by_data(self->uplink, self);
	if (self->capture != NULL)
		g_signal_handlers_disconnect_by_data(self->capture, self);
	g_clear_object(&self->uplink);
	g_clear_object(&self->capture);
	g_clear_pointer(&self->identity, pds_tls_identity_free);
	g_clear_pointer(&self->ca, pds_tls_identity_free);
	g_clear_pointer(&self->scratch, g_byte_array_unref);
	g_free(self->source_id);
	g_free(self->namespace_);
	g_free(self->pod);
	g_free(self->node);
	g_free(self->interface);
	g_free(self->hub_host);
	G_OBJECT_CLASS(pds_agent_parent_class)->finalize(object);
}

static void
pds_agent_class_init(PdsAgentClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = pds_agent_finalize;

	signals[SIGNAL_GIVEN_UP] =
		g_signal_new("given-up", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 0);
	signals[SIGNAL_FAILED] = g_signal_new("failed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
					      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
	signals[SIGNAL_STOPPED] =
		g_signal_new("stopped", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
			     NULL, G_TYPE_NONE, 0);
}

static void
pds_agent_init(PdsAgent *self)
{
	self->scratch = g_byte_array_new();
}
