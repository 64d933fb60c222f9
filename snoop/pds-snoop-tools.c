/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <string.h>
#include <sys/stat.h>

#include "pds-snoop-path.h"
#include "pds-snoop-report.h"
#include "pds-snoop-tools.h"

gboolean
pds_snoop_tools_is_command(const char *name)
{
	return g_strv_contains((const char *const[]){"merge", "diff", "summary", "unused", NULL},
			       name);
}

JsonNode *
pds_snoop_tools_load(const char *path, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root;
	JsonObject *obj;

	if (!json_parser_load_from_file(parser, path, error)) {
		g_prefix_error(error, "cannot read report %s: ", path);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s is not a podscope-snoop report (no JSON object)", path);
		return NULL;
	}
	obj = json_node_get_object(root);
	if (!json_object_has_member(obj, "containers") ||
	    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(obj, "containers"))) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s is not a podscope-snoop report (no \"containers\" array)", path);
		return NULL;
	}
	return json_node_copy(root);
}

static const char *
pds_snoop_obj_string(JsonObject *obj, const char *member)
{
	JsonNode *n = json_object_get_member(obj, member);

	if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(n);
}

static gint64
pds_snoop_obj_int(JsonObject *obj, const char *member)
{
	JsonNode *n = json_object_get_member(obj, member);

	if (n == NULL || !JSON_NODE_HOLDS_VALUE(n))
		return 0;
	return json_node_get_int(n);
}

/* Container name -> (path -> file JsonObject), over one report. */
static GHashTable *
pds_snoop_index(JsonNode *report)
{
	GHashTable *index = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						  (GDestroyNotify)g_hash_table_unref);
	JsonArray *containers =
		json_object_get_array_member(json_node_get_object(report), "containers");

	for (guint i = 0; i < json_array_get_length(containers); i++) {
		JsonObject *c = json_array_get_object_element(containers, i);
		const char *name = pds_snoop_obj_string(c, "name");
		JsonArray *files;
		GHashTable *paths;

		if (name == NULL)
			name = "(unnamed)";
		paths = g_hash_table_lookup(index, name);
		if (paths == NULL) {
			paths = g_hash_table_new(g_str_hash, g_str_equal);
			g_hash_table_insert(index, g_strdup(name), paths);
		}
		if (!json_object_has_member(c, "files"))
			continue;
		files = json_object_get_array_member(c, "files");
		for (guint j = 0; j < json_array_get_length(files); j++) {
			JsonObject *f = json_array_get_object_element(files, j);
			const char *path = pds_snoop_obj_string(f, "path");

			if (path != NULL)
				g_hash_table_insert(paths, (gpointer)path, f);
		}
	}
	return index;
}

static gint
pds_snoop_strptr_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static GPtrArray *
pds_snoop_sorted_keys(GHashTable *table)
{
	GPtrArray *keys = g_ptr_array_sized_new(g_hash_table_size(table));
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init(&iter, table);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_ptr_array_add(keys, key);
	g_ptr_array_sort(keys, pds_snoop_strptr_cmp);
	return keys;
}

typedef struct {
	GHashTable *syscalls; /* set of names */
	gint64 count;
	gchar *first_seen;
	gchar *last_seen;
	gboolean ok;
	gchar *result;
	gchar *raw_path;
	gchar *resolved_path;
} PdsMergedFile;

static void
pds_merged_file_free(PdsMergedFile *m)
{
	g_hash_table_unref(m->syscalls);
	g_free(m->first_seen);
	g_free(m->last_seen);
	g_free(m->result);
	g_free(m->raw_path);
	g_free(m->resolved_path);
	g_free(m);
}

