/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup v2 discovery: where the hierarchy is mounted, which cgroup is the
 * pod (the parent of snoop's own, or --cgroup), and which child cgroups are
 * its containers, with ids derived from containerd, CRI-O and Docker names.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	gchar *name;  /* directory name */
	gchar *path;  /* absolute path */
	gchar *id;    /* runtime container id, or the directory name */
	gchar *label; /* short display name: 12 characters of a runtime id, or the name */
	guint64 cgroup_id;
} PdsSnoopCgroupChild;

void pds_snoop_cgroup_child_free(PdsSnoopCgroupChild *child);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsSnoopCgroupChild, pds_snoop_cgroup_child_free)

/* @hint if set (must be a cgroup2 mount), else /sys/fs/cgroup/unified or /sys/fs/cgroup. */
gchar *pds_snoop_cgroup_find_root(const char *hint, GError **error);
/* The cgroup id (inode number of the directory). */
gboolean pds_snoop_cgroup_get_id(const char *path, guint64 *id, GError **error);
/* Depth of @path below @root (the root itself is level 0). */
guint pds_snoop_cgroup_get_level(const char *root, const char *path);
/* The absolute directory of this process's cgroup under @root. */
gchar *pds_snoop_cgroup_find_self(const char *root, GError **error);
/* Child cgroups of @pod_path, sorted by name. */
GPtrArray *pds_snoop_cgroup_list_children(const char *pod_path, GError **error);
/* Splits a cgroup directory name into a container id and a short label. */
void pds_snoop_cgroup_parse_name(const char *name, gchar **id, gchar **label);

/*
 * The Kubernetes container name and image of runtime container @id, read from
 * the OCI config.json annotations that containerd and CRI-O write. @templates
 * are paths with "{id}" in them. FALSE when no file names it.
 */
gboolean pds_snoop_cgroup_read_runtime_meta(const char *const *templates,
					    const char *id,
					    gchar **name,
					    gchar **image);

G_END_DECLS
