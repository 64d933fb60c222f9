/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-source.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "pds-record-codec.h"

#define PDS_HUB_IF_UNMAPPED G_MAXUINT32

struct _PdsHubSourceTable {
	GHashTable *by_id; /* source_id -> PdsHubSource */
	GPtrArray *order;  /* of PdsHubSource (borrowed), seen sources in order */
};

static void
pds_hub_source_free(PdsHubSource *source)
{
	g_free(source->source_id);
	g_free(source->role);
	g_free(source->namespace_);
	g_free(source->pod);
	g_free(source->node);
	g_free(source->version);
	g_free(source->interface);
	g_free(source->peer);
	g_array_unref(source->if_map);
	g_free(source);
}

PdsHubSourceTable *
pds_hub_source_table_new(void)
{
	PdsHubSourceTable *table = g_new0(PdsHubSourceTable, 1);
	table->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					     (GDestroyNotify)pds_hub_source_free);
	table->order = g_ptr_array_new();
	return table;
}

void
pds_hub_source_table_free(PdsHubSourceTable *table)
{
	if (table == NULL)
		return;
	g_ptr_array_unref(table->order);
	g_hash_table_unref(table->by_id);
	g_free(table);
}

PdsHubSource *
pds_hub_source_table_lookup(PdsHubSourceTable *table, const char *source_id)
{
	g_return_val_if_fail(table != NULL, NULL);
	return g_hash_table_lookup(table->by_id, source_id);
}

PdsHubSource *
pds_hub_source_table_ensure(PdsHubSourceTable *table,
			    const char *source_id,
			    guint64 stored_seq,
			    gboolean *created)
{
	PdsHubSource *source;

	g_return_val_if_fail(table != NULL, NULL);
	g_return_val_if_fail(source_id != NULL, NULL);

	source = g_hash_table_lookup(table->by_id, source_id);
	if (created != NULL)
		*created = source == NULL;
	if (source == NULL) {
		source = g_new0(PdsHubSource, 1);
		source->source_id = g_strdup(source_id);
		source->stored_seq = stored_seq;
		source->if_map = g_array_new(FALSE, FALSE, sizeof(guint32));
		g_hash_table_insert(table->by_id, source->source_id, source);
	}
	if (!source->seen) {
		source->seen = TRUE;
		g_ptr_array_add(table->order, source);
	}
	return source;
}

GPtrArray *
pds_hub_source_table_list(PdsHubSourceTable *table)
{
	g_return_val_if_fail(table != NULL, NULL);
	return table->order;
}

void
pds_hub_source_set_string(gchar **field, const char *value)
{
	if (value == NULL || value[0] == '\0' || g_strcmp0(*field, value) == 0)
		return;
	g_free(*field);
	*field = g_strdup(value);
}

static void
pds_hub_source_take_string(gchar **field, gchar *value)
{
	pds_hub_source_set_string(field, value);
	g_free(value);
}

void
pds_hub_source_update_from_record(PdsHubSource *source, const guint8 *record, gsize len)
{
	PdsRecordIter iter;
	PdsRecordHeader header;
	guint16 code;
	const guint8 *value;
	guint16 vlen;
	g_autoptr(GError) error = NULL;

	if (!pds_record_iter_init(&iter, record, len, &header, &error)) {
		g_debug("source record of %s unreadable: %s", source->source_id, error->message);
		return;
	}
	while (pds_record_iter_next(&iter, &code, &value, &vlen, &error)) {
		guint64 u64 = 0;
		switch (code) {
		case PDS_SOURCE_ROLE:
			pds_hub_source_take_string(&source->role,
						   pds_record_value_dup_string(value, vlen));
			break;
		case PDS_SOURCE_VERSION:
			pds_hub_source_take_string(&source->version,
						   pds_record_value_dup_string(value, vlen));
			break;
		case PDS_SOURCE_NAMESPACE:
			pds_hub_source_take_string(&source->namespace_,
						   pds_record_value_dup_string(value, vlen));
			break;
		case PDS_SOURCE_POD:
			pds_hub_source_take_string(&source->pod,
						   pds_record_value_dup_string(value, vlen));
			break;
		case PDS_SOURCE_NODE:
			pds_hub_source_take_string(&source->node,
						   pds_record_value_dup_string(value, vlen));
			break;
		case PDS_SOURCE_INTERFACE:
			pds_hub_source_take_string(&source->interface,
						   pds_record_value_dup_string(value, vlen));
			break;
		case PDS_SOURCE_KERNEL_DROPPED:
			if (pds_record_value_u64(value, vlen, &u64))
				source->kernel_drops = MAX(source->kernel_drops, u64);
			break;
		case PDS_SOURCE_IF_DROPPED:
			if (pds_record_value_u64(value, vlen, &u64))
				source->if_drops = MAX(source->if_drops, u64);
			break;
		case PDS_SOURCE_SPOOL_DROPPED:
			if (pds_record_value_u64(value, vlen, &u64))
				source->spool_drops = MAX(source->spool_drops, u64);
			break;
		case PDS_SOURCE_EVENTS_LOST:
			if (pds_record_value_u64(value, vlen, &u64))
				source->events_lost = MAX(source->events_lost, u64);
			break;
		default:
			break;
		}
	}
	if (error != NULL)
		g_debug("source record of %s: %s", source->source_id, error->message);
}