JsonNode *
pds_snoop_tools_merge(GPtrArray *reports)
{
	/* container name -> (path -> PdsMergedFile) */
	g_autoptr(GHashTable) merged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							     (GDestroyNotify)g_hash_table_unref);
	g_autoptr(GHashTable) images =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(GPtrArray) names = NULL;
	gint64 totals[4] = {0};
	const char *total_names[] = {"events_total", "events_dropped", "events_excluded",
				     "events_unresolved"};

	for (guint r = 0; r < reports->len; r++) {
		JsonObject *root = json_node_get_object(g_ptr_array_index(reports, r));
		JsonArray *containers = json_object_get_array_member(root, "containers");

		for (guint t = 0; t < G_N_ELEMENTS(total_names); t++)
			totals[t] += pds_snoop_obj_int(root, total_names[t]);
		for (guint i = 0; i < json_array_get_length(containers); i++) {
			JsonObject *c = json_array_get_object_element(containers, i);
			const char *name = pds_snoop_obj_string(c, "name");
			JsonArray *files;
			GHashTable *paths;

			if (name == NULL)
				name = "(unnamed)";
			paths = g_hash_table_lookup(merged, name);
			if (paths == NULL) {
				paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							      (GDestroyNotify)pds_merged_file_free);
				g_hash_table_insert(merged, g_strdup(name), paths);
			}
			if (pds_snoop_obj_string(c, "image") != NULL &&
			    !g_hash_table_contains(images, name))
				g_hash_table_insert(images, g_strdup(name),
						    g_strdup(pds_snoop_obj_string(c, "image")));
			if (!json_object_has_member(c, "files"))
				continue;
			files = json_object_get_array_member(c, "files");
			for (guint j = 0; j < json_array_get_length(files); j++) {
				JsonObject *f = json_array_get_object_element(files, j);
				const char *path = pds_snoop_obj_string(f, "path");
				const char *first = pds_snoop_obj_string(f, "first_seen");
				const char *last = pds_snoop_obj_string(f, "last_seen");
				const char *result = pds_snoop_obj_string(f, "result");
				PdsMergedFile *m;
				JsonArray *sc;

				if (path == NULL)
					continue;
				m = g_hash_table_lookup(paths, path);
				if (m == NULL) {
					m = g_new0(PdsMergedFile, 1);
					m->syscalls = g_hash_table_new_full(g_str_hash, g_str_equal,
									    g_free, NULL);
					g_hash_table_insert(paths, g_strdup(path), m);
				}
				m->count += pds_snoop_obj_int(f, "count");
				/* ISO 8601 in UTC sorts as text. */
				if (first != NULL &&
				    (m->first_seen == NULL || strcmp(first, m->first_seen) < 0)) {
					g_free(m->first_seen);
					m->first_seen = g_strdup(first);
				}
				if (last != NULL &&
				    (m->last_seen == NULL || strcmp(last, m->last_seen) > 0)) {
					g_free(m->last_seen);
					m->last_seen = g_strdup(last);
				}
				if (g_strcmp0(result, "ok") == 0)
					m->ok = TRUE;
				else if (result != NULL && m->result == NULL)
					m->result = g_strdup(result);
				if (m->raw_path == NULL && pds_snoop_obj_string(f, "raw_path"))
					m->raw_path = g_strdup(pds_snoop_obj_string(f, "raw_path"));
				if (m->resolved_path == NULL &&
				    pds_snoop_obj_string(f, "resolved_path"))
					m->resolved_path =
						g_strdup(pds_snoop_obj_string(f, "resolved_path"));
				if (!json_object_has_member(f, "syscalls"))
					continue;
				sc = json_object_get_array_member(f, "syscalls");
				for (guint k = 0; k < json_array_get_length(sc); k++)
					g_hash_table_add(
						m->syscalls,
						g_strdup(json_array_get_string_element(sc, k)));
			}
		}
	}

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "version");
	json_builder_add_int_value(b, PDS_SNOOP_REPORT_VERSION);
	json_builder_set_member_name(b, "generator");
	json_builder_add_string_value(b, "podscope-snoop merge");
	json_builder_set_member_name(b, "reports");
	json_builder_add_int_value(b, reports->len);
	json_builder_set_member_name(b, "pods");
	json_builder_begin_array(b);
	for (guint r = 0; r < reports->len; r++) {
		JsonObject *root = json_node_get_object(g_ptr_array_index(reports, r));
		const char *pod = pds_snoop_obj_string(root, "pod");

		if (pod != NULL)
			json_builder_add_string_value(b, pod);
		else
			json_builder_add_null_value(b);
	}
	json_builder_end_array(b);
	for (guint t = 0; t < G_N_ELEMENTS(total_names); t++) {
		json_builder_set_member_name(b, total_names[t]);
		json_builder_add_int_value(b, totals[t]);
	}
	json_builder_set_member_name(b, "containers");
	json_builder_begin_array(b);
	names = pds_snoop_sorted_keys(merged);
	for (guint i = 0; i < names->len; i++) {
		const char *name = g_ptr_array_index(names, i);
		GHashTable *paths = g_hash_table_lookup(merged, name);
		g_autoptr(GPtrArray) keys = pds_snoop_sorted_keys(paths);

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "name");
		json_builder_add_string_value(b, name);
		json_builder_set_member_name(b, "image");
		if (g_hash_table_lookup(images, name) != NULL)
			json_builder_add_string_value(b, g_hash_table_lookup(images, name));
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "counts");
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "files");
		json_builder_add_int_value(b, keys->len);
		json_builder_end_object(b);
		json_builder_set_member_name(b, "files");
		json_builder_begin_array(b);
		for (guint j = 0; j < keys->len; j++) {
			const char *path = g_ptr_array_index(keys, j);
			PdsMergedFile *m = g_hash_table_lookup(paths, path);
			g_autoptr(GPtrArray) sc = pds_snoop_sorted_keys(m->syscalls);

			json_builder_begin_object(b);
			json_builder_set_member_name(b, "path");
			json_builder_add_string_value(b, path);
			json_builder_set_member_name(b, "syscalls");
			json_builder_begin_array(b);
			for (guint k = 0; k < sc->len; k++)
				json_builder_add_string_value(b, g_ptr_array_index(sc, k));
			json_builder_end_array(b);
			json_builder_set_member_name(b, "count");
			json_builder_add_int_value(b, m->count);
			json_builder_set_member_name(b, "result");
			json_builder_add_string_value(b, m->ok ? "ok"
							       : (m->result ? m->result : "ok"));
			if (m->first_seen != NULL) {
				json_builder_set_member_name(b, "first_seen");
				json_builder_add_string_value(b, m->first_seen);
			}
			if (m->last_seen != NULL) {
				json_builder_set_member_name(b, "last_seen");
				json_builder_add_string_value(b, m->last_seen);
			}
			if (m->raw_path != NULL) {
				json_builder_set_member_name(b, "raw_path");
				json_builder_add_string_value(b, m->raw_path);
			}
			if (m->resolved_path != NULL) {
				json_builder_set_member_name(b, "resolved_path");
				json_builder_add_string_value(b, m->resolved_path);
			}
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

gchar *
pds_snoop_tools_diff(JsonNode *a, JsonNode *b, const char *name_a, const char *name_b)
{
	g_autoptr(GHashTable) ia = pds_snoop_index(a);
	g_autoptr(GHashTable) ib = pds_snoop_index(b);
	g_autoptr(GHashTable) all = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) containers = NULL;
	GString *out = g_string_new(NULL);
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init(&iter, ia);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_hash_table_add(all, key);
	g_hash_table_iter_init(&iter, ib);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_hash_table_add(all, key);
	containers = pds_snoop_sorted_keys(all);

	for (guint i = 0; i < containers->len; i++) {
		const char *name = g_ptr_array_index(containers, i);
		GHashTable *pa = g_hash_table_lookup(ia, name);
		GHashTable *pb = g_hash_table_lookup(ib, name);
		g_autoptr(GHashTable) paths = g_hash_table_new(g_str_hash, g_str_equal);
		g_autoptr(GPtrArray) sorted = NULL;
		g_autoptr(GPtrArray) only_a = g_ptr_array_new();
		g_autoptr(GPtrArray) only_b = g_ptr_array_new();
		guint both = 0;

		if (pa != NULL) {
			g_hash_table_iter_init(&iter, pa);
			while (g_hash_table_iter_next(&iter, &key, NULL))
				g_hash_table_add(paths, key);
		}
		if (pb != NULL) {
			g_hash_table_iter_init(&iter, pb);
			while (g_hash_table_iter_next(&iter, &key, NULL))
				g_hash_table_add(paths, key);
		}
		sorted = pds_snoop_sorted_keys(paths);
		for (guint j = 0; j < sorted->len; j++) {
			const char *p = g_ptr_array_index(sorted, j);
			gboolean in_a = pa != NULL && g_hash_table_contains(pa, p);
			gboolean in_b = pb != NULL && g_hash_table_contains(pb, p);

			if (in_a && in_b)
				both++;
			else if (in_a)
				g_ptr_array_add(only_a, (gpointer)p);
			else
				g_ptr_array_add(only_b, (gpointer)p);
		}
		g_string_append_printf(out, "container %s\n", name);
		g_string_append_printf(out, "  only in %s: %u\n", name_a, only_a->len);
		for (guint j = 0; j < only_a->len; j++)
			g_string_append_printf(out, "    - %s\n",
					       (const char *)g_ptr_array_index(only_a, j));
		g_string_append_printf(out, "  only in %s: %u\n", name_b, only_b->len);
		for (guint j = 0; j < only_b->len; j++)
			g_string_append_printf(out, "    + %s\n",
					       (const char *)g_ptr_array_index(only_b, j));
		g_string_append_printf(out, "  in both: %u\n", both);
	}
	return g_string_free(out, FALSE);
}

