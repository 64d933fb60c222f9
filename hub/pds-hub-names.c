/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-names.h"

#include <string.h>

#include "pds-pcapng-writer.h"
#include "pds-record-codec.h"

typedef struct {
	guint8 addr[16];
	gsize addr_len;
	gchar *name;
} PdsHubName;

struct _PdsHubNames {
	GArray *entries;     /* of PdsHubName, in the order they were learnt */
	GHashTable *by_addr; /* "addr bytes as hex" -> index + 1 */
};

static void
pds_hub_name_clear(gpointer data)
{
	PdsHubName *entry = data;
	g_free(entry->name);
}

PdsHubNames *
pds_hub_names_new(void)
{
	PdsHubNames *names = g_new0(PdsHubNames, 1);
	names->entries = g_array_new(FALSE, TRUE, sizeof(PdsHubName));
	g_array_set_clear_func(names->entries, pds_hub_name_clear);
	names->by_addr = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	return names;
}

void
pds_hub_names_free(PdsHubNames *names)
{
	if (names == NULL)
		return;
	g_array_unref(names->entries);
	g_hash_table_unref(names->by_addr);
	g_free(names);
}

static gchar *
pds_hub_names_key(const guint8 *addr, gsize addr_len)
{
	GString *key = g_string_sized_new(addr_len * 2);
	for (gsize i = 0; i < addr_len; i++)
		g_string_append_printf(key, "%02x", addr[i]);
	return g_string_free(key, FALSE);
}

gboolean
pds_hub_names_add(PdsHubNames *names, const guint8 *addr, gsize addr_len, const char *name)
{
	g_autofree gchar *key = NULL;
	gpointer idx;
	PdsHubName entry = {0};

	g_return_val_if_fail(names != NULL, FALSE);
	g_return_val_if_fail(addr_len == 4 || addr_len == 16, FALSE);
	g_return_val_if_fail(name != NULL, FALSE);

	if (name[0] == '\0')
		return FALSE;
	key = pds_hub_names_key(addr, addr_len);
	idx = g_hash_table_lookup(names->by_addr, key);
	if (idx != NULL) {
		PdsHubName *old =
			&g_array_index(names->entries, PdsHubName, GPOINTER_TO_UINT(idx) - 1);
		if (g_strcmp0(old->name, name) == 0)
			return FALSE;
	}
	/* A renamed address gets a new entry: consumers learn it after the old one,
	 * and Wireshark keeps the last name it read. */
	memcpy(entry.addr, addr, addr_len);
	entry.addr_len = addr_len;
	entry.name = g_strdup(name);
	g_array_append_val(names->entries, entry);
	g_hash_table_replace(names->by_addr, g_steal_pointer(&key),
			     GUINT_TO_POINTER(names->entries->len));
	return TRUE;
}

gboolean
pds_hub_names_add_spec(PdsHubNames *names, const char *spec, GError **error)
{
	const char *eq;
	g_autofree gchar *ip = NULL;
	g_autoptr(GInetAddress) addr = NULL;

	g_return_val_if_fail(names != NULL, FALSE);
	g_return_val_if_fail(spec != NULL, FALSE);

	eq = strchr(spec, '=');
	if (eq == NULL || eq == spec || eq[1] == '\0') {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "name \"%s\" is not of the form IP=NAME (e.g. 10.0.0.5=web.default)",
			    spec);
		return FALSE;
	}
	ip = g_strndup(spec, eq - spec);
	/* A scope (fe80::1%eth0) means nothing in a capture file. */
	if (strchr(ip, '%') != NULL)
		*strchr(ip, '%') = '\0';
	addr = g_inet_address_new_from_string(ip);
	if (addr == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "name \"%s\": \"%s\" is not an IPv4 or IPv6 address", spec, ip);
		return FALSE;
	}
	pds_hub_names_add(names, g_inet_address_to_bytes(addr),
			  g_inet_address_get_native_size(addr), eq + 1);
	return TRUE;
}

