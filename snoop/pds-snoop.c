/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "pds-record.h"
#include "pds-snoop-cgroup.h"
#include "pds-snoop-metrics.h"
#include "pds-snoop-path.h"
#include "pds-snoop-report.h"
#include "pds-snoop-stream.h"
#include "pds-snoop-syscall.h"
#include "pds-snoop-tracer.h"
#include "pds-snoop.h"

#define PDS_SNOOP_AT_FDCWD -100

struct _PdsSnoop {
	PdsSnoopConfig *config; /* borrowed */
	GMainLoop *loop;
	PdsSnoopReport *report;
	PdsSnoopTracer *tracer;
	PdsSnoopMetrics *metrics;
	PdsSnoopStream *stream;
	gchar *cgroup_root;
	gchar *pod_cgroup;
	gchar *self_cgroup;
	guint64 pod_cgroup_id;
	guint64 self_child_id; /* the child cgroup holding snoop, 0 if none */
	gint64 boot_to_real_ns;
	guint64 events_by_syscall[32];
	guint64 report_writes;
	guint64 report_write_errors;
	gboolean last_write_failed;
	gchar *last_write_error;
	gint64 last_rescan_us;
	guint report_source;
	guint rescan_source;
	int inotify_fd; /* on the pod cgroup: containers made */
	guint inotify_source;
	guint sigterm_source;
	guint sigint_source;
	int exit_status;
};

/* Offset from CLOCK_BOOTTIME (what the kernel stamps) to the wall clock. */
static gint64
pds_snoop_boot_to_real_ns(void)
{
	struct timespec real, boot;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	return ((gint64)real.tv_sec - boot.tv_sec) * G_GINT64_CONSTANT(1000000000) +
	       (real.tv_nsec - boot.tv_nsec);
}

static const char *
pds_snoop_image_for(PdsSnoop *self, const char *name, gboolean digest)
{
	if (self->config->images == NULL || name == NULL)
		return NULL;
	for (guint i = 0; self->config->images[i] != NULL; i++) {
		const char *entry = self->config->images[i];
		const char *eq = strchr(entry, '=');

		if (eq == NULL || strncmp(entry, name, eq - entry) != 0 || name[eq - entry] != '\0')
			continue;
		if (!digest)
			return eq + 1;
		return strchr(eq + 1, '@') != NULL ? strchr(eq + 1, '@') + 1 : NULL;
	}
	return NULL;
}

static void
pds_snoop_set_image(PdsSnoop *self, PdsSnoopContainer *container)
{
	const char *ref = pds_snoop_image_for(self, container->name, FALSE);
	const char *digest = pds_snoop_image_for(self, container->name, TRUE);

	if (ref == NULL)
		return;
	g_free(container->image);
	container->image = digest != NULL ? g_strndup(ref, digest - 1 - ref) : g_strdup(ref);
	g_free(container->image_digest);
	container->image_digest = g_strdup(digest);
}

/* Finds the pod's containers; called on a timer and when an unknown cgroup shows up. */
static void
pds_snoop_rescan(PdsSnoop *self)
{
	g_autoptr(GPtrArray) children = NULL;
	g_autoptr(GError) error = NULL;

	self->last_rescan_us = g_get_monotonic_time();
	children = pds_snoop_cgroup_list_children(self->pod_cgroup, &error);
	if (children == NULL) {
		g_warning("%s", error->message);
		return;
	}
	for (guint i = 0; i < children->len; i++) {
		PdsSnoopCgroupChild *child = g_ptr_array_index(children, i);
		PdsSnoopContainer *container;
		const char *rel = child->path + strlen(self->cgroup_root);
		g_autofree gchar *name = NULL;
		g_autofree gchar *image = NULL;

		if (child->cgroup_id == self->self_child_id)
			continue;
		container = pds_snoop_report_lookup_container(self->report, child->cgroup_id);
		if (container != NULL && container->image != NULL)
			continue;
		/* Kubernetes names and images live in the runtime's OCI config. */
		pds_snoop_cgroup_read_runtime_meta(
			(const char *const *)self->config->runtime_configs, child->id, &name,
			&image);
		if (container == NULL)
			g_info("container %s (cgroup %s)", name != NULL ? name : child->label, rel);
		container =
			pds_snoop_report_ensure_container(self->report, child->cgroup_id, child->id,
							  name != NULL ? name : child->label, rel);
		pds_snoop_set_image(self, container);
		if (container->image == NULL && image != NULL)
			container->image = g_steal_pointer(&image);
	}
}

