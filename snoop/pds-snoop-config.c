/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <errno.h>
#include <gio/gio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pds-snoop-config.h"

typedef enum {
	PDS_OPT_STRING,
	PDS_OPT_PATH, /* non-empty path */
	PDS_OPT_UINT,
	PDS_OPT_SIZE, /* bytes with an optional K/M/G suffix */
	PDS_OPT_POW2, /* size, power of two */
	PDS_OPT_BOOL,
	PDS_OPT_PREFIXES,  /* comma-separated absolute paths, "" for none */
	PDS_OPT_PAIRS,	   /* comma-separated key=value */
	PDS_OPT_TEMPLATES, /* comma-separated absolute paths holding {id} */
	PDS_OPT_HOSTPORT,
	PDS_OPT_LEVEL,
} PdsOptKind;

typedef struct {
	const char *variable;
	const char *flag;
	PdsOptKind kind;
	gsize offset;
	guint64 min;
	guint64 max;
	const char *form;
	const char *help;
} PdsOpt;

#define OFF(m) offsetof(PdsSnoopConfig, m)

static const PdsOpt pds_snoop_opts[] = {
	{"SNOOP_CGROUP", "cgroup", PDS_OPT_PATH, OFF(cgroup), 0, 0,
	 "a cgroup v2 directory, absolute or relative to the cgroup root",
	 "Pod cgroup to trace (default: the parent of snoop's own cgroup)"},
	{"SNOOP_CGROUP_ROOT", "cgroup-root", PDS_OPT_PATH, OFF(cgroup_root), 0, 0,
	 "the cgroup v2 mount point, e.g. /sys/fs/cgroup", "cgroup v2 mount point"},
	{"SNOOP_REPORT", "report", PDS_OPT_PATH, OFF(report), 0, 0,
	 "a file path, e.g. /var/lib/podscope-snoop/report.json", "JSON report file"},
	{"SNOOP_INTERVAL", "interval", PDS_OPT_UINT, OFF(interval_secs), 1, 86400,
	 "whole seconds from 1 to 86400, e.g. 10", "Seconds between report writes"},
	{"SNOOP_EXCLUDE", "exclude", PDS_OPT_PREFIXES, OFF(exclude), 0, 0,
	 "comma-separated absolute path prefixes, e.g. /proc,/sys,/dev (empty for none)",
	 "Path prefixes left out of reports"},
	{"SNOOP_LRU_SIZE", "lru-size", PDS_OPT_UINT, OFF(lru_size), 16, 100000000,
	 "a whole number from 16 to 100000000", "Files remembered per container"},
	{"SNOOP_KERNEL_DEDUP_SIZE", "kernel-dedup-size", PDS_OPT_UINT, OFF(kernel_dedup_size), 1024,
	 16777216, "a whole number from 1024 to 16777216",
	 "Entries of the in-kernel deduplication LRU"},
	{"SNOOP_RINGBUF_SIZE", "ringbuf-size", PDS_OPT_POW2, OFF(ringbuf_size), 4096,
	 G_GUINT64_CONSTANT(1) << 30, "a power of two from 4K to 1G, e.g. 4M",
	 "Kernel ring buffer size"},
	{"SNOOP_WAKEUP_BYTES", "wakeup-bytes", PDS_OPT_SIZE, OFF(wakeup_bytes), 0,
	 G_GUINT64_CONSTANT(1) << 30, "bytes (K/M suffix allowed), 0 to wake on every event",
	 "Ring buffer fill that wakes the reader early"},
	{"SNOOP_POLL_MS", "poll-ms", PDS_OPT_UINT, OFF(poll_ms), 1, 10000,
	 "milliseconds from 1 to 10000", "Ring buffer poll interval"},
	{"SNOOP_RESCAN_SECS", "rescan-secs", PDS_OPT_UINT, OFF(rescan_secs), 1, 86400,
	 "whole seconds from 1 to 86400, e.g. 2",
	 "Seconds between container rescans (new cgroups are seen at once by inotify)"},
	{"SNOOP_METRICS", "metrics", PDS_OPT_HOSTPORT, OFF(metrics), 0, 0,
	 "ADDR:PORT, e.g. 0.0.0.0:9464 (port 0 picks one)", "Serve /metrics and /healthz"},
	{"SNOOP_HUB", "hub", PDS_OPT_HOSTPORT, OFF(hub), 0, 0, "HOST:PORT, e.g. podscope-hub:7443",
	 "Stream file accesses to this hub"},
	{"SNOOP_CA", "ca", PDS_OPT_PATH, OFF(ca), 0, 0, "a PEM file path",
	 "Session CA certificate"},
	{"SNOOP_CERT", "cert", PDS_OPT_PATH, OFF(cert), 0, 0, "a PEM file path",
	 "Client certificate"},
	{"SNOOP_KEY", "key", PDS_OPT_PATH, OFF(key), 0, 0, "a PEM file path", "Client key"},
	{"SNOOP_STREAM_ALL", "stream-all", PDS_OPT_BOOL, OFF(stream_all), 0, 0,
	 "1, 0, true, false, yes or no", "Stream every access, not only first-seen ones"},
	{"SNOOP_POD", "pod", PDS_OPT_STRING, OFF(pod), 0, 0, "a pod name", "Pod name"},
	{"SNOOP_NAMESPACE", "namespace", PDS_OPT_STRING, OFF(namespace), 0, 0, "a namespace name",
	 "Pod namespace"},
	{"SNOOP_NODE", "node", PDS_OPT_STRING, OFF(node), 0, 0, "a node name", "Node name"},
	{"SNOOP_LABELS", "labels", PDS_OPT_PAIRS, OFF(labels), 0, 0,
	 "comma-separated key=value pairs, e.g. app=web,tier=front", "Pod labels"},
	{"SNOOP_LABELS_FILE", "labels-file", PDS_OPT_PATH, OFF(labels_file), 0, 0,
	 "a downward API labels file path", "Pod labels file (downward API)"},
	{"SNOOP_IMAGES", "images", PDS_OPT_PAIRS, OFF(images), 0, 0,
	 "comma-separated container=image[@digest] pairs", "Image of each container"},
	{"SNOOP_READY_FILE", "ready-file", PDS_OPT_PATH, OFF(ready_file), 0, 0, "a file path",
	 "Write {\"pid\",\"metrics_port\"} here once the probes are attached"},
	{"SNOOP_RUNTIME_CONFIGS", "runtime-configs", PDS_OPT_TEMPLATES, OFF(runtime_configs), 0, 0,
	 "comma-separated absolute paths containing {id}, e.g. "
	 "/run/containerd/io.containerd.runtime.v2.task/k8s.io/{id}/config.json",
	 "Where the runtime keeps each container's OCI config (names and images)"},
	{"SNOOP_BTF", "btf", PDS_OPT_PATH, OFF(btf), 0, 0,
	 "a BTF file of the running kernel, e.g. /sys/kernel/btf/vmlinux",
	 "Kernel BTF (for kernels that do not expose their own)"},
	{"SNOOP_LOG_LEVEL", "log-level", PDS_OPT_LEVEL, OFF(log_level), 0, 0,
	 "error, warning, message, info or debug", "Log level"},
};

