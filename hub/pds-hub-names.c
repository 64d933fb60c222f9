/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-names.h"

#include <string.h>

#include "pds-pcapng-writer.h"

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
