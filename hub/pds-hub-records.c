/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub-records.h"

#include <string.h>

#include "pds-flow-format.h"
#include "pds-pcapng.h"
#include "pds-record-codec.h"

typedef struct {
	gchar *namespace_;
	gchar *pod;
	gchar *interface;
} PdsHubRecordsIf;

struct _PdsHubRecords {
	PdsHubStore *store; /* borrowed */
	GPtrArray *if_info; /* of PdsHubRecordsIf, by session interface id */
	GString *flow_scratch;
};

typedef enum {
	PDS_FILE_T_STR,
	PDS_FILE_T_UINT,
	PDS_FILE_T_INT,
} PdsFileFieldType;

static const struct {
	guint16 code;
	const char *name;
	PdsFileFieldType type;
} file_fields[] = {
	{PDS_FILE_SYSCALL, "syscall", PDS_FILE_T_STR},
	{PDS_FILE_PATH, "path", PDS_FILE_T_STR},
	{PDS_FILE_RAW_PATH, "raw_path", PDS_FILE_T_STR},
	{PDS_FILE_PID, "pid", PDS_FILE_T_UINT},
	{PDS_FILE_TGID, "tgid", PDS_FILE_T_UINT},
	{PDS_FILE_COMM, "comm", PDS_FILE_T_STR},
	{PDS_FILE_CGROUP_ID, "cgroup_id", PDS_FILE_T_UINT},
	{PDS_FILE_CONTAINER_NAME, "container_name", PDS_FILE_T_STR},
	{PDS_FILE_CONTAINER_ID, "container_id", PDS_FILE_T_STR},
	{PDS_FILE_FLAGS, "flags", PDS_FILE_T_UINT},
	{PDS_FILE_MODE, "mode", PDS_FILE_T_UINT},
	{PDS_FILE_RESULT, "result", PDS_FILE_T_INT},
	{PDS_FILE_RESOLVED_PATH, "resolved_path", PDS_FILE_T_STR},
	{PDS_FILE_PATH_STATUS, "path_status", PDS_FILE_T_UINT},
	{PDS_FILE_COMPAT, "compat", PDS_FILE_T_UINT},
	{PDS_FILE_COUNT, "count", PDS_FILE_T_UINT},
	{PDS_FILE_POD, "pod", PDS_FILE_T_STR},
	{PDS_FILE_NAMESPACE, "namespace", PDS_FILE_T_STR},
};

static void
pds_hub_records_if_free(PdsHubRecordsIf *info)
{
	g_free(info->namespace_);
	g_free(info->pod);
	g_free(info->interface);
	g_free(info);
}

PdsHubRecords *
pds_hub_records_new(PdsHubStore *store)
{
	PdsHubRecords *records;

	g_return_val_if_fail(store != NULL, NULL);
	records = g_new0(PdsHubRecords, 1);
	records->store = store;
	records->if_info = g_ptr_array_new_with_free_func((GDestroyNotify)pds_hub_records_if_free);
	records->flow_scratch = g_string_new(NULL);
	return records;
}

void
pds_hub_records_free(PdsHubRecords *records)
{
	if (records == NULL)
		return;
	g_ptr_array_unref(records->if_info);
	g_string_free(records->flow_scratch, TRUE);
	g_free(records);
}

void
pds_hub_records_append_json_string(GString *out, const char *text, gssize len)
{
	g_autofree gchar *valid = g_utf8_make_valid(text, len);

	g_string_append_c(out, '"');
	for (const guchar *p = (const guchar *)valid; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			g_string_append(out, "\\\"");
			break;
		case '\\':
			g_string_append(out, "\\\\");
			break;
		case '\n':
			g_string_append(out, "\\n");
			break;
		case '\r':
			g_string_append(out, "\\r");
			break;
		case '\t':
			g_string_append(out, "\\t");
			break;
		default:
			if (*p < 0x20)
				g_string_append_printf(out, "\\u%04x", *p);
			else
				g_string_append_c(out, (gchar)*p);
		}
	}
	g_string_append_c(out, '"');
}

static guint32
read_le32(const guint8 *p)
{
	guint32 v;
	memcpy(&v, p, sizeof(v));
	return GUINT32_FROM_LE(v);
}

static guint16
read_le16(const guint8 *p)
{
	guint16 v;
	memcpy(&v, p, sizeof(v));
	return GUINT16_FROM_LE(v);
}

/* The session IDB names its interface "namespace/pod/interface" (ingest). */
static PdsHubRecordsIf *
pds_hub_records_if_from_idb(GBytes *idb)
{
	gsize len = 0;
	const guint8 *data = idb != NULL ? g_bytes_get_data(idb, &len) : NULL;
	PdsHubRecordsIf *info = g_new0(PdsHubRecordsIf, 1);
	gsize off = 16;

	if (data == NULL || len < 20)
		return info;
	while (off + 4 <= len - 4) {
		guint16 code = read_le16(data + off);
		guint16 olen = read_le16(data + off + 2);
		if (code == PDS_PCAPNG_OPT_ENDOFOPT || off + 4 + olen > len - 4)
			break;
		if (code == PDS_PCAPNG_IF_NAME) {
			g_autofree gchar *name =
				g_utf8_make_valid((const gchar *)data + off + 4, olen);
			g_auto(GStrv) parts = g_strsplit(name, "/", 3);
			if (g_strv_length(parts) == 3) {
				info->namespace_ = g_strdup(parts[0]);
				info->pod = g_strdup(parts[1]);
				info->interface = g_strdup(parts[2]);
			} else {
				info->interface = g_strdup(name);
			}
		}
		off += 4 + ((olen + 3u) & ~3u);
	}
	return info;
}