PdsSnoopConfig *
pds_snoop_config_new(void)
{
	PdsSnoopConfig *config = g_new0(PdsSnoopConfig, 1);

	config->report = g_strdup("/var/lib/podscope-snoop/report.json");
	config->interval_secs = 10;
	config->exclude = g_strsplit("/proc,/sys,/dev", ",", -1);
	config->lru_size = 100000;
	config->kernel_dedup_size = 65536;
	config->ringbuf_size = 4 * 1024 * 1024;
	config->wakeup_bytes = 256 * 1024;
	config->poll_ms = 100;
	config->rescan_secs = 2;
	config->log_level = g_strdup("message");
	config->runtime_configs = g_strsplit(
		"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{id}/config.json,"
		"/run/containers/storage/overlay-containers/{id}/userdata/config.json,"
		"/var/lib/containers/storage/overlay-containers/{id}/userdata/config.json",
		",", -1);
	return config;
}

void
pds_snoop_config_free(PdsSnoopConfig *config)
{
	if (config == NULL)
		return;
	for (guint i = 0; i < G_N_ELEMENTS(pds_snoop_opts); i++) {
		const PdsOpt *o = &pds_snoop_opts[i];
		gpointer field = G_STRUCT_MEMBER_P(config, o->offset);

		switch (o->kind) {
		case PDS_OPT_STRING:
		case PDS_OPT_PATH:
		case PDS_OPT_HOSTPORT:
		case PDS_OPT_LEVEL:
			g_free(*(gchar **)field);
			break;
		case PDS_OPT_PREFIXES:
		case PDS_OPT_PAIRS:
		case PDS_OPT_TEMPLATES:
			g_strfreev(*(gchar ***)field);
			break;
		default:
			break;
		}
	}
	g_free(config);
}