guint
pds_hub_names_add_from_nrb(PdsHubNames *names, const PdsPcapngBlock *block)
{
	const guint8 *p = block->nrb_records;
	const guint8 *end = block->nrb_records + block->nrb_records_len;
	guint added = 0;

	while (end - p >= 4) {
		guint16 type = pds_pcapng_block_read_u16(block, p);
		guint16 len = pds_pcapng_block_read_u16(block, p + 2);
		const guint8 *value = p + 4;
		gsize addr_len;
		gsize padded = ((gsize)len + 3) & ~(gsize)3;

		if (type == PDS_PCAPNG_NRB_END || (gsize)(end - value) < len)
			break;
		addr_len = type == PDS_PCAPNG_NRB_IPV4 ? 4 : type == PDS_PCAPNG_NRB_IPV6 ? 16 : 0;
		if (addr_len > 0 && len > addr_len) {
			/* One address, then one or more NUL-terminated names: the first counts. */
			g_autofree gchar *name =
				g_strndup((const gchar *)value + addr_len, len - addr_len);
			if (g_utf8_validate(name, -1, NULL) &&
			    pds_hub_names_add(names, value, addr_len, name))
				added++;
		}
		if ((gsize)(end - value) < padded)
			break;
		p = value + padded;
	}
	return added;
}

guint
pds_hub_names_get_count(PdsHubNames *names)
{
	g_return_val_if_fail(names != NULL, 0);
	return names->entries->len;
}

void
pds_hub_names_write_nrb(PdsHubNames *names, guint from, GByteArray *out)
{
	g_autoptr(PdsPcapngNrb) nrb = NULL;

	g_return_if_fail(names != NULL);
	if (from >= names->entries->len)
		return;
	nrb = pds_pcapng_nrb_new();
	for (guint i = from; i < names->entries->len; i++) {
		PdsHubName *entry = &g_array_index(names->entries, PdsHubName, i);
		if (entry->addr_len == 4)
			pds_pcapng_nrb_add_ipv4(nrb, entry->addr, entry->name);
		else
			pds_pcapng_nrb_add_ipv6(nrb, entry->addr, entry->name);
	}
	pds_pcapng_write_nrb(out, nrb);
}

GPtrArray *
pds_hub_names_lookup_addresses(PdsHubNames *names, const char *name)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
	GHashTableIter iter;
	gpointer idx;

	g_return_val_if_fail(names != NULL, out);
	g_return_val_if_fail(name != NULL, out);

	/* by_addr points at each address's latest entry: its current name. */
	g_hash_table_iter_init(&iter, names->by_addr);
	while (g_hash_table_iter_next(&iter, NULL, &idx)) {
		PdsHubName *entry =
			&g_array_index(names->entries, PdsHubName, GPOINTER_TO_UINT(idx) - 1);
		if (g_strcmp0(entry->name, name) == 0)
			g_ptr_array_add(out, g_inet_address_new_from_bytes(
						     entry->addr, entry->addr_len == 4
									  ? G_SOCKET_FAMILY_IPV4
									  : G_SOCKET_FAMILY_IPV6));
	}
	return out;
}