static const PdsHubRecordsIf *
pds_hub_records_lookup_if(PdsHubRecords *records, guint32 id)
{
	guint n = pds_hub_store_get_n_interfaces(records->store);

	if (id >= n)
		return NULL;
	while (records->if_info->len < n) {
		/* borrowed from the store */
		GBytes *idb = pds_hub_store_get_interface(records->store, records->if_info->len);
		g_ptr_array_add(records->if_info, pds_hub_records_if_from_idb(idb));
	}
	return g_ptr_array_index(records->if_info, id);
}

static void
append_member_string(GString *out, const char *name, const char *value)
{
	if (value == NULL)
		return;
	g_string_append_printf(out, ",\"%s\":", name);
	pds_hub_records_append_json_string(out, value, -1);
}

static gboolean
pds_hub_records_append_file(GString *out, const guint8 *record, gsize len)
{
	PdsRecordIter iter;
	PdsRecordHeader header;
	guint16 code, vlen;
	const guint8 *value;
	g_autoptr(GError) error = NULL;
	gsize start = out->len;

	if (!pds_record_iter_init(&iter, record, len, &header, &error))
		return FALSE;
	g_string_append_printf(out, ",\"ts_ns\":%" G_GUINT64_FORMAT ",\"interface_id\":%u",
			       header.timestamp_ns, header.interface_id);
	while (pds_record_iter_next(&iter, &code, &value, &vlen, &error)) {
		for (guint i = 0; i < G_N_ELEMENTS(file_fields); i++) {
			guint64 u = 0;
			if (file_fields[i].code != code)
				continue;
			g_string_append_printf(out, ",\"%s\":", file_fields[i].name);
			if (file_fields[i].type == PDS_FILE_T_STR) {
				pds_hub_records_append_json_string(out, (const char *)value, vlen);
				break;
			}
			for (guint b = 0; b < vlen && b < 8; b++)
				u |= (guint64)value[b] << (8 * b);
			if (file_fields[i].type == PDS_FILE_T_INT && vlen == 8)
				g_string_append_printf(out, "%" G_GINT64_FORMAT, (gint64)u);
			else
				g_string_append_printf(out, "%" G_GUINT64_FORMAT, u);
			break;
		}
	}
	if (error != NULL) {
		g_string_truncate(out, start);
		return FALSE;
	}
	g_string_append_c(out, '}');
	return TRUE;
}

gboolean
pds_hub_records_append_json(
	PdsHubRecords *records, guint64 index, const guint8 *data, gsize len, GString *out)
{
	PdsRecordHeader header;
	const PdsHubRecordsIf *info;
	const guint8 *record;
	gsize start = out->len;
	guint32 type, pen;

	g_return_val_if_fail(records != NULL, FALSE);
	if (len < 16 + PDS_RECORD_HEADER_LEN)
		return FALSE;
	type = read_le32(data);
	pen = read_le32(data + 8);
	if ((type != PDS_PCAPNG_BT_CUSTOM && type != PDS_PCAPNG_BT_CUSTOM_NOCOPY) || pen != PDS_PEN)
		return FALSE;
	/* type, length, PEN, the record, the trailing length */
	record = data + 12;
	if (!pds_record_parse_header(record, len - 16, &header, NULL))
		return FALSE;
	if (header.type != PDS_RECORD_FLOW && header.type != PDS_RECORD_FILE_ACCESS)
		return FALSE;

	g_string_append_printf(out, "{\"index\":%" G_GUINT64_FORMAT ",\"record_type\":\"%s\"",
			       index, header.type == PDS_RECORD_FLOW ? "flow" : "file_access");
	info = header.interface_id != G_MAXUINT32
		       ? pds_hub_records_lookup_if(records, header.interface_id)
		       : NULL;
	if (info != NULL) {
		append_member_string(out, "source_namespace", info->namespace_);
		append_member_string(out, "source_pod", info->pod);
		append_member_string(out, "source_interface", info->interface);
	}
	if (header.type == PDS_RECORD_FILE_ACCESS) {
		if (!pds_hub_records_append_file(out, record, header.length)) {
			g_string_truncate(out, start);
			return FALSE;
		}
		return TRUE;
	}
	g_string_truncate(records->flow_scratch, 0);
	if (!pds_flow_record_format(record, header.length, PDS_FLOW_FORMAT_JSON,
				    records->flow_scratch, NULL) ||
	    records->flow_scratch->len < 2 || records->flow_scratch->str[0] != '{') {
		g_string_truncate(out, start);
		return FALSE;
	}
	/* The flow object's members join ours: drop its opening brace. */
	g_string_append_c(out, ',');
	g_string_append_len(out, records->flow_scratch->str + 1, records->flow_scratch->len - 1);
	return TRUE;
}