static gboolean
pds_snoop_parse_size(const char *value, guint64 *out)
{
	g_autofree gchar *s = g_strstrip(g_strdup(value));
	gchar *end = NULL;
	guint64 v, mult = 1;

	if (s[0] == '\0' || !g_ascii_isdigit(s[0]))
		return FALSE;
	errno = 0;
	v = g_ascii_strtoull(s, &end, 10);
	if (errno != 0)
		return FALSE;
	if (g_ascii_strcasecmp(end, "k") == 0 || g_ascii_strcasecmp(end, "kib") == 0)
		mult = 1024;
	else if (g_ascii_strcasecmp(end, "m") == 0 || g_ascii_strcasecmp(end, "mib") == 0)
		mult = 1024 * 1024;
	else if (g_ascii_strcasecmp(end, "g") == 0 || g_ascii_strcasecmp(end, "gib") == 0)
		mult = 1024 * 1024 * 1024;
	else if (*end != '\0')
		return FALSE;
	if (v > G_MAXUINT64 / mult)
		return FALSE;
	*out = v * mult;
	return TRUE;
}

static gboolean
pds_snoop_parse_hostport(const char *value)
{
	const char *colon = strrchr(value, ':');
	guint64 port;

	if (colon == NULL || colon == value)
		return FALSE;
	return g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &port, NULL);
}

static gboolean
pds_snoop_opt_apply(PdsSnoopConfig *config,
		    const PdsOpt *o,
		    const char *name,
		    const char *value,
		    GError **error)
{
	gpointer field = G_STRUCT_MEMBER_P(config, o->offset);
	guint64 v = 0;
	gboolean ok = TRUE;

	switch (o->kind) {
	case PDS_OPT_STRING:
		g_free(*(gchar **)field);
		*(gchar **)field = value[0] != '\0' ? g_strdup(value) : NULL;
		return TRUE;
	case PDS_OPT_PATH:
		ok = value[0] != '\0';
		if (ok) {
			g_free(*(gchar **)field);
			*(gchar **)field = g_strdup(value);
		}
		break;
	case PDS_OPT_UINT:
		ok = g_ascii_string_to_unsigned(value, 10, o->min, o->max, &v, NULL);
		if (ok)
			*(guint64 *)field = v;
		break;
	case PDS_OPT_SIZE:
	case PDS_OPT_POW2:
		ok = pds_snoop_parse_size(value, &v) && v >= o->min && v <= o->max;
		if (ok && o->kind == PDS_OPT_POW2)
			ok = (v & (v - 1)) == 0;
		if (ok)
			*(guint64 *)field = v;
		break;
	case PDS_OPT_BOOL:
		if (g_strv_contains((const char *const[]){"1", "true", "yes", "on", NULL}, value))
			*(gboolean *)field = TRUE;
		else if (g_strv_contains((const char *const[]){"0", "false", "no", "off", NULL},
					 value))
			*(gboolean *)field = FALSE;
		else
			ok = FALSE;
		break;
	case PDS_OPT_PREFIXES: {
		g_auto(GStrv) parts = g_strsplit(value, ",", -1);
		g_autoptr(GStrvBuilder) b = g_strv_builder_new();

		for (guint i = 0; parts[i] != NULL && ok; i++) {
			g_strstrip(parts[i]);
			if (parts[i][0] == '\0')
				continue;
			if (parts[i][0] != '/')
				ok = FALSE;
			g_strv_builder_add(b, parts[i]);
		}
		if (ok) {
			g_strfreev(*(gchar ***)field);
			*(gchar ***)field = g_strv_builder_end(b);
		}
		break;
	}
	case PDS_OPT_PAIRS: {
		g_auto(GStrv) parts = g_strsplit(value, ",", -1);
		g_autoptr(GStrvBuilder) b = g_strv_builder_new();

		for (guint i = 0; parts[i] != NULL && ok; i++) {
			const char *eq;

			g_strstrip(parts[i]);
			if (parts[i][0] == '\0')
				continue;
			eq = strchr(parts[i], '=');
			if (eq == NULL || eq == parts[i])
				ok = FALSE;
			g_strv_builder_add(b, parts[i]);
		}
		if (ok) {
			g_strfreev(*(gchar ***)field);
			*(gchar ***)field = g_strv_builder_end(b);
		}
		break;
	}
	case PDS_OPT_TEMPLATES: {
		g_auto(GStrv) parts = g_strsplit(value, ",", -1);
		g_autoptr(GStrvBuilder) b = g_strv_builder_new();

		for (guint i = 0; parts[i] != NULL && ok; i++) {
			g_strstrip(parts[i]);
			if (parts[i][0] == '\0')
				continue;
			if (parts[i][0] != '/' || strstr(parts[i], "{id}") == NULL)
				ok = FALSE;
			g_strv_builder_add(b, parts[i]);
		}
		if (ok) {
			g_strfreev(*(gchar ***)field);
			*(gchar ***)field = g_strv_builder_end(b);
		}
		break;
	}
	case PDS_OPT_HOSTPORT:
		if (value[0] == '\0') {
			g_clear_pointer((gchar **)field, g_free);
			return TRUE;
		}
		ok = pds_snoop_parse_hostport(value);
		if (ok) {
			g_free(*(gchar **)field);
			*(gchar **)field = g_strdup(value);
		}
		break;
	case PDS_OPT_LEVEL:
		ok = g_strv_contains(
			(const char *const[]){"error", "warning", "message", "info", "debug", NULL},
			value);
		if (ok) {
			g_free(*(gchar **)field);
			*(gchar **)field = g_strdup(value);
		}
		break;
	}
	if (!ok) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "invalid %s=\"%s\": expected %s", name, value, o->form);
		return FALSE;
	}
	return TRUE;
}

