/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <errno.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "pds-snoop-cgroup.h"

void
pds_snoop_cgroup_child_free(PdsSnoopCgroupChild *child)
{
	if (child == NULL)
		return;
	g_free(child->name);
	g_free(child->path);
	g_free(child->id);
	g_free(child->label);
	g_free(child);
}

static gboolean
pds_snoop_cgroup_is_cgroup2(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

gchar *
pds_snoop_cgroup_find_root(const char *hint, GError **error)
{
	const char *candidates[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};

	if (hint != NULL) {
		if (!pds_snoop_cgroup_is_cgroup2(hint)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				    "%s is not a cgroup v2 mount; give the cgroup2 mount point "
				    "(e.g. /sys/fs/cgroup) in SNOOP_CGROUP_ROOT/--cgroup-root",
				    hint);
			return NULL;
		}
		return g_strdup(hint);
	}
	for (guint i = 0; i < G_N_ELEMENTS(candidates); i++) {
		if (pds_snoop_cgroup_is_cgroup2(candidates[i]))
			return g_strdup(candidates[i]);
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		    "no cgroup v2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup; "
		    "snoop needs cgroup v2 (mount it, or set SNOOP_CGROUP_ROOT)");
	return NULL;
}

gboolean
pds_snoop_cgroup_get_id(const char *path, guint64 *id, GError **error)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		int err = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot stat cgroup %s: %s", path, g_strerror(err));
		return FALSE;
	}
	if (!S_ISDIR(st.st_mode)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
			    "cgroup %s is not a directory", path);
		return FALSE;
	}
	*id = st.st_ino;
	return TRUE;
}

guint
pds_snoop_cgroup_get_level(const char *root, const char *path)
{
	gsize n = strlen(root);
	guint level = 0;
	const char *p;

	if (strncmp(path, root, n) != 0)
		return 0;
	p = path + n;
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		level++;
		while (*p != '\0' && *p != '/')
			p++;
	}
	return level;
}

/* Depth-first search for the directory whose inode is @id (inside a cgroup namespace). */
static gchar *
pds_snoop_cgroup_search_id(const char *dir, guint64 id, guint depth)
{
	g_autoptr(GDir) d = NULL;
	const char *name;

	if (depth > 12)
		return NULL;
	d = g_dir_open(dir, 0, NULL);
	if (d == NULL)
		return NULL;
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *child = g_build_filename(dir, name, NULL);
		g_autofree gchar *found = NULL;
		struct stat st;

		if (lstat(child, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (st.st_ino == id)
			return g_steal_pointer(&child);
		found = pds_snoop_cgroup_search_id(child, id, depth + 1);
		if (found != NULL)
			return g_steal_pointer(&found);
	}
	return NULL;
}

gchar *
pds_snoop_cgroup_find_self(const char *root, GError **error)
{
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;
	const char *rel = NULL;

	if (!g_file_get_contents("/proc/self/cgroup", &contents, NULL, error)) {
		g_prefix_error(error, "cannot read this process's cgroup: ");
		return NULL;
	}
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "0::"))
			rel = lines[i] + 3;
	}
	if (rel == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "/proc/self/cgroup has no cgroup v2 entry (0::)");
		return NULL;
	}
	if (g_strcmp0(rel, "/") != 0) {
		g_autofree gchar *path = g_build_filename(root, rel, NULL);

		if (g_file_test(path, G_FILE_TEST_IS_DIR))
			return g_steal_pointer(&path);
	}
	/*
	 * Inside a cgroup namespace the path is "/" (or relative to the
	 * namespace root); the namespace's own cgroupfs mount shows our cgroup
	 * as its root, and its inode is our id in the full hierarchy at @root.
	 */
	{
		const char *local[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};

		for (guint i = 0; i < G_N_ELEMENTS(local); i++) {
			g_autofree gchar *found = NULL;
			struct stat st;

			if (g_strcmp0(local[i], root) == 0 ||
			    !pds_snoop_cgroup_is_cgroup2(local[i]))
				continue;
			if (stat(local[i], &st) != 0)
				continue;
			found = pds_snoop_cgroup_search_id(root, st.st_ino, 0);
			if (found != NULL)
				return g_steal_pointer(&found);
		}
	}
	if (g_strcmp0(rel, "/") == 0)
		return g_strdup(root);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		    "this process's cgroup %s is not under %s; mount the host's cgroup2 "
		    "hierarchy and set SNOOP_CGROUP_ROOT, or give the pod cgroup with --cgroup",
		    rel, root);
	return NULL;
}