static gboolean
pds_snoop_on_rescan(gpointer user_data)
{
	pds_snoop_rescan(user_data);
	return G_SOURCE_CONTINUE;
}

/* A child cgroup of the pod was made: a container starts; look now. */
static gboolean
pds_snoop_on_inotify(gint fd, GIOCondition condition, gpointer user_data)
{
	PdsSnoop *self = user_data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	gboolean changed = FALSE;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_Q_OVERFLOW))
				changed = TRUE;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (changed)
		pds_snoop_rescan(self);
	return G_SOURCE_CONTINUE;
}

/* The timer rescan stays as the fallback: inotify is best effort on cgroupfs. */
static void
pds_snoop_watch_pod(PdsSnoop *self)
{
	self->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (self->inotify_fd < 0) {
		g_message("cannot watch %s for new containers (%s): found by the %u s rescan",
			  self->pod_cgroup, g_strerror(errno), (guint)self->config->rescan_secs);
		return;
	}
	if (inotify_add_watch(self->inotify_fd, self->pod_cgroup,
			      IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
		g_message("cannot watch %s for new containers (%s): found by the %u s rescan",
			  self->pod_cgroup, g_strerror(errno), (guint)self->config->rescan_secs);
		close(self->inotify_fd);
		self->inotify_fd = -1;
		return;
	}
	self->inotify_source = g_unix_fd_add(self->inotify_fd, G_IO_IN, pds_snoop_on_inotify, self);
}

static PdsSnoopContainer *
pds_snoop_container_for(PdsSnoop *self, guint64 cgroup_id)
{
	PdsSnoopContainer *container = pds_snoop_report_lookup_container(self->report, cgroup_id);
	g_autofree gchar *name = NULL;

	if (container != NULL)
		return container;
	/* A container that started since the last scan; at most one scan per 100 ms. */
	if (g_get_monotonic_time() - self->last_rescan_us > 100 * 1000) {
		pds_snoop_rescan(self);
		container = pds_snoop_report_lookup_container(self->report, cgroup_id);
		if (container != NULL)
			return container;
	}
	if (cgroup_id == self->pod_cgroup_id)
		return pds_snoop_report_ensure_container(self->report, cgroup_id, "pod", "pod",
							 self->pod_cgroup +
								 strlen(self->cgroup_root));
	/* Gone before we could see it: keep its accesses under its id. */
	name = g_strdup_printf("cgroup-%" G_GUINT64_FORMAT, cgroup_id);
	return pds_snoop_report_ensure_container(self->report, cgroup_id, name, name, NULL);
}

/* The cwd or dirfd directory through /proc, when the kernel could not walk it. */
static gchar *
pds_snoop_proc_base(guint32 tgid, gint32 dirfd)
{
	g_autofree gchar *link = NULL;

	if (dirfd == PDS_SNOOP_AT_FDCWD)
		link = g_strdup_printf("/proc/%u/cwd", tgid);
	else
		link = g_strdup_printf("/proc/%u/fd/%d", tgid, dirfd);
	return g_file_read_link(link, NULL);
}

static void
pds_snoop_on_event(const struct pds_snoop_event *ev, gsize size, gpointer user_data)
{
	PdsSnoop *self = user_data;
	const char *path, *base = NULL, *resolved = NULL;
	/* Room for a base and a path of the kernel's longest each: no allocation per event. */
	char normalized[2 * PDS_SNOOP_PATH_MAX + 2];
	g_autofree gchar *proc_base = NULL;
	g_autofree gchar *comm = NULL;
	PdsSnoopContainer *container;
	PdsSnoopFile *file;
	guint32 status = ev->status;
	gboolean first_seen = FALSE;
	const char *resolved_norm;
	gssize n;
	gint64 when_us;
	gsize need = sizeof(*ev) + ev->path_len + ev->base_len + ev->resolved_len;
	const char *syscall_name = pds_snoop_syscall_to_string(ev->syscall);

	if (need > size || ev->path_len == 0 || syscall_name == NULL ||
	    ev->data[ev->path_len - 1] != '\0') {
		g_debug("malformed event of %" G_GSIZE_FORMAT " bytes", size);
		return;
	}
	path = ev->data;
	if (ev->base_len > 0 && ev->data[ev->path_len + ev->base_len - 1] == '\0')
		base = ev->data + ev->path_len;
	if (ev->resolved_len > 0 &&
	    ev->data[ev->path_len + ev->base_len + ev->resolved_len - 1] == '\0')
		resolved = ev->data + ev->path_len + ev->base_len;

	/* The kernel's stamp, not a clock read per event. */
	when_us = ((gint64)ev->ts_boot_ns + self->boot_to_real_ns) / 1000;
	self->report->events_total++;
	if (ev->syscall < G_N_ELEMENTS(self->events_by_syscall))
		self->events_by_syscall[ev->syscall]++;

	/* execveat(dirfd, name) whose name only the kernel's "/dev/fd/N/name" kept. */
	if (ev->syscall == PDS_SNOOP_SC_EXECVEAT && base != NULL) {
		g_autofree gchar *prefix = g_strdup_printf("/dev/fd/%d/", ev->dirfd);

		if (g_str_has_prefix(path, prefix))
			path += strlen(prefix);
	}
	n = -1;
	if (path[0] == '/') {
		n = pds_snoop_path_normalize_to(NULL, path, normalized, sizeof(normalized));
	} else if (path[0] != '\0') {
		if (base == NULL) {
			proc_base = pds_snoop_proc_base(ev->tgid, ev->dirfd);
			base = proc_base;
		}
		n = pds_snoop_path_normalize_to(base, path, normalized, sizeof(normalized));
		if (n >= 0)
			status &= ~PDS_SNOOP_ST_UNRESOLVED;
	}
	if (n < 0) {
		/* Reported as such, under the path as requested. */
		status |= PDS_SNOOP_ST_UNRESOLVED;
		self->report->events_unresolved++;
		g_strlcpy(normalized, path[0] != '\0' ? path : "(unreadable)", sizeof(normalized));
	}
	if (pds_snoop_path_is_excluded(normalized, (const char *const *)self->config->exclude)) {
		self->report->events_excluded++;
		return;
	}
	/* The kernel walked the dentries of the fd: already absolute and normal. */
	resolved_norm = resolved;
	container = pds_snoop_container_for(self, ev->container_cgroup_id);
	file = pds_snoop_container_add(
		container, normalized, g_strcmp0(path, normalized) != 0 ? path : NULL,
		resolved_norm, ev->syscall, status, ev->result, when_us, &first_seen);

	if (self->stream != NULL && (first_seen || self->config->stream_all)) {
		PdsSnoopAccess access = {0};

		comm = g_strndup(ev->comm, sizeof(ev->comm));
		access.timestamp_ns = (guint64)((gint64)ev->ts_boot_ns + self->boot_to_real_ns);
		access.syscall = syscall_name;
		access.path = normalized;
		access.raw_path = g_strcmp0(path, normalized) != 0 ? path : NULL;
		access.resolved_path =
			g_strcmp0(resolved_norm, normalized) != 0 ? resolved_norm : NULL;
		access.pid = ev->pid;
		access.tgid = ev->tgid;
		access.comm = comm;
		access.cgroup_id = ev->cgroup_id;
		access.container_name = container->name;
		access.container_id = container->id;
		access.flags = ev->flags;
		access.mode = ev->mode;
		access.has_result = (status & PDS_SNOOP_ST_HAS_RESULT) != 0;
		access.result = ev->result;
		access.path_status = status & 0xf;
		access.compat = (status & PDS_SNOOP_ST_COMPAT) != 0;
		access.count = self->config->stream_all ? 1 : file->count;
		pds_snoop_stream_send_access(self->stream, &access);
	}
}

static void
pds_snoop_write_report(PdsSnoop *self)
{
	g_autoptr(GError) error = NULL;

	if (self->tracer != NULL)
		self->report->events_dropped =
			pds_snoop_tracer_get_counter(self->tracer, PDS_SNOOP_CNT_LOST);
	if (!pds_snoop_report_write(self->report, self->config->report, &error)) {
		self->report_write_errors++;
		/* Say it once per failure streak: the condition is in the metrics. */
		if (!self->last_write_failed)
			g_warning("%s; the previous report stays in place", error->message);
		self->last_write_failed = TRUE;
		g_free(self->last_write_error);
		self->last_write_error = g_strdup(error->message);
		return;
	}
	if (self->last_write_failed)
		g_message("report %s written again", self->config->report);
	self->last_write_failed = FALSE;
	self->report_writes++;
	if (self->stream != NULL)
		pds_snoop_stream_send_lost(self->stream, self->report->events_dropped);
}

static gboolean
pds_snoop_on_report_timer(gpointer user_data)
{
	PdsSnoop *self = user_data;

	pds_snoop_tracer_drain(self->tracer);
	pds_snoop_write_report(self);
	return G_SOURCE_CONTINUE;
}

static gboolean
pds_snoop_on_signal(gpointer user_data)
{
	PdsSnoop *self = user_data;

	g_message("stopping: draining events and writing the report");
	g_main_loop_quit(self->loop);
	return G_SOURCE_CONTINUE;
}

static void
pds_snoop_render_metrics(GString *out, gpointer user_data)
{
	PdsSnoop *self = user_data;

	g_string_append(out, "# HELP snoop_events_total File accesses seen, by syscall.\n"
			     "# TYPE snoop_events_total counter\n");
	for (guint32 i = 1; i < pds_snoop_syscall_max() && i < 32; i++)
		g_string_append_printf(out,
				       "snoop_events_total{syscall=\"%s\"} %" G_GUINT64_FORMAT "\n",
				       pds_snoop_syscall_to_string(i), self->events_by_syscall[i]);
	g_string_append_printf(
		out,
		"# HELP snoop_events_dropped_total Events lost in the kernel ring buffer.\n"
		"# TYPE snoop_events_dropped_total counter\n"
		"snoop_events_dropped_total %" G_GUINT64_FORMAT "\n"
		"# HELP snoop_events_deduplicated_total Repeated accesses absorbed in the kernel.\n"
		"# TYPE snoop_events_deduplicated_total counter\n"
		"snoop_events_deduplicated_total %" G_GUINT64_FORMAT "\n"
		"# HELP snoop_events_excluded_total Accesses under an excluded prefix.\n"
		"# TYPE snoop_events_excluded_total counter\n"
		"snoop_events_excluded_total %" G_GUINT64_FORMAT "\n"
		"# HELP snoop_events_unresolved_total Relative paths whose base was unknown.\n"
		"# TYPE snoop_events_unresolved_total counter\n"
		"snoop_events_unresolved_total %" G_GUINT64_FORMAT "\n"
		"# HELP snoop_unique_files Files in the report.\n"
		"# TYPE snoop_unique_files gauge\n"
		"snoop_unique_files %" G_GUINT64_FORMAT "\n"
		"# HELP snoop_containers Containers seen.\n"
		"# TYPE snoop_containers gauge\n"
		"snoop_containers %u\n"
		"# HELP snoop_report_writes_total Reports written.\n"
		"# TYPE snoop_report_writes_total counter\n"
		"snoop_report_writes_total %" G_GUINT64_FORMAT "\n"
		"# HELP snoop_report_write_errors_total Report writes that failed.\n"
		"# TYPE snoop_report_write_errors_total counter\n"
		"snoop_report_write_errors_total %" G_GUINT64_FORMAT "\n"
		"# HELP snoop_probes_attached 1 while the kernel probes are attached.\n"
		"# TYPE snoop_probes_attached gauge\n"
		"snoop_probes_attached %d\n",
		pds_snoop_tracer_get_counter(self->tracer, PDS_SNOOP_CNT_LOST),
		pds_snoop_tracer_get_counter(self->tracer, PDS_SNOOP_CNT_DEDUP_HITS),
		self->report->events_excluded, self->report->events_unresolved,
		pds_snoop_report_get_unique_files(self->report),
		g_hash_table_size(self->report->containers), self->report_writes,
		self->report_write_errors, pds_snoop_tracer_is_attached(self->tracer) ? 1 : 0);
	{
		const char *const *missing = pds_snoop_tracer_get_missing(self->tracer);

		g_string_append(out,
				"# HELP snoop_probe_missing Probes this kernel lacks, left off.\n"
				"# TYPE snoop_probe_missing gauge\n");
		for (guint i = 0; missing != NULL && missing[i] != NULL; i++)
			g_string_append_printf(out, "snoop_probe_missing{probe=\"%s\"} 1\n",
					       missing[i]);
	}
	if (self->stream != NULL)
		g_string_append_printf(
			out,
			"# HELP snoop_stream_records_total Records queued for the hub.\n"
			"# TYPE snoop_stream_records_total counter\n"
			"snoop_stream_records_total %" G_GUINT64_FORMAT "\n"
			"# HELP snoop_stream_connected 1 while connected to the hub.\n"
			"# TYPE snoop_stream_connected gauge\n"
			"snoop_stream_connected %d\n"
			"# HELP snoop_stream_dropped_blocks_total Blocks dropped past the spool.\n"
			"# TYPE snoop_stream_dropped_blocks_total counter\n"
			"snoop_stream_dropped_blocks_total %" G_GUINT64_FORMAT "\n",
			pds_snoop_stream_get_records(self->stream),
			pds_snoop_stream_is_connected(self->stream) ? 1 : 0,
			pds_snoop_stream_get_dropped_blocks(self->stream));
}

static gboolean
pds_snoop_health(const char **reason, gpointer user_data)
{
	PdsSnoop *self = user_data;

	if (!pds_snoop_tracer_is_attached(self->tracer)) {
		*reason = "kernel probes are detached";
		return FALSE;
	}
	if (self->last_write_failed) {
		*reason = self->last_write_error;
		return FALSE;
	}
	return TRUE;
}

static gboolean
pds_snoop_load_labels_file(PdsSnoop *self, const char *path, GError **error)
{
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents(path, &contents, NULL, error)) {
		g_prefix_error(error, "cannot read SNOOP_LABELS_FILE: ");
		return FALSE;
	}
	/* Downward API format: key="value" per line. */
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		gchar *eq = strchr(lines[i], '=');
		g_autofree gchar *value = NULL;

		if (eq == NULL)
			continue;
		*eq = '\0';
		value = g_strdup(eq + 1);
		if (value[0] == '"') {
			gchar *unq = g_strcompress(value + 1);
			gsize n = strlen(unq);

			if (n > 0 && unq[n - 1] == '"')
				unq[n - 1] = '\0';
			g_free(value);
			value = unq;
		}
		g_hash_table_replace(self->report->labels, g_strdup(lines[i]),
				     g_steal_pointer(&value));
	}
	return TRUE;
}