gboolean
pds_hub_names_add_json(PdsHubNames *names, JsonNode *root, guint *n_added, GError **error)
{
	JsonArray *array;
	g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(GPtrArray) texts = g_ptr_array_new();
	guint added = 0;

	g_return_val_if_fail(names != NULL, FALSE);

	if (root == NULL || !JSON_NODE_HOLDS_ARRAY(root)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "expected a JSON array of {\"ip\": ..., \"name\": ...}");
		return FALSE;
	}
	array = json_node_get_array(root);
	/* Check everything first: a bad entry adds nothing. */
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *el = json_array_get_element(array, i);
		JsonObject *obj = JSON_NODE_HOLDS_OBJECT(el) ? json_node_get_object(el) : NULL;
		const char *ip = NULL, *name = NULL;
		GInetAddress *addr = NULL;

		if (obj != NULL && json_object_has_member(obj, "ip") &&
		    json_object_has_member(obj, "name") &&
		    JSON_NODE_HOLDS_VALUE(json_object_get_member(obj, "ip")) &&
		    JSON_NODE_HOLDS_VALUE(json_object_get_member(obj, "name"))) {
			ip = json_object_get_string_member(obj, "ip");
			name = json_object_get_string_member(obj, "name");
		}
		if (ip != NULL)
			addr = g_inet_address_new_from_string(ip);
		if (addr == NULL || name == NULL || name[0] == '\0' ||
		    !g_utf8_validate(name, -1, NULL) || strlen(name) > 255) {
			g_clear_object(&addr);
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "entry %u is not {\"ip\": \"<IPv4 or IPv6 address>\", "
				    "\"name\": \"<1..255 characters>\"}",
				    i);
			return FALSE;
		}
		g_ptr_array_add(addrs, addr);
		g_ptr_array_add(texts, (gpointer)name);
	}
	for (guint i = 0; i < addrs->len; i++) {
		GInetAddress *addr = g_ptr_array_index(addrs, i);
		if (pds_hub_names_add(names, g_inet_address_to_bytes(addr),
				      g_inet_address_get_native_size(addr),
				      g_ptr_array_index(texts, i)))
			added++;
	}
	if (n_added != NULL)
		*n_added = added;
	return TRUE;
}

const char *
pds_hub_names_lookup(PdsHubNames *names, const guint8 *addr, gsize addr_len)
{
	g_autofree gchar *key = NULL;
	gpointer idx;

	g_return_val_if_fail(names != NULL, NULL);
	if (addr_len != 4 && addr_len != 16)
		return NULL;
	key = pds_hub_names_key(addr, addr_len);
	idx = g_hash_table_lookup(names->by_addr, key);
	if (idx == NULL)
		return NULL;
	return g_array_index(names->entries, PdsHubName, GPOINTER_TO_UINT(idx) - 1).name;
}

GBytes *
pds_hub_names_annotate_flow(PdsHubNames *names, const guint8 *record, gsize len)
{
	PdsRecordHeader header;
	PdsRecordIter iter;
	guint16 code, vlen;
	const guint8 *value;
	const char *src_name = NULL, *dst_name = NULL;
	gboolean have_src_name = FALSE, have_dst_name = FALSE;
	g_autoptr(PdsRecordBuilder) b = NULL;

	g_return_val_if_fail(names != NULL, NULL);

	if (names->entries->len == 0 || !pds_record_iter_init(&iter, record, len, &header, NULL) ||
	    header.type != PDS_RECORD_FLOW)
		return NULL;
	while (pds_record_iter_next(&iter, &code, &value, &vlen, NULL)) {
		if (code == PDS_FLOW_SRC_ADDR)
			src_name = pds_hub_names_lookup(names, value, vlen);
		else if (code == PDS_FLOW_DST_ADDR)
			dst_name = pds_hub_names_lookup(names, value, vlen);
		else if (code == PDS_FLOW_SRC_NAME)
			have_src_name = TRUE;
		else if (code == PDS_FLOW_DST_NAME)
			have_dst_name = TRUE;
	}
	if (have_src_name)
		src_name = NULL;
	if (have_dst_name)
		dst_name = NULL;
	if (src_name == NULL && dst_name == NULL)
		return NULL;
	/* Rebuilt field by field: a malformed record stops the copy where the
	 * iterator stops, and keeps what came before. */
	b = pds_record_builder_new(PDS_RECORD_FLOW, header.interface_id, header.timestamp_ns);
	pds_record_iter_init(&iter, record, len, &header, NULL);
	while (pds_record_iter_next(&iter, &code, &value, &vlen, NULL))
		pds_record_builder_add(b, code, value, vlen);
	if (src_name != NULL)
		pds_record_builder_add_string(b, PDS_FLOW_SRC_NAME, src_name);
	if (dst_name != NULL)
		pds_record_builder_add_string(b, PDS_FLOW_DST_NAME, dst_name);
	return pds_record_builder_end(g_steal_pointer(&b));
}