gboolean
pds_snoop_config_set(PdsSnoopConfig *config,
		     const char *variable,
		     const char *value,
		     GError **error)
{
	for (guint i = 0; i < G_N_ELEMENTS(pds_snoop_opts); i++) {
		if (g_strcmp0(pds_snoop_opts[i].variable, variable) == 0)
			return pds_snoop_opt_apply(config, &pds_snoop_opts[i], variable, value,
						   error);
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown setting %s", variable);
	return FALSE;
}

static GOptionEntry *
pds_snoop_config_entries(gchar **values, gboolean *flags)
{
	GOptionEntry *entries = g_new0(GOptionEntry, G_N_ELEMENTS(pds_snoop_opts) + 1);

	for (guint i = 0; i < G_N_ELEMENTS(pds_snoop_opts); i++) {
		const PdsOpt *o = &pds_snoop_opts[i];

		entries[i].long_name = o->flag;
		entries[i].description = o->help;
		if (o->kind == PDS_OPT_BOOL) {
			entries[i].arg = G_OPTION_ARG_NONE;
			entries[i].arg_data = &flags[i];
		} else {
			entries[i].arg = G_OPTION_ARG_STRING;
			entries[i].arg_data = &values[i];
			entries[i].arg_description = "VALUE";
		}
	}
	return entries;
}

gboolean
pds_snoop_config_load(
	PdsSnoopConfig *config, const char *const *envp, int *argc, char ***argv, GError **error)
{
	gchar *values[G_N_ELEMENTS(pds_snoop_opts)] = {NULL};
	gboolean flags[G_N_ELEMENTS(pds_snoop_opts)] = {FALSE};
	g_autofree GOptionEntry *entries = NULL;
	g_autoptr(GOptionContext) ctx = NULL;
	g_auto(GStrv) own_env = NULL;
	gboolean verbose = FALSE;
	gboolean ok = TRUE;
	GOptionEntry verbose_entry[] = {
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Same as --log-level=info", NULL},
		G_OPTION_ENTRY_NULL};

	if (envp == NULL) {
		own_env = g_get_environ();
		envp = (const char *const *)own_env;
	}
	for (guint i = 0; i < G_N_ELEMENTS(pds_snoop_opts); i++) {
		const char *v = g_environ_getenv((gchar **)envp, pds_snoop_opts[i].variable);

		if (v != NULL && !pds_snoop_opt_apply(config, &pds_snoop_opts[i],
						      pds_snoop_opts[i].variable, v, error))
			return FALSE;
	}
	if (argc == NULL || argv == NULL)
		return TRUE;

	entries = pds_snoop_config_entries(values, flags);
	ctx = g_option_context_new("- trace the file accesses of a pod's containers");
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_add_main_entries(ctx, verbose_entry, NULL);
	if (!g_option_context_parse(ctx, argc, argv, error))
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(pds_snoop_opts); i++) {
		g_autofree gchar *name = g_strdup_printf("--%s", pds_snoop_opts[i].flag);

		if (ok && values[i] != NULL)
			ok = pds_snoop_opt_apply(config, &pds_snoop_opts[i], name, values[i],
						 error);
		if (ok && flags[i])
			ok = pds_snoop_opt_apply(config, &pds_snoop_opts[i], name, "1", error);
		g_free(values[i]);
	}
	if (ok && verbose && g_strcmp0(config->log_level, "debug") != 0) {
		g_free(config->log_level);
		config->log_level = g_strdup("info");
	}
	return ok;
}

gchar *
pds_snoop_config_get_help(void)
{
	GString *s = g_string_new("Environment variables (flags of the same name win):\n");

	for (guint i = 0; i < G_N_ELEMENTS(pds_snoop_opts); i++)
		g_string_append_printf(s, "  %-26s --%-18s %s\n", pds_snoop_opts[i].variable,
				       pds_snoop_opts[i].flag, pds_snoop_opts[i].form);
	return g_string_free(s, FALSE);
}