static gboolean
pds_snoop_write_ready_file(PdsSnoop *self, GError **error)
{
	g_autofree gchar *json = g_strdup_printf(
		"{\"pid\":%d,\"metrics_port\":%u}\n", (int)getpid(),
		self->metrics != NULL ? pds_snoop_metrics_get_port(self->metrics) : 0);

	return g_file_set_contents(self->config->ready_file, json, -1, error);
}

static gboolean
pds_snoop_resolve_cgroups(PdsSnoop *self, PdsSnoopTracerConfig *tc, GError **error)
{
	guint pod_level;

	self->cgroup_root = pds_snoop_cgroup_find_root(self->config->cgroup_root, error);
	if (self->cgroup_root == NULL)
		return FALSE;
	self->self_cgroup = pds_snoop_cgroup_find_self(self->cgroup_root, error);
	if (self->self_cgroup == NULL)
		return FALSE;
	if (self->config->cgroup != NULL) {
		if (g_path_is_absolute(self->config->cgroup) &&
		    g_str_has_prefix(self->config->cgroup, self->cgroup_root))
			self->pod_cgroup = g_canonicalize_filename(self->config->cgroup, NULL);
		else
			self->pod_cgroup =
				g_build_filename(self->cgroup_root, self->config->cgroup, NULL);
	} else {
		/* Snoop runs as a container of the pod: the pod is its parent cgroup. */
		if (g_strcmp0(self->self_cgroup, self->cgroup_root) == 0) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "snoop runs in the root cgroup, so it has no pod cgroup "
				    "to trace: give one with --cgroup PATH (SNOOP_CGROUP)");
			return FALSE;
		}
		self->pod_cgroup = g_path_get_dirname(self->self_cgroup);
	}
	if (!pds_snoop_cgroup_get_id(self->pod_cgroup, &self->pod_cgroup_id, error)) {
		g_prefix_error(error, "SNOOP_CGROUP/--cgroup: ");
		return FALSE;
	}
	pod_level = pds_snoop_cgroup_get_level(self->cgroup_root, self->pod_cgroup);
	tc->pod_cgroup_id = self->pod_cgroup_id;
	tc->pod_level = pod_level;
	tc->self_tgid = (guint32)getpid();
	/* Snoop inside the pod (a sidecar): leave its whole container out in the kernel. */
	if (g_str_has_prefix(self->self_cgroup, self->pod_cgroup) &&
	    self->self_cgroup[strlen(self->pod_cgroup)] == '/') {
		const char *rest = self->self_cgroup + strlen(self->pod_cgroup) + 1;
		const char *slash = strchr(rest, '/');
		g_autofree gchar *child =
			g_strndup(self->self_cgroup, (slash != NULL ? slash : rest + strlen(rest)) -
							     self->self_cgroup);

		if (!pds_snoop_cgroup_get_id(child, &self->self_child_id, error))
			return FALSE;
		tc->self_cgroup_id = self->self_child_id;
		tc->self_level = pod_level + 1;
	}
	g_message("tracing pod cgroup %s (id %" G_GUINT64_FORMAT ", level %u)%s", self->pod_cgroup,
		  self->pod_cgroup_id, pod_level,
		  self->self_child_id != 0 ? ", leaving out snoop's own container" : "");
	return TRUE;
}