static gboolean
pds_snoop_is_hex(const char *s, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isxdigit(s[i]))
			return FALSE;
	}
	return TRUE;
}

void
pds_snoop_cgroup_parse_name(const char *name, gchar **id, gchar **label)
{
	const char *prefixes[] = {"cri-containerd-", "crio-", "docker-", "libpod-", ""};
	gsize n = strlen(name);
	gsize body_len = n;

	if (g_str_has_suffix(name, ".scope"))
		body_len = n - strlen(".scope");
	for (guint i = 0; i < G_N_ELEMENTS(prefixes); i++) {
		gsize plen = strlen(prefixes[i]);

		if (strncmp(name, prefixes[i], plen) != 0 || body_len < plen)
			continue;
		if (body_len - plen == 64 && pds_snoop_is_hex(name + plen, 64)) {
			*id = g_strndup(name + plen, 64);
			*label = g_strndup(name + plen, 12);
			return;
		}
	}
	*id = g_strdup(name);
	*label = g_strdup(name);
}

static gint
pds_snoop_child_cmp(gconstpointer a, gconstpointer b)
{
	const PdsSnoopCgroupChild *ca = *(PdsSnoopCgroupChild *const *)a;
	const PdsSnoopCgroupChild *cb = *(PdsSnoopCgroupChild *const *)b;

	return strcmp(ca->name, cb->name);
}

GPtrArray *
pds_snoop_cgroup_list_children(const char *pod_path, GError **error)
{
	g_autoptr(GPtrArray) children =
		g_ptr_array_new_with_free_func((GDestroyNotify)pds_snoop_cgroup_child_free);
	g_autoptr(GDir) dir = g_dir_open(pod_path, 0, error);
	const char *name;

	if (dir == NULL) {
		g_prefix_error(error, "cannot list the pod cgroup: ");
		return NULL;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(pod_path, name, NULL);
		PdsSnoopCgroupChild *child;
		struct stat st;

		if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		/* CRI-O's monitor process is not a container. */
		if (g_str_has_prefix(name, "crio-conmon-"))
			continue;
		child = g_new0(PdsSnoopCgroupChild, 1);
		child->name = g_strdup(name);
		child->path = g_steal_pointer(&path);
		child->cgroup_id = st.st_ino;
		pds_snoop_cgroup_parse_name(name, &child->id, &child->label);
		g_ptr_array_add(children, child);
	}
	g_ptr_array_sort(children, pds_snoop_child_cmp);
	return g_steal_pointer(&children);
}

gboolean
pds_snoop_cgroup_read_runtime_meta(const char *const *templates,
				   const char *id,
				   gchar **name,
				   gchar **image)
{
	const char *name_keys[] = {"io.kubernetes.cri.container-name",
				   "io.kubernetes.container.name"};
	const char *image_keys[] = {"io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName",
				    "io.kubernetes.cri-o.Image"};

	if (templates == NULL)
		return FALSE;
	for (guint i = 0; templates[i] != NULL; i++) {
		g_auto(GStrv) parts = g_strsplit(templates[i], "{id}", -1);
		g_autofree gchar *path = g_strjoinv(id, parts);
		g_autoptr(JsonParser) parser = json_parser_new();
		JsonObject *root, *ann;

		if (!g_file_test(path, G_FILE_TEST_IS_REGULAR) ||
		    !json_parser_load_from_file(parser, path, NULL))
			continue;
		if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
			continue;
		root = json_node_get_object(json_parser_get_root(parser));
		if (!json_object_has_member(root, "annotations") ||
		    !JSON_NODE_HOLDS_OBJECT(json_object_get_member(root, "annotations")))
			continue;
		ann = json_object_get_object_member(root, "annotations");
		for (guint k = 0; k < G_N_ELEMENTS(name_keys) && *name == NULL; k++) {
			if (json_object_has_member(ann, name_keys[k]))
				*name = g_strdup(json_object_get_string_member(ann, name_keys[k]));
		}
		for (guint k = 0; k < G_N_ELEMENTS(image_keys) && *image == NULL; k++) {
			if (json_object_has_member(ann, image_keys[k]))
				*image =
					g_strdup(json_object_get_string_member(ann, image_keys[k]));
		}
		if (*name != NULL)
			return TRUE;
	}
	return FALSE;
}
