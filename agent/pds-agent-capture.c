/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsAgent"

#include "pds-agent-capture.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <string.h>

#include "pds-agent-netns.h"
#include "pds-fd-watch.h"
#include "pds-analyzer.h"
#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(pcap_t, pcap_close)

/*
 * One wake-up hands on at most this much: enough to amortise the send, small
 * enough that a flood cannot starve the rest of the main loop (acks,
 * heartbeats, statistics).
 */
#define PDS_AGENT_CAPTURE_DISPATCH_PACKETS 64
#define PDS_AGENT_CAPTURE_BATCH_BYTES	   (1024u * 1024u)
/*
 * How long a drain may go on emptying the ring: short before statistics (a
 * flood that outruns us must not hold the main loop), long at the stop (what
 * is left behind then is lost without any counter saying so).
 */
#define PDS_AGENT_CAPTURE_DRAIN_USEC	  (100 * 1000)
#define PDS_AGENT_CAPTURE_STOP_DRAIN_USEC (5 * 1000 * 1000)

struct _PdsAgentCapture {
	GObject parent_instance;

	pcap_t *pcap;
	gchar *interface;
	gchar *filter; /* what the kernel runs */
	guint16 linktype;
	guint32 snaplen;
	guint32 interface_id;
	int fd;
	guint buffer_timeout_ms;
	guint watch_id;
	gboolean paused;  /* started, but the ring is not read for now */
	gboolean stopped; /* pds_agent_capture_stop() ran: no resuming */
	gboolean failed;

	GByteArray *batch; /* of EPBs; reused across wake-ups */
	guint batch_blocks;
	PdsAgentCaptureBatchFunc func;
	gpointer func_data;

	guint64 delivered;
	guint64 bytes;

	PdsAnalyzer *analyzer; /* NULL with analysis off */
	guint64 records;
};

G_DEFINE_TYPE(PdsAgentCapture, pds_agent_capture, G_TYPE_OBJECT)

enum {
	SIGNAL_FAILED,
	N_SIGNALS,
};
static guint signals[N_SIGNALS];

static void pds_agent_capture_flush(PdsAgentCapture *self);

static void
pds_agent_capture_on_packet(u_char *user, const struct pcap_pkthdr *hdr, const u_char *bytes)
{
	PdsAgentCapture *self = (PdsAgentCapture *)user;
	/* Nanosecond precision: tv_usec holds nanoseconds. */
	guint64 ts =
		(guint64)hdr->ts.tv_sec * G_GUINT64_CONSTANT(1000000000) + (guint64)hdr->ts.tv_usec;

	pds_pcapng_write_epb(self->batch, self->interface_id, ts, bytes, hdr->caplen, hdr->len,
			     NULL);
	self->batch_blocks++;
	self->delivered++;
	self->bytes += hdr->caplen;
	if (self->analyzer != NULL)
		pds_analyzer_process(self->analyzer, self->linktype, ts, bytes, hdr->caplen,
				     hdr->len);
	/* Hand over a full batch at once: 64 GSO frames of 64 KiB would make
	 * batches of 4 MiB, and buffers that grow are new memory to fault in. */
	if (self->batch->len >= PDS_AGENT_CAPTURE_BATCH_BYTES)
		pds_agent_capture_flush(self);
}

/* Analyzer records join the batch right after the packet that completed them. */
static void
pds_agent_capture_on_record(GBytes *record, gpointer user_data)
{
	PdsAgentCapture *self = user_data;

	pds_record_write_custom_block(self->batch, record);
	self->batch_blocks++;
	self->records++;
}

static void
pds_agent_capture_flush(PdsAgentCapture *self)
{
	if (self->batch_blocks == 0)
		return;
	if (self->func != NULL)
		self->batch = self->func(self->batch, self->batch_blocks, self->func_data);
	g_byte_array_set_size(self->batch, 0);
	self->batch_blocks = 0;
}

/*
 * Returns FALSE when the capture failed (the "failed" signal was emitted).
 * With TPACKET_V3 one pcap_dispatch() call ends at the end of a ring block,
 * however many blocks are ready: a wake-up takes what the first calls give
 * (poll() wakes us again for the rest), but with a @drain_usec budget it
 * goes on until the ring has nothing more (or the budget is spent), so a stop
 * leaves no packet behind that the kernel counted as received.
 */