PdsSnoop *
pds_snoop_new(PdsSnoopConfig *config, GError **error)
{
	g_autoptr(PdsSnoop) self = g_new0(PdsSnoop, 1);
	PdsSnoopTracerConfig tc = {0};

	self->config = config;
	self->inotify_fd = -1;
	self->loop = g_main_loop_new(NULL, FALSE);
	self->boot_to_real_ns = pds_snoop_boot_to_real_ns();
	self->report = pds_snoop_report_new((guint)config->lru_size);
	self->report->pod = g_strdup(config->pod);
	self->report->namespace = g_strdup(config->namespace);
	self->report->node = g_strdup(config->node != NULL ? config->node : g_get_host_name());
	if (config->labels != NULL) {
		for (guint i = 0; config->labels[i] != NULL; i++) {
			g_auto(GStrv) kv = g_strsplit(config->labels[i], "=", 2);

			g_hash_table_replace(self->report->labels, g_strdup(kv[0]),
					     g_strdup(kv[1] != NULL ? kv[1] : ""));
		}
	}
	if (config->labels_file != NULL &&
	    !pds_snoop_load_labels_file(self, config->labels_file, error))
		return NULL;

	if (!pds_snoop_resolve_cgroups(self, &tc, error))
		return NULL;
	tc.dedup = !config->stream_all;
	tc.dedup_size = config->kernel_dedup_size;
	tc.ringbuf_size = config->ringbuf_size;
	tc.wakeup_bytes = config->wakeup_bytes >= config->ringbuf_size ? config->ringbuf_size / 2
								       : config->wakeup_bytes;
	tc.poll_ms = (guint)config->poll_ms;
	tc.btf_path = config->btf;

	/* Containers first, so their first events have names. */
	pds_snoop_rescan(self);

	/* Fail on a bad report directory before any tracing starts. */
	pds_snoop_write_report(self);

	self->tracer = pds_snoop_tracer_new(&tc, pds_snoop_on_event, self, error);
	if (self->tracer == NULL)
		return NULL;

	if (config->metrics != NULL) {
		self->metrics = pds_snoop_metrics_new(config->metrics, pds_snoop_render_metrics,
						      pds_snoop_health, self, error);
		if (self->metrics == NULL)
			return NULL;
		g_message("metrics on port %u", pds_snoop_metrics_get_port(self->metrics));
	}
	if (config->hub != NULL) {
		PdsSnoopStreamConfig sc = {
			.hub = config->hub,
			.ca = config->ca,
			.cert = config->cert,
			.key = config->key,
			.pod = config->pod,
			.namespace = config->namespace,
			.node = config->node,
		};

		self->stream = pds_snoop_stream_new(&sc, error);
		if (self->stream == NULL)
			return NULL;
	}
	self->report_source = g_timeout_add_seconds((guint)config->interval_secs,
						    pds_snoop_on_report_timer, self);
	pds_snoop_watch_pod(self);
	self->rescan_source =
		g_timeout_add_seconds((guint)config->rescan_secs, pds_snoop_on_rescan, self);
	self->sigterm_source = g_unix_signal_add(SIGTERM, pds_snoop_on_signal, self);
	self->sigint_source = g_unix_signal_add(SIGINT, pds_snoop_on_signal, self);

	if (config->ready_file != NULL && !pds_snoop_write_ready_file(self, error)) {
		g_prefix_error(error, "cannot write the ready file: ");
		return NULL;
	}
	return g_steal_pointer(&self);
}