static gchar *
pds_snoop_dir_prefix(const char *path, guint depth)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_auto(GStrv) parts = g_strsplit(dir, "/", -1);
	GString *out = g_string_new(NULL);
	guint n = 0;

	for (guint i = 0; parts[i] != NULL && n < depth; i++) {
		if (parts[i][0] == '\0')
			continue;
		g_string_append_printf(out, "/%s", parts[i]);
		n++;
	}
	if (out->len == 0)
		g_string_append_c(out, '/');
	return g_string_free(out, FALSE);
}

gchar *
pds_snoop_tools_summary(JsonNode *report, guint depth)
{
	JsonObject *root = json_node_get_object(report);
	JsonArray *containers = json_object_get_array_member(root, "containers");
	GString *out = g_string_new(NULL);
	const char *pod = pds_snoop_obj_string(root, "pod");
	const char *ns = pds_snoop_obj_string(root, "namespace");

	g_string_append_printf(
		out, "pod %s/%s: %" G_GINT64_FORMAT " events, %" G_GINT64_FORMAT " dropped\n",
		ns != NULL ? ns : "-", pod != NULL ? pod : "-",
		pds_snoop_obj_int(root, "events_total"), pds_snoop_obj_int(root, "events_dropped"));
	for (guint i = 0; i < json_array_get_length(containers); i++) {
		JsonObject *c = json_array_get_object_element(containers, i);
		const char *name = pds_snoop_obj_string(c, "name");
		g_autoptr(GHashTable) dirs =
			g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		g_autoptr(GPtrArray) keys = NULL;
		JsonArray *files = json_object_has_member(c, "files")
					   ? json_object_get_array_member(c, "files")
					   : NULL;
		guint n = files != NULL ? json_array_get_length(files) : 0;
		guint missing = 0;

		for (guint j = 0; j < n; j++) {
			JsonObject *f = json_array_get_object_element(files, j);
			const char *path = pds_snoop_obj_string(f, "path");
			gchar *dir;

			if (path == NULL)
				continue;
			if (g_strcmp0(pds_snoop_obj_string(f, "result"), "ok") != 0)
				missing++;
			dir = pds_snoop_dir_prefix(path, depth);
			g_hash_table_insert(
				dirs, dir,
				GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(dirs, dir)) +
						 1));
		}
		g_string_append_printf(out, "container %s: %u files (%u never found)\n",
				       name != NULL ? name : "(unnamed)", n, missing);
		keys = pds_snoop_sorted_keys(dirs);
		for (guint j = 0; j < keys->len; j++) {
			const char *dir = g_ptr_array_index(keys, j);

			g_string_append_printf(out, "  %6u  %s\n",
					       GPOINTER_TO_UINT(g_hash_table_lookup(dirs, dir)),
					       dir);
		}
	}
	return g_string_free(out, FALSE);
}