static gboolean
pds_agent_capture_dispatch(PdsAgentCapture *self, gint64 drain_usec)
{
	gboolean until_empty = drain_usec > 0;
	gint64 deadline = until_empty ? g_get_monotonic_time() + drain_usec : 0;
	/* on_packet hands over each full batch itself; a wake-up still ends
	 * after one batch's worth, so a flood cannot hold the main loop */
	guint64 bytes_at_start = self->bytes;

	for (;;) {
		int n = pcap_dispatch(self->pcap, PDS_AGENT_CAPTURE_DISPATCH_PACKETS,
				      pds_agent_capture_on_packet, (u_char *)self);
		if (n < 0) {
			g_autofree gchar *msg = NULL;
			pds_agent_capture_flush(self);
			if (n == PCAP_ERROR_BREAK)
				return TRUE;
			msg = g_strdup_printf("capture on %s failed: %s", self->interface,
					      pcap_geterr(self->pcap));
			self->failed = TRUE;
			g_signal_emit(self, signals[SIGNAL_FAILED], 0, msg);
			return FALSE;
		}
		if (until_empty) {
			/* paused meanwhile: the rest waits in the ring (a stop takes all) */
			if (n == 0 || g_get_monotonic_time() >= deadline ||
			    (self->paused && !self->stopped))
				break;
			continue;
		}
		if (n < PDS_AGENT_CAPTURE_DISPATCH_PACKETS || self->paused ||
		    self->bytes - bytes_at_start >= PDS_AGENT_CAPTURE_BATCH_BYTES)
			break;
	}
	pds_agent_capture_flush(self);
	return TRUE;
}

