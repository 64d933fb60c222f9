/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podscope-snoop settings: every one from a SNOOP_* environment variable
 * (what a Kubernetes manifest sets) and from the matching flag (which wins).
 * Each value is validated, and an error names the variable or flag and the
 * form it accepts.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	gchar *cgroup;	    /* pod cgroup (absolute, or relative to cgroup_root) */
	gchar *cgroup_root; /* cgroup2 mount */
	gchar *report;	    /* report file */
	guint64 interval_secs;
	gchar **exclude; /* absolute path prefixes */
	guint64 lru_size;
	guint64 kernel_dedup_size;
	guint64 ringbuf_size;
	guint64 wakeup_bytes;
	guint64 poll_ms;
	guint64 rescan_secs; /* fallback cgroup rescan; new cgroups are seen by inotify */
	gchar *metrics;	     /* ADDR:PORT, NULL = off */
	gchar *hub;	     /* HOST:PORT, NULL = no stream */
	gchar *ca;
	gchar *cert;
	gchar *key;
	gboolean stream_all;
	gchar *pod;
	gchar *namespace;
	gchar *node;
	gchar **labels;	    /* "key=value" */
	gchar *labels_file; /* downward API labels file */
	gchar **images;	    /* "container=ref[@digest]" */
	gchar *ready_file;
	gchar *log_level;	 /* error|warning|message|info|debug */
	gchar **runtime_configs; /* OCI config.json path templates with {id} */
	gchar *btf;		 /* kernel BTF, NULL = /sys/kernel/btf/vmlinux */
} PdsSnoopConfig;

PdsSnoopConfig *pds_snoop_config_new(void);
void pds_snoop_config_free(PdsSnoopConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PdsSnoopConfig, pds_snoop_config_free)

/*
 * Applies SNOOP_* variables from @envp (NULL: the process environment), then
 * the flags in @argv (consumed). Fails on the first invalid value.
 */
gboolean pds_snoop_config_load(
	PdsSnoopConfig *config, const char *const *envp, int *argc, char ***argv, GError **error);
/* Sets one setting by its environment variable name (as the loader does). */
gboolean pds_snoop_config_set(PdsSnoopConfig *config,
			      const char *variable,
			      const char *value,
			      GError **error);
/* The help text of the daemon's flags. */
gchar *pds_snoop_config_get_help(void);

G_END_DECLS