/* Every path any report touched, in either its normalised or kernel-resolved form. */
static GHashTable *
pds_snoop_touched(GPtrArray *reports)
{
	GHashTable *touched = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint r = 0; r < reports->len; r++) {
		JsonObject *root = json_node_get_object(g_ptr_array_index(reports, r));
		JsonArray *containers = json_object_get_array_member(root, "containers");

		for (guint i = 0; i < json_array_get_length(containers); i++) {
			JsonObject *c = json_array_get_object_element(containers, i);
			JsonArray *files;

			if (!json_object_has_member(c, "files"))
				continue;
			files = json_object_get_array_member(c, "files");
			for (guint j = 0; j < json_array_get_length(files); j++) {
				JsonObject *f = json_array_get_object_element(files, j);
				const char *p = pds_snoop_obj_string(f, "path");
				const char *rp = pds_snoop_obj_string(f, "resolved_path");

				if (p != NULL)
					g_hash_table_add(touched, g_strdup(p));
				if (rp != NULL)
					g_hash_table_add(touched, g_strdup(rp));
			}
		}
	}
	return touched;
}

typedef struct {
	gchar *path;
	guint64 size;
} PdsRootEntry;

static void
pds_root_entry_free(PdsRootEntry *e)
{
	g_free(e->path);
	g_free(e);
}

