/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file-access report: per container the files it touched, with how and
 * how often; per pod its identity and the event totals. Kept in memory with a
 * bounded LRU per container and written as JSON atomically.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "pds-snoop-lru.h"

G_BEGIN_DECLS

#define PDS_SNOOP_REPORT_VERSION 1

typedef struct {
	gchar *path;	      /* normalised, absolute (or raw when unresolved); same block */
	gchar *raw_path;      /* as requested, when it differs from path */
	gchar *resolved_path; /* kernel path of the returned fd, when it differs */
	guint32 syscalls;     /* bit (1 << enum pds_snoop_syscall) per syscall seen */
	guint32 status;	      /* OR of enum pds_snoop_status bits seen */
	guint64 count;
	gint64 first_seen_us;
	gint64 last_seen_us;
	gboolean ok;	 /* at least one access succeeded */
	gint last_errno; /* errno of the last failed access */
} PdsSnoopFile;

typedef struct {
	guint64 cgroup_id;
	gchar *id; /* runtime container id, or the cgroup directory name */
	gchar *name;
	gchar *cgroup;	     /* cgroup path relative to the cgroup root */
	gchar *image;	     /* image reference, when known */
	gchar *image_digest; /* when known */
	guint64 events;	     /* accesses attributed to this container */
	PdsSnoopLru *files;  /* path -> PdsSnoopFile */
} PdsSnoopContainer;

typedef struct {
	gchar *pod;
	gchar *namespace;
	gchar *node;
	GHashTable *labels; /* gchar* -> gchar* */
	gint64 started_us;
	gint64 updated_us;
	guint64 events_total;
	guint64 events_dropped;	 /* lost in the kernel ring buffer */
	guint64 events_excluded; /* under an excluded prefix */
	guint64 events_unresolved;
	guint lru_size;
	GHashTable *containers; /* guint64 cgroup id (boxed) -> PdsSnoopContainer */
} PdsSnoopReport;

PdsSnoopReport *pds_snoop_report_new(guint lru_size);
void pds_snoop_report_free(PdsSnoopReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsSnoopReport, pds_snoop_report_free)

PdsSnoopContainer *pds_snoop_report_lookup_container(PdsSnoopReport *report, guint64 cgroup_id);
/* Adds a container (or returns the existing one, names updated). */
PdsSnoopContainer *pds_snoop_report_ensure_container(PdsSnoopReport *report,
						     guint64 cgroup_id,
						     const char *id,
						     const char *name,
						     const char *cgroup);
/*
 * Records one access. Returns the file; *first_seen is TRUE when this
 * (container, path, syscall) was not known yet.
 */
PdsSnoopFile *pds_snoop_container_add(PdsSnoopContainer *container,
				      const char *path,
				      const char *raw_path,
				      const char *resolved_path,
				      guint32 syscall,
				      guint32 status,
				      gint64 result,
				      gint64 now_us,
				      gboolean *first_seen);
guint64 pds_snoop_report_get_unique_files(PdsSnoopReport *report);

/* Atomically replaces @path (temp file, fsync, rename, fsync of the directory). */
gboolean pds_snoop_report_write(PdsSnoopReport *report, const char *path, GError **error);
/* Writes @node to @path the same way; shared with the report tools. */
gboolean pds_snoop_json_write_file(JsonNode *node, const char *path, GError **error);

/* "ENOENT" for 2; "E<n>" when the name is unknown. */
gchar *pds_snoop_errno_name(gint err);

G_END_DECLS