static gboolean
pds_agent_capture_on_readable(gint fd, GIOCondition condition, gpointer user_data)
{
	PdsAgentCapture *self = PDS_AGENT_CAPTURE(user_data);

	if (!pds_agent_capture_dispatch(self, 0)) {
		self->watch_id = 0;
		return G_SOURCE_REMOVE;
	}
	if (condition & (G_IO_ERR | G_IO_HUP | G_IO_NVAL)) {
		g_autofree gchar *msg = g_strdup_printf(
			"capture on %s failed: the interface went away or down", self->interface);
		self->failed = TRUE;
		self->watch_id = 0;
		g_signal_emit(self, signals[SIGNAL_FAILED], 0, msg);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

void
pds_agent_capture_start(PdsAgentCapture *self, PdsAgentCaptureBatchFunc func, gpointer user_data)
{
	g_return_if_fail(PDS_IS_AGENT_CAPTURE(self));
	g_return_if_fail(self->watch_id == 0);

	self->func = func;
	self->func_data = user_data;
	self->stopped = FALSE;
	self->paused = FALSE;
	self->watch_id = pds_fd_watch_add(self->fd, G_IO_IN | G_IO_ERR | G_IO_HUP,
					  pds_agent_capture_on_readable, self);
}

void
pds_agent_capture_pause(PdsAgentCapture *self)
{
	g_return_if_fail(PDS_IS_AGENT_CAPTURE(self));
	if (self->watch_id == 0 || self->stopped)
		return;
	g_clear_handle_id(&self->watch_id, g_source_remove);
	self->paused = TRUE;
}

void
pds_agent_capture_resume(PdsAgentCapture *self)
{
	g_return_if_fail(PDS_IS_AGENT_CAPTURE(self));
	if (!self->paused || self->failed || self->stopped)
		return;
	self->paused = FALSE;
	self->watch_id = pds_fd_watch_add(self->fd, G_IO_IN | G_IO_ERR | G_IO_HUP,
					  pds_agent_capture_on_readable, self);
}

gboolean
pds_agent_capture_is_paused(PdsAgentCapture *self)
{
	g_return_val_if_fail(PDS_IS_AGENT_CAPTURE(self), FALSE);
	return self->paused;
}

void
pds_agent_capture_drain(PdsAgentCapture *self)
{
	g_return_if_fail(PDS_IS_AGENT_CAPTURE(self));
	if (self->failed)
		return;
	pds_agent_capture_dispatch(self, PDS_AGENT_CAPTURE_DRAIN_USEC);
}

void
pds_agent_capture_expire(PdsAgentCapture *self)
{
	g_return_if_fail(PDS_IS_AGENT_CAPTURE(self));
	if (self->analyzer == NULL)
		return;
	pds_analyzer_expire(self->analyzer, (guint64)g_get_real_time() * 1000u);
	pds_agent_capture_flush(self);
}

void
pds_agent_capture_stop(PdsAgentCapture *self)
{
	g_return_if_fail(PDS_IS_AGENT_CAPTURE(self));
	/*
	 * The kernel hands a partly filled block over only when its timeout
	 * runs out: wait for that, so the last packets are not left behind.
	 */
	if (self->buffer_timeout_ms > 0 && !self->failed)
		g_usleep(MIN(self->buffer_timeout_ms + 2u, 1000u) * 1000u);
	self->stopped = TRUE;
	if (!self->failed)
		pds_agent_capture_dispatch(self, PDS_AGENT_CAPTURE_STOP_DRAIN_USEC);
	g_clear_handle_id(&self->watch_id, g_source_remove);
	self->paused = FALSE;
	/* Flows still open are summed up as they stand. */
	if (self->analyzer != NULL) {
		pds_analyzer_flush(self->analyzer);
		pds_agent_capture_flush(self);
	}
}

gboolean
pds_agent_capture_get_stats(PdsAgentCapture *self, PdsAgentCaptureStats *stats, GError **error)
{
	struct pcap_stat ps = {0};

	g_return_val_if_fail(PDS_IS_AGENT_CAPTURE(self), FALSE);
	g_return_val_if_fail(stats != NULL, FALSE);

	if (pcap_stats(self->pcap, &ps) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "cannot read capture statistics of %s: %s", self->interface,
			    pcap_geterr(self->pcap));
		return FALSE;
	}
	stats->received = ps.ps_recv;
	stats->dropped = ps.ps_drop;
	stats->if_dropped = ps.ps_ifdrop;
	stats->delivered = self->delivered;
	stats->bytes = self->bytes;
	stats->records = self->records;
	return TRUE;
}

const char *
pds_agent_capture_get_interface(PdsAgentCapture *self)
{
	g_return_val_if_fail(PDS_IS_AGENT_CAPTURE(self), NULL);
	return self->interface;
}

const char *
pds_agent_capture_get_filter(PdsAgentCapture *self)
{
	g_return_val_if_fail(PDS_IS_AGENT_CAPTURE(self), NULL);
	return self->filter;
}

guint16
pds_agent_capture_get_linktype(PdsAgentCapture *self)
{
	g_return_val_if_fail(PDS_IS_AGENT_CAPTURE(self), 0);
	return self->linktype;
}

guint32
pds_agent_capture_get_snaplen(PdsAgentCapture *self)
{
	g_return_val_if_fail(PDS_IS_AGENT_CAPTURE(self), 0);
	return self->snaplen;
}

/*
 * Interfaces of the calling thread's network namespace. if_nameindex() asks
 * the kernel over a socket of this thread's namespace, where sysfs and
 * /proc/self/net would still describe the namespace of the process.
 */
static gchar *
pds_agent_capture_describe_interfaces(void)
{
	g_autoptr(GString) str = g_string_new(NULL);
	struct if_nameindex *ifs = if_nameindex();

	if (ifs != NULL) {
		for (struct if_nameindex *i = ifs; i->if_index != 0 && i->if_name != NULL; i++) {
			if (str->len > 0)
				g_string_append(str, ", ");
			g_string_append(str, i->if_name);
		}
		if_freenameindex(ifs);
	}
	if (str->len > 0)
		g_string_append(str, ", ");
	g_string_append(str, "any");
	return g_string_free(g_steal_pointer(&str), FALSE);
}

/* Link-layer header types whose DLT_ value differs from their LINKTYPE_ value. */
static guint16
pds_agent_capture_dlt_to_linktype(int dlt)
{
	switch (dlt) {
	case DLT_RAW:
#ifdef DLT_RAW_ALT
	case DLT_RAW_ALT:
#endif
		return PDS_LINKTYPE_RAW;
	default:
		return (guint16)dlt;
	}
}

static gboolean
pds_agent_capture_compile(pcap_t *pcap,
			  const char *interface,
			  const char *filter,
			  const char *what,
			  struct bpf_program *prog,
			  GError **error)
{
	if (pcap_compile(pcap, prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "invalid %s \"%s\" on %s: %s; see pcap-filter(7)", what, filter,
			    interface, pcap_geterr(pcap));
		return FALSE;
	}
	return TRUE;
}

/* Everything that must run inside the capture's network namespace. */
static gboolean
pds_agent_capture_open(PdsAgentCapture *self,
		       const PdsAgentCaptureConfig *config,
		       const char *where,
		       GError **error)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	g_autoptr(pcap_t) pcap = NULL;
	int rc;

	pcap = pcap_create(config->interface, errbuf);
	if (pcap == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "cannot create a capture on %s%s: %s", config->interface, where,
			    errbuf);
		return FALSE;
	}
	if (pcap_set_snaplen(pcap, (int)self->snaplen) != 0 ||
	    (config->buffer_timeout_ms == 0
		     ? pcap_set_immediate_mode(pcap, 1)
		     : pcap_set_timeout(
			       pcap, (int)MIN(config->buffer_timeout_ms, (guint)G_MAXINT))) != 0 ||
	    pcap_set_buffer_size(pcap, config->buffer_size > 0
					       ? (int)MIN(config->buffer_size, (guint32)G_MAXINT)
					       : (int)PDS_AGENT_CAPTURE_DEFAULT_BUFFER_SIZE) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "cannot configure the capture on %s%s: %s", config->interface, where,
			    pcap_geterr(pcap));
		return FALSE;
	}
	if (pcap_set_tstamp_precision(pcap, PCAP_TSTAMP_PRECISION_NANO) != 0)
		g_warning("nanosecond timestamps not supported on %s%s; using microseconds",
			  config->interface, where);

	rc = pcap_activate(pcap);
	if (rc == PCAP_ERROR_NO_SUCH_DEVICE) {
		g_autofree gchar *existing = pds_agent_capture_describe_interfaces();
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "no interface '%s'%s; interfaces there: %s", config->interface, where,
			    existing);
		return FALSE;
	}
	if (rc < 0) {
		const char *detail = pcap_geterr(pcap);
		g_set_error(error, G_IO_ERROR,
			    rc == PCAP_ERROR_PERM_DENIED ? G_IO_ERROR_PERMISSION_DENIED
							 : G_IO_ERROR_FAILED,
			    "cannot start capturing on %s%s: %s%s%s%s", config->interface, where,
			    pcap_statustostr(rc), detail != NULL && detail[0] != '\0' ? " (" : "",
			    detail != NULL ? detail : "",
			    detail != NULL && detail[0] != '\0' ? ")" : "");
		if (rc == PCAP_ERROR_PERM_DENIED)
			g_prefix_error(error, "%s", "capturing needs CAP_NET_RAW: ");
		return FALSE;
	}
	if (rc > 0)
		g_warning("capture on %s%s: %s (%s)", config->interface, where,
			  pcap_statustostr(rc), pcap_geterr(pcap));

	/* The user's filter alone first, so a mistake is reported in their words. */
	if (config->filter != NULL && config->filter[0] != '\0') {
		struct bpf_program prog;
		if (!pds_agent_capture_compile(pcap, config->interface, config->filter,
					       "capture filter", &prog, error))
			return FALSE;
		pcap_freecode(&prog);
	}
	if (config->exclude_filter != NULL && config->exclude_filter[0] != '\0') {
		if (config->filter != NULL && config->filter[0] != '\0')
			self->filter = g_strdup_printf("(%s) and not (%s)", config->filter,
						       config->exclude_filter);
		else
			self->filter = g_strdup_printf("not (%s)", config->exclude_filter);
	} else if (config->filter != NULL && config->filter[0] != '\0') {
		self->filter = g_strdup(config->filter);
	}
	if (self->filter != NULL) {
		struct bpf_program prog;
		if (!pds_agent_capture_compile(pcap, config->interface, self->filter,
					       "capture filter", &prog, error))
			return FALSE;
		rc = pcap_setfilter(pcap, &prog);
		pcap_freecode(&prog);
		if (rc != 0) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "cannot install the capture filter on %s%s: %s",
				    config->interface, where, pcap_geterr(pcap));
			return FALSE;
		}
	}

	if (pcap_setnonblock(pcap, 1, errbuf) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "cannot make the capture on %s non-blocking: %s", config->interface,
			    errbuf);
		return FALSE;
	}
	self->fd = pcap_get_selectable_fd(pcap);
	if (self->fd < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "the capture on %s has no pollable descriptor", config->interface);
		return FALSE;
	}
	self->linktype = pds_agent_capture_dlt_to_linktype(pcap_datalink(pcap));
	self->snaplen = (guint32)pcap_snapshot(pcap);
	self->pcap = g_steal_pointer(&pcap);
	return TRUE;
}