static void
pds_root_add(GPtrArray *entries, const char *path, guint64 size)
{
	PdsRootEntry *e = g_new0(PdsRootEntry, 1);

	e->path = pds_snoop_path_normalize("/", path);
	e->size = size;
	g_ptr_array_add(entries, e);
}

static gboolean
pds_root_scan_dir(GPtrArray *entries, const char *top, const char *rel, GError **error)
{
	g_autofree gchar *dir_path = g_build_filename(top, rel, NULL);
	g_autoptr(GDir) dir = g_dir_open(dir_path, 0, error);
	const char *name;

	if (dir == NULL)
		return FALSE;
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *child_rel = g_build_filename(rel, name, NULL);
		g_autofree gchar *child = g_build_filename(top, child_rel, NULL);
		struct stat st;

		if (lstat(child, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (!pds_root_scan_dir(entries, top, child_rel, error))
				return FALSE;
		} else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
			pds_root_add(entries, child_rel, S_ISREG(st.st_mode) ? st.st_size : 0);
		}
	}
	return TRUE;
}

static guint64
pds_tar_octal(const guint8 *p, gsize len)
{
	guint64 v = 0;

	for (gsize i = 0; i < len && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (p[i] - '0');
	return v;
}

/* ustar, GNU long names ('L') and pax path records ('x'); gzip when it starts so. */
static gboolean
pds_root_scan_tar(GPtrArray *entries, const char *path, GError **error)
{
	g_autoptr(GFile) file = g_file_new_for_path(path);
	g_autoptr(GInputStream) raw = G_INPUT_STREAM(g_file_read(file, NULL, error));
	g_autoptr(GInputStream) in = NULL;
	g_autofree gchar *long_name = NULL;
	guint8 magic[2] = {0};
	guint8 hdr[512];

	if (raw == NULL)
		return FALSE;
	in = G_INPUT_STREAM(g_buffered_input_stream_new(raw));
	if (g_buffered_input_stream_fill(G_BUFFERED_INPUT_STREAM(in), 2, NULL, error) < 0)
		return FALSE;
	memcpy(magic, g_buffered_input_stream_peek_buffer(G_BUFFERED_INPUT_STREAM(in), NULL), 2);
	if (magic[0] == 0x1f && magic[1] == 0x8b) {
		g_autoptr(GZlibDecompressor) z =
			g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
		GInputStream *conv = g_converter_input_stream_new(in, G_CONVERTER(z));

		g_object_unref(in);
		in = conv;
	}
	for (;;) {
		gsize got = 0;
		g_autofree gchar *name = NULL;
		guint64 size, padded;
		char type;

		if (!g_input_stream_read_all(in, hdr, sizeof(hdr), &got, NULL, error))
			return FALSE;
		if (got == 0 || hdr[0] == '\0')
			break;
		if (got < sizeof(hdr)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "%s: truncated tar header", path);
			return FALSE;
		}
		size = pds_tar_octal(hdr + 124, 12);
		padded = (size + 511) & ~G_GUINT64_CONSTANT(511);
		type = (char)hdr[156];
		if (type == 'L' || type == 'x') {
			g_autofree gchar *data = NULL;

			if (size > 1024 * 1024) {
				g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					    "%s: oversized tar extended header", path);
				return FALSE;
			}
			data = g_malloc0(padded + 1);
			if (!g_input_stream_read_all(in, data, padded, &got, NULL, error))
				return FALSE;
			g_free(long_name);
			long_name = NULL;
			if (type == 'L') {
				long_name = g_strndup(data, size);
			} else {
				g_auto(GStrv) recs = g_strsplit(data, "\n", -1);

				for (guint i = 0; recs[i] != NULL; i++) {
					const char *kv = strchr(recs[i], ' ');

					if (kv != NULL && g_str_has_prefix(kv + 1, "path="))
						long_name = g_strdup(kv + 1 + strlen("path="));
				}
			}
			continue;
		}
		if (long_name != NULL) {
			name = g_steal_pointer(&long_name);
		} else if (memcmp(hdr + 257, "ustar", 5) == 0 && hdr[345] != '\0') {
			g_autofree gchar *prefix = g_strndup((char *)hdr + 345, 155);
			g_autofree gchar *base = g_strndup((char *)hdr, 100);

			name = g_strdup_printf("%s/%s", prefix, base);
		} else {
			name = g_strndup((char *)hdr, 100);
		}
		if (type == '0' || type == '\0' || type == '1' || type == '2' || type == '7')
			pds_root_add(entries, name, type == '2' ? 0 : size);
		/*
		 * Read, not skip: GFilterInputStream skips on its base stream,
		 * which for gzip would skip compressed bytes.
		 */
		while (type != '1' && type != '2' && padded > 0) {
			guint8 discard[8192];
			gssize n = g_input_stream_read(in, discard, MIN(padded, sizeof(discard)),
						       NULL, error);

			if (n < 0)
				return FALSE;
			if (n == 0) {
				g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					    "%s: truncated tar archive", path);
				return FALSE;
			}
			padded -= (guint64)n;
		}
	}
	return TRUE;
}