int
pds_snoop_run(PdsSnoop *self)
{
	g_main_loop_run(self->loop);
	pds_snoop_tracer_drain(self->tracer);
	pds_snoop_write_report(self);
	if (self->stream != NULL) {
		gint64 deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;

		pds_snoop_stream_send_lost(self->stream, self->report->events_dropped);
		pds_snoop_stream_stop(self->stream);
		/* Give the uplink a moment to hand over what it still holds. */
		while (pds_snoop_stream_get_spool_bytes(self->stream) > 0 &&
		       pds_snoop_stream_is_connected(self->stream) &&
		       g_get_monotonic_time() < deadline) {
			if (!g_main_context_iteration(NULL, FALSE))
				g_usleep(10000);
		}
	}
	return self->last_write_failed ? 1 : 0;
}

void
pds_snoop_free(PdsSnoop *self)
{
	if (self == NULL)
		return;
	g_clear_handle_id(&self->report_source, g_source_remove);
	g_clear_handle_id(&self->rescan_source, g_source_remove);
	g_clear_handle_id(&self->inotify_source, g_source_remove);
	if (self->inotify_fd >= 0)
		close(self->inotify_fd);
	g_clear_handle_id(&self->sigterm_source, g_source_remove);
	g_clear_handle_id(&self->sigint_source, g_source_remove);
	g_clear_pointer(&self->metrics, pds_snoop_metrics_free);
	g_clear_pointer(&self->stream, pds_snoop_stream_free);
	g_clear_pointer(&self->tracer, pds_snoop_tracer_free);
	g_clear_pointer(&self->report, pds_snoop_report_free);
	g_clear_pointer(&self->loop, g_main_loop_unref);
	g_free(self->cgroup_root);
	g_free(self->pod_cgroup);
	g_free(self->self_cgroup);
	g_free(self->last_write_error);
	g_free(self);
}