PdsAgentCapture *
pds_agent_capture_new(const PdsAgentCaptureConfig *config, GError **error)
{
	g_autoptr(PdsAgentCapture) self = NULL;
	g_autofree gchar *where = NULL;
	GError *open_error = NULL;
	int saved_ns = -1;
	gboolean ok;

	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(config->interface != NULL, NULL);

	self = g_object_new(PDS_TYPE_AGENT_CAPTURE, NULL);
	self->interface = g_strdup(config->interface);
	self->interface_id = config->interface_id;
	self->buffer_timeout_ms = config->buffer_timeout_ms;
	self->snaplen = config->snaplen > 0 ? config->snaplen : PDS_AGENT_CAPTURE_DEFAULT_SNAPLEN;

	if (config->netns_path != NULL) {
		where = g_strdup_printf(" in network namespace %s", config->netns_path);
		saved_ns = pds_agent_netns_enter(config->netns_path, error);
		if (saved_ns < 0)
			return NULL;
	} else {
		where = g_strdup("");
	}
	ok = pds_agent_capture_open(self, config, where, &open_error);
	if (saved_ns >= 0) {
		g_autoptr(GError) leave_error = NULL;
		if (!pds_agent_netns_leave(saved_ns, &leave_error)) {
			/* Staying in the wrong namespace would send hub traffic from there. */
			g_clear_error(&open_error);
			g_propagate_error(error, g_steal_pointer(&leave_error));
			return NULL;
		}
	}
	if (!ok) {
		g_propagate_error(error, open_error);
		return NULL;
	}
	if (config->analyze) {
		PdsAnalyzerConfig acfg;
		pds_analyzer_config_init(&acfg);
		acfg.interface_id = config->interface_id;
		/* Stream ids of different agents must not collide in one session. */
		acfg.stream_id_base = (guint64)g_random_int() << 32;
		self->analyzer = pds_analyzer_new(&acfg, pds_agent_capture_on_record, self);
	}
	return g_steal_pointer(&self);
}

static void
pds_agent_capture_finalize(GObject *object)
{
	PdsAgentCapture *self = PDS_AGENT_CAPTURE(object);

	g_clear_handle_id(&self->watch_id, g_source_remove);
	g_clear_pointer(&self->pcap, pcap_close);
	g_clear_pointer(&self->analyzer, pds_analyzer_free);
	g_clear_pointer(&self->batch, g_byte_array_unref);
	g_free(self->interface);
	g_free(self->filter);
	G_OBJECT_CLASS(pds_agent_capture_parent_class)->finalize(object);
}

static void
pds_agent_capture_class_init(PdsAgentCaptureClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = pds_agent_capture_finalize;

	/* The capture stopped for good (interface gone, socket error); the string says why. */
	signals[SIGNAL_FAILED] = g_signal_new("failed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
					      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
pds_agent_capture_init(PdsAgentCapture *self)
{
	self->fd = -1;
	/* Room for one full batch up front: the steady state never reallocates. */
	self->batch = g_byte_array_sized_new(PDS_AGENT_CAPTURE_BATCH_BYTES + 320u * 1024u);
}