static gint
pds_root_entry_cmp(gconstpointer a, gconstpointer b)
{
	const PdsRootEntry *ea = *(PdsRootEntry *const *)a;
	const PdsRootEntry *eb = *(PdsRootEntry *const *)b;

	return strcmp(ea->path, eb->path);
}

gchar *
pds_snoop_tools_unused(const char *root, GPtrArray *reports, GError **error)
{
	g_autoptr(GPtrArray) entries =
		g_ptr_array_new_with_free_func((GDestroyNotify)pds_root_entry_free);
	g_autoptr(GHashTable) touched = pds_snoop_touched(reports);
	GString *out;
	guint64 unused_bytes = 0, total_bytes = 0;
	guint unused = 0;

	if (g_file_test(root, G_FILE_TEST_IS_DIR)) {
		if (!pds_root_scan_dir(entries, root, "", error))
			return NULL;
	} else if (!pds_root_scan_tar(entries, root, error)) {
		g_prefix_error(error, "cannot read the image root %s: ", root);
		return NULL;
	}
	g_ptr_array_sort(entries, pds_root_entry_cmp);
	out = g_string_new(NULL);
	for (guint i = 0; i < entries->len; i++) {
		PdsRootEntry *e = g_ptr_array_index(entries, i);

		total_bytes += e->size;
		if (g_hash_table_contains(touched, e->path))
			continue;
		unused++;
		unused_bytes += e->size;
		g_string_append_printf(out, "%s\n", e->path);
	}
	g_string_append_printf(out,
			       "# %u of %u files unused, %" G_GUINT64_FORMAT
			       " of %" G_GUINT64_FORMAT " bytes\n",
			       unused, entries->len, unused_bytes, total_bytes);
	return g_string_free(out, FALSE);
}

