/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <string.h>

#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"
#include "pds-snoop-stream.h"
#include "pds-tls.h"
#include "pds-uplink.h"

struct _PdsSnoopStream {
	PdsUplink *uplink;
	PdsTlsIdentity *ca;
	PdsTlsIdentity *identity;
	gchar *host;
	gchar *source_id;
	gchar *pod;
	gchar *namespace;
	gchar *node;
	guint64 records;
	guint64 last_lost;
};

GBytes *
pds_snoop_access_to_record(const PdsSnoopAccess *a, const char *pod, const char *ns)
{
	g_autoptr(PdsRecordBuilder) b =
		pds_record_builder_new(PDS_RECORD_FILE_ACCESS, 0, a->timestamp_ns);

	pds_record_builder_add_string(b, PDS_FILE_SYSCALL, a->syscall);
	pds_record_builder_add_string(b, PDS_FILE_PATH, a->path);
	if (a->raw_path != NULL)
		pds_record_builder_add_string(b, PDS_FILE_RAW_PATH, a->raw_path);
	if (a->resolved_path != NULL)
		pds_record_builder_add_string(b, PDS_FILE_RESOLVED_PATH, a->resolved_path);
	pds_record_builder_add_u32(b, PDS_FILE_PID, a->pid);
	pds_record_builder_add_u32(b, PDS_FILE_TGID, a->tgid);
	if (a->comm != NULL)
		pds_record_builder_add_string(b, PDS_FILE_COMM, a->comm);
	pds_record_builder_add_u64(b, PDS_FILE_CGROUP_ID, a->cgroup_id);
	if (a->container_name != NULL)
		pds_record_builder_add_string(b, PDS_FILE_CONTAINER_NAME, a->container_name);
	if (a->container_id != NULL)
		pds_record_builder_add_string(b, PDS_FILE_CONTAINER_ID, a->container_id);
	pds_record_builder_add_u32(b, PDS_FILE_FLAGS, a->flags);
	pds_record_builder_add_u32(b, PDS_FILE_MODE, a->mode);
	if (a->has_result)
		pds_record_builder_add_i64(b, PDS_FILE_RESULT, a->result);
	if (a->path_status != 0)
		pds_record_builder_add_u32(b, PDS_FILE_PATH_STATUS, a->path_status);
	if (a->compat)
		pds_record_builder_add_u8(b, PDS_FILE_COMPAT, 1);
	pds_record_builder_add_u64(b, PDS_FILE_COUNT, a->count);
	if (pod != NULL)
		pds_record_builder_add_string(b, PDS_FILE_POD, pod);
	if (ns != NULL)
		pds_record_builder_add_string(b, PDS_FILE_NAMESPACE, ns);
	return pds_record_builder_end(g_steal_pointer(&b));
}

static GBytes *
pds_snoop_stream_source_record(PdsSnoopStream *stream, guint64 lost)
{
	g_autoptr(PdsRecordBuilder) b =
		pds_record_builder_new(PDS_RECORD_SOURCE, 0, (guint64)g_get_real_time() * 1000);

	pds_record_builder_add_string(b, PDS_SOURCE_ROLE, "snoop");
	pds_record_builder_add_string(b, PDS_SOURCE_VERSION, PACKAGE_VERSION);
	pds_record_builder_add_string(b, PDS_SOURCE_ID, stream->source_id);
	pds_record_builder_add_string(b, PDS_SOURCE_NAMESPACE, stream->namespace);
	pds_record_builder_add_string(b, PDS_SOURCE_POD, stream->pod);
	pds_record_builder_add_string(b, PDS_SOURCE_NODE, stream->node);
	pds_record_builder_add_u64(b, PDS_SOURCE_EVENTS_LOST, lost);
	return pds_record_builder_end(g_steal_pointer(&b));
}

static GBytes *
pds_snoop_stream_header(PdsSnoopStream *stream)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(PdsPcapngOptions) shb = pds_uplink_source_shb_options_new(
		"snoop", stream->source_id, stream->namespace, stream->pod, stream->node);
	g_autoptr(PdsPcapngOptions) idb = pds_pcapng_options_new();
	g_autoptr(GBytes) source = NULL;
	g_autofree gchar *if_name = g_strdup_printf("%s/%s/snoop", stream->namespace, stream->pod);
	g_autofree gchar *if_desc =
		g_strdup_printf("podscope-snoop %s on %s", PACKAGE_VERSION, stream->node);

	pds_pcapng_write_shb(out, shb);

	/* Records need an interface to belong to; the hub re-numbers it. */
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_NAME, if_name);
	pds_pcapng_options_add_string(idb, PDS_PCAPNG_IF_DESCRIPTION, if_desc);
	pds_pcapng_options_add_u8(idb, PDS_PCAPNG_IF_TSRESOL, 9);
	pds_pcapng_write_idb(out, PDS_LINKTYPE_WIRESHARK_UPPER_PDU, 0, idb);

	source = pds_snoop_stream_source_record(stream, 0);
	pds_record_write_custom_block(out, source);
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