void
pds_hub_source_add_interface_name(PdsHubSource *source, const char *if_name)
{
	const char *base;
	g_auto(GStrv) have = NULL;
	g_autofree gchar *joined = NULL;

	if (if_name == NULL || if_name[0] == '\0')
		return;
	base = strrchr(if_name, '/');
	base = base != NULL ? base + 1 : if_name;
	if (source->interface == NULL) {
		source->interface = g_strdup(base);
		return;
	}
	have = g_strsplit(source->interface, ",", -1);
	if (g_strv_contains((const gchar *const *)have, base))
		return;
	joined = g_strconcat(source->interface, ",", base, NULL);
	g_free(source->interface);
	source->interface = g_steal_pointer(&joined);
}

void
pds_hub_source_reset_interfaces(PdsHubSource *source)
{
	g_array_set_size(source->if_map, 0);
}

void
pds_hub_source_map_interface(PdsHubSource *source, guint32 local_id, guint32 session_id)
{
	guint32 unmapped = PDS_HUB_IF_UNMAPPED;
	while (source->if_map->len <= local_id)
		g_array_append_val(source->if_map, unmapped);
	g_array_index(source->if_map, guint32, local_id) = session_id;
}

gboolean
pds_hub_source_lookup_interface(PdsHubSource *source, guint32 local_id, guint32 *session_id)
{
	guint32 id;
	if (local_id >= source->if_map->len)
		return FALSE;
	id = g_array_index(source->if_map, guint32, local_id);
	if (id == PDS_HUB_IF_UNMAPPED)
		return FALSE;
	*session_id = id;
	return TRUE;
}

static gchar *
pds_hub_source_time_to_iso(gint64 usec)
{
	g_autoptr(GDateTime) dt = NULL;
	if (usec <= 0)
		return NULL;
	dt = g_date_time_new_from_unix_utc(usec / G_USEC_PER_SEC);
	if (dt == NULL)
		return NULL;
	return g_date_time_format_iso8601(dt);
}

static void
pds_hub_source_json_string(JsonBuilder *builder, const char *key, const char *value)
{
	json_builder_set_member_name(builder, key);
	if (value != NULL)
		json_builder_add_string_value(builder, value);
	else
		json_builder_add_null_value(builder);
}

static void
pds_hub_source_json_int(JsonBuilder *builder, const char *key, guint64 value)
{
	json_builder_set_member_name(builder, key);
	json_builder_add_int_value(builder, (gint64)MIN(value, (guint64)G_MAXINT64));
}

gchar *
pds_hub_source_table_to_json(PdsHubSourceTable *table)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_array(builder);
	for (guint i = 0; i < table->order->len; i++) {
		PdsHubSource *s = g_ptr_array_index(table->order, i);
		g_autofree gchar *since = pds_hub_source_time_to_iso(s->connected_since);
		g_autofree gchar *last = pds_hub_source_time_to_iso(s->last_seen);

		json_builder_begin_object(builder);
		pds_hub_source_json_string(builder, "source_id", s->source_id);
		pds_hub_source_json_string(builder, "role", s->role);
		pds_hub_source_json_string(builder, "namespace", s->namespace_);
		pds_hub_source_json_string(builder, "pod", s->pod);
		pds_hub_source_json_string(builder, "interface", s->interface);
		pds_hub_source_json_string(builder, "node", s->node);
		pds_hub_source_json_string(builder, "version", s->version);
		pds_hub_source_json_string(builder, "peer", s->peer);
		pds_hub_source_json_int(builder, "packets", s->packets);
		pds_hub_source_json_int(builder, "bytes", s->bytes);
		pds_hub_source_json_int(builder, "drops",
					s->kernel_drops + s->if_drops + s->spool_drops +
						s->events_lost);
		pds_hub_source_json_int(builder, "kernel_drops", s->kernel_drops);
		pds_hub_source_json_int(builder, "spool_drops", s->spool_drops);
		pds_hub_source_json_int(builder, "stored_seq", s->stored_seq);
		json_builder_set_member_name(builder, "connected");
		json_builder_add_boolean_value(builder, s->connected);
		pds_hub_source_json_string(builder, "connected_since", since);
		pds_hub_source_json_string(builder, "last_seen", last);
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
	root = json_builder_get_root(builder);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	return json_generator_to_data(gen, NULL);
}