static GPtrArray *
pds_snoop_tools_load_all(char **paths, GError **error)
{
	g_autoptr(GPtrArray) reports =
		g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

	for (guint i = 0; paths != NULL && paths[i] != NULL; i++) {
		JsonNode *n = pds_snoop_tools_load(paths[i], error);

		if (n == NULL)
			return NULL;
		g_ptr_array_add(reports, n);
	}
	return g_steal_pointer(&reports);
}

int
pds_snoop_tools_main(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) reports = NULL;
	g_autofree gchar *output = NULL;
	g_autofree gchar *root = NULL;
	g_autofree gchar *text = NULL;
	g_auto(GStrv) files = NULL;
	const char *cmd = argv[0];
	gint depth = 2;
	GOptionEntry entries[] = {
		{"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
		 N_("Write the merged report here (merge)"), "FILE"},
		{"root", 0, 0, G_OPTION_ARG_FILENAME, &root,
		 N_("Image root filesystem: a directory or a tar archive (unused)"), "PATH"},
		{"depth", 0, 0, G_OPTION_ARG_INT, &depth,
		 N_("Directory depth to group by (summary)"), "N"},
		{G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, "REPORT..."},
		G_OPTION_ENTRY_NULL};
	g_autofree gchar *param = g_strdup_printf("%s REPORT...", cmd);

	ctx = g_option_context_new(param);
	g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		g_printerr("podscope-snoop %s: %s\n", cmd, error->message);
		return 2;
	}
	if (files == NULL || files[0] == NULL) {
		/* TRANSLATORS: %s is a subcommand name */
		g_printerr(_("podscope-snoop %s: give at least one report file\n"), cmd);
		return 2;
	}
	reports = pds_snoop_tools_load_all(files, &error);
	if (reports == NULL) {
		g_printerr("podscope-snoop %s: %s\n", cmd, error->message);
		return 1;
	}
	if (g_strcmp0(cmd, "merge") == 0) {
		g_autoptr(JsonNode) merged = pds_snoop_tools_merge(reports);

		if (output != NULL) {
			if (!pds_snoop_json_write_file(merged, output, &error)) {
				g_printerr("podscope-snoop merge: %s\n", error->message);
				return 1;
			}
			return 0;
		}
		text = json_to_string(merged, TRUE);
		g_print("%s\n", text);
		return 0;
	}
	if (g_strcmp0(cmd, "diff") == 0) {
		if (reports->len != 2) {
			g_printerr(_("podscope-snoop diff: give exactly two reports, A and B\n"));
			return 2;
		}
		text = pds_snoop_tools_diff(g_ptr_array_index(reports, 0),
					    g_ptr_array_index(reports, 1), "A", "B");
		g_print("%s", text);
		return 0;
	}
	if (g_strcmp0(cmd, "summary") == 0) {
		if (depth < 1) {
			g_printerr(_("podscope-snoop summary: --depth must be 1 or more\n"));
			return 2;
		}
		for (guint i = 0; i < reports->len; i++) {
			g_autofree gchar *s = pds_snoop_tools_summary(g_ptr_array_index(reports, i),
								      (guint)depth);

			g_print("%s", s);
		}
		return 0;
	}
	if (root == NULL) {
		g_printerr(_("podscope-snoop unused: give the image root with --root DIR|TAR\n"));
		return 2;
	}
	text = pds_snoop_tools_unused(root, reports, &error);
	if (text == NULL) {
		g_printerr("podscope-snoop unused: %s\n", error->message);
		return 1;
	}
	g_print("%s", text);
	return 0;
}