PdsSnoopStream *
pds_snoop_stream_new(const PdsSnoopStreamConfig *config, GError **error)
{
	g_autoptr(PdsSnoopStream) stream = g_new0(PdsSnoopStream, 1);
	g_autoptr(GBytes) header = NULL;
	PdsUplinkConfig up = {0};
	const char *colon;
	guint64 port = 7443;

	g_return_val_if_fail(config->hub != NULL, NULL);

	if (config->ca == NULL || config->cert == NULL || config->key == NULL) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "streaming to the hub needs --ca, --cert and --key (or "
				    "SNOOP_CA, SNOOP_CERT and SNOOP_KEY)");
		return NULL;
	}
	colon = strrchr(config->hub, ':');
	if (colon == NULL || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "invalid SNOOP_HUB/--hub \"%s\": expected HOST:PORT", config->hub);
		return NULL;
	}
	stream->host = g_strndup(config->hub, colon - config->hub);
	stream->pod = g_strdup(config->pod != NULL ? config->pod : g_get_host_name());
	stream->namespace = g_strdup(config->namespace != NULL ? config->namespace : "local");
	stream->node = g_strdup(config->node != NULL ? config->node : g_get_host_name());
	stream->source_id =
		g_strdup_printf("snoop:%s/%s:%d", stream->namespace, stream->pod, (int)getpid());
	stream->ca = pds_tls_identity_new_trust_from_file(config->ca, error);
	if (stream->ca == NULL) {
		g_prefix_error(error, "cannot load the CA certificate %s: ", config->ca);
		return NULL;
	}
	stream->identity = pds_tls_identity_new_from_files(config->cert, config->key, error);
	if (stream->identity == NULL) {
		g_prefix_error(error, "cannot load the client certificate: ");
		return NULL;
	}
	header = pds_snoop_stream_header(stream);
	up.hub_host = stream->host;
	up.hub_port = (guint16)port;
	up.server_name = (gchar *)"podscope-hub";
	up.identity = stream->identity;
	up.ca = stream->ca;
	up.source_id = stream->source_id;
	up.spool_limit_bytes = 64 * 1024 * 1024;
	up.heartbeat_secs = 5;
	up.grace_secs = 0;
	stream->uplink = pds_uplink_new(&up, header);
	pds_uplink_start(stream->uplink);
	return g_steal_pointer(&stream);
}

void
pds_snoop_stream_free(PdsSnoopStream *stream)
{
	if (stream == NULL)
		return;
	g_clear_object(&stream->uplink);
	g_clear_pointer(&stream->identity, pds_tls_identity_free);
	g_clear_pointer(&stream->ca, pds_tls_identity_free);
	g_free(stream->host);
	g_free(stream->source_id);
	g_free(stream->pod);
	g_free(stream->namespace);
	g_free(stream->node);
	g_free(stream);
}

void
pds_snoop_stream_send_access(PdsSnoopStream *stream, const PdsSnoopAccess *access)
{
	g_autoptr(GBytes) record =
		pds_snoop_access_to_record(access, stream->pod, stream->namespace);
	g_autoptr(GByteArray) out = g_byte_array_new();

	pds_record_write_custom_block(out, record);
	pds_uplink_send_blocks(stream->uplink, out->data, out->len, 1);
	stream->records++;
}

void
pds_snoop_stream_send_lost(PdsSnoopStream *stream, guint64 events_lost)
{
	g_autoptr(GBytes) record = NULL;
	g_autoptr(GByteArray) out = NULL;

	if (events_lost == stream->last_lost)
		return;
	stream->last_lost = events_lost;
	record = pds_snoop_stream_source_record(stream, events_lost);
	out = g_byte_array_new();
	pds_record_write_custom_block(out, record);
	pds_uplink_send_blocks(stream->uplink, out->data, out->len, 1);
}

void
pds_snoop_stream_stop(PdsSnoopStream *stream)
{
	pds_uplink_stop(stream->uplink);
}

guint64
pds_snoop_stream_get_records(PdsSnoopStream *stream)
{
	return stream->records;
}

gboolean
pds_snoop_stream_is_connected(PdsSnoopStream *stream)
{
	return pds_uplink_is_connected(stream->uplink);
}

guint64
pds_snoop_stream_get_dropped_blocks(PdsSnoopStream *stream)
{
	return pds_uplink_get_dropped_blocks(stream->uplink);
}

guint64
pds_snoop_stream_get_spool_bytes(PdsSnoopStream *stream)
{
	return pds_uplink_get_spool_bytes(stream->uplink);
}
