/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/* setns(), CLONE_NEWNET, nftw() */
#define _GNU_SOURCE

#define G_LOG_DOMAIN "PdsLocal"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <ifaddrs.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pds-cli.h"
#include "pds-local-session.h"
#include "pds-tls.h"

/* How long we wait for children; generous because CI machines are slow. */
#define PDS_LOCAL_HUB_READY_TIMEOUT_MS	    15000
#define PDS_LOCAL_AGENTS_CONNECT_TIMEOUT_MS 20000
#define PDS_LOCAL_AGENT_STOP_TIMEOUT_MS	    10000
#define PDS_LOCAL_HUB_STOP_TIMEOUT_MS	    5000
/* The stream is drained once the hub has been quiet this long after the agents stopped. */
#define PDS_LOCAL_DRAIN_IDLE_MS 700
#define PDS_LOCAL_DRAIN_MAX_MS	10000
#define PDS_LOCAL_TICK_MS	50
#define PDS_LOCAL_POLL_MS	200
#define PDS_LOCAL_CERT_LIFETIME (30 * 24 * 3600)

#define PDS_PCAPNG_TYPE_SHB 0x0A0D0D0Au
#define PDS_PCAPNG_TYPE_SPB 0x00000003u
#define PDS_PCAPNG_TYPE_EPB 0x00000006u

G_DEFINE_QUARK(pds_local_session_error_quark, pds_local_session_error)

typedef struct {
	gchar *label; /* "podscope-hub", "podscope-agent web/eth0" */
	GPid pid;
	gboolean exited;
	gint wait_status;
	guint watch_id;
	gboolean is_hub;
	PdsLocalSession *session; /* unowned; the session removes the watch before it goes */
} PdsLocalChild;

typedef enum {
	STOP_IDLE,
	STOP_AGENTS,
	STOP_DRAIN,
	STOP_HUB,
	STOP_DONE,
} StopState;

struct _PdsLocalSession {
	GObject parent_instance;

	/* options */
	GPtrArray *netns_args; /* of gchar* */
	GArray *pids;	       /* of GPid */
	gchar *filter;
	gchar *interface;
	PdsLocalEnvelope envelope;
	GPtrArray *names; /* of "IP=NAME" */
	gboolean verbose;
	gboolean analyze;
	gchar *log_file;

	/* running */
	gboolean started;
	gboolean stopped;      /* everything stopped and removed */
	gboolean running;      /* started successfully, not yet stopping */
	GError *session_error; /* why the session ended by itself */
	gchar *dir;
	gchar *token;
	guint api_port;
	guint ingest_port;
	GPtrArray *targets; /* of PdsLocalTarget */
	PdsLocalChild *hub;
	GPtrArray *agents; /* of PdsLocalChild */
	guint n_connected; /* from the last /v1/sources poll */
	gboolean poll_in_flight;
	gint64 last_poll_us;
	SoupSession *soup;

	/* stream */
	GTask *stream_task;
	GOutputStream *stream_out;
	GInputStream *stream_in;
	SoupMessage *stream_msg;
	GCancellable *stream_cancel; /* ours: drain end and user cancel both land here */
	gulong stream_user_cancel_id;
	guint stream_out_watch_id; /* notices a pipe whose reader went away */
	GCancellable *stream_user_cancel;
	GByteArray *pending; /* incomplete block held back until it is whole */
	gboolean section_big_endian;
	gboolean drain_done;
	gboolean output_closed;
	gint64 last_data_us;
	guint64 bytes_streamed;
	guint64 packets_streamed;

	/* stop */
	StopState stop_state;
	GPtrArray *stop_tasks; /* of GTask waiting for the stop */
	guint stop_tick_id;
	gint64 stop_phase_start_us;
	gboolean agents_killed;
	gboolean hub_killed;
};

G_DEFINE_TYPE(PdsLocalSession, pds_local_session, G_TYPE_OBJECT)

static void
pds_local_target_free(PdsLocalTarget *target)
{
	g_free(target->name);
	g_free(target->netns_path);
	g_strfreev(target->interfaces);
	g_strfreev(target->addresses);
	g_free(target);
}

static void
pds_local_child_free(PdsLocalChild *child)
{
	if (child->watch_id != 0)
		g_source_remove(child->watch_id);
	g_free(child->label);
	g_free(child);
}

static void
stream_clear(PdsLocalSession *self)
{
	g_clear_handle_id(&self->stream_out_watch_id, g_source_remove);
	if (self->stream_user_cancel_id != 0)
		g_cancellable_disconnect(self->stream_user_cancel, self->stream_user_cancel_id);
	self->stream_user_cancel_id = 0;
	g_clear_object(&self->stream_user_cancel);
	g_clear_object(&self->stream_in);
	g_clear_object(&self->stream_msg);
	g_clear_object(&self->stream_out);
	g_clear_object(&self->stream_cancel);
}

static void
pds_local_session_finalize(GObject *object)
{
	PdsLocalSession *self = PDS_LOCAL_SESSION(object);

	pds_local_session_stop_now(self);
	stream_clear(self);
	g_clear_handle_id(&self->stop_tick_id, g_source_remove);
	g_clear_pointer(&self->stop_tasks, g_ptr_array_unref);
	g_clear_pointer(&self->pending, g_byte_array_unref);
	g_clear_pointer(&self->hub, pds_local_child_free);
	g_clear_pointer(&self->agents, g_ptr_array_unref);
	g_clear_pointer(&self->targets, g_ptr_array_unref);
	g_clear_object(&self->soup);
	g_clear_pointer(&self->netns_args, g_ptr_array_unref);
	g_clear_pointer(&self->pids, g_array_unref);
	g_clear_pointer(&self->names, g_ptr_array_unref);
	g_free(self->filter);
	g_free(self->interface);
	g_free(self->log_file);
	g_free(self->dir);
	g_free(self->token);
	g_clear_error(&self->session_error);
	G_OBJECT_CLASS(pds_local_session_parent_class)->finalize(object);
}

static void
pds_local_session_class_init(PdsLocalSessionClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = pds_local_session_finalize;
}

static void
pds_local_session_init(PdsLocalSession *self)
{
	self->netns_args = g_ptr_array_new_with_free_func(g_free);
	self->pids = g_array_new(FALSE, FALSE, sizeof(GPid));
	self->names = g_ptr_array_new_with_free_func(g_free);
	self->targets = g_ptr_array_new_with_free_func((GDestroyNotify)pds_local_target_free);
	self->agents = g_ptr_array_new_with_free_func((GDestroyNotify)pds_local_child_free);
	self->stop_tasks = g_ptr_array_new_with_free_func(g_object_unref);
	self->pending = g_byte_array_new();
	self->analyze = TRUE;
}

PdsLocalSession *
pds_local_session_new(void)
{
	return g_object_new(PDS_TYPE_LOCAL_SESSION, NULL);
}

void
pds_local_session_add_netns(PdsLocalSession *self, const char *netns)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	g_return_if_fail(netns != NULL && !self->started);
	g_ptr_array_add(self->netns_args, g_strdup(netns));
}

void
pds_local_session_add_pid(PdsLocalSession *self, GPid pid)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	g_return_if_fail(pid > 0 && !self->started);
	g_array_append_val(self->pids, pid);
}

void
pds_local_session_set_filter(PdsLocalSession *self, const char *bpf_filter)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	g_return_if_fail(!self->started);
	g_free(self->filter);
	self->filter = g_strdup(bpf_filter);
}

void
pds_local_session_set_interface(PdsLocalSession *self, const char *interface)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	g_return_if_fail(!self->started);
	g_free(self->interface);
	self->interface = g_strdup(interface);
}

void
pds_local_session_set_envelope(PdsLocalSession *self, PdsLocalEnvelope envelope)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	self->envelope = envelope;
}

void
pds_local_session_add_name(PdsLocalSession *self, const char *address, const char *name)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	g_return_if_fail(address != NULL && name != NULL && !self->started);
	g_ptr_array_add(self->names, g_strdup_printf("%s=%s", address, name));
}

void
pds_local_session_set_verbose(PdsLocalSession *self, gboolean verbose)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	self->verbose = verbose;
}

void
pds_local_session_set_log_file(PdsLocalSession *self, const char *path)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	g_free(self->log_file);
	self->log_file = g_strdup(path);
}

void
pds_local_session_set_analyze(PdsLocalSession *self, gboolean analyze)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	self->analyze = analyze;
}

GPtrArray *
pds_local_session_get_targets(PdsLocalSession *self)
{
	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), NULL);
	return self->targets;
}

guint
pds_local_session_get_api_port(PdsLocalSession *self)
{
	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), 0);
	return self->api_port;
}

guint
pds_local_session_get_ingest_port(PdsLocalSession *self)
{
	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), 0);
	return self->ingest_port;
}

const char *
pds_local_session_get_token(PdsLocalSession *self)
{
	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), NULL);
	return self->token;
}

const char *
pds_local_session_get_directory(PdsLocalSession *self)
{
	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), NULL);
	return self->dir;
}

gchar *
pds_local_session_dup_api_url(PdsLocalSession *self)
{
	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), NULL);
	return g_strdup_printf("http://127.0.0.1:%u", self->api_port);
}

gboolean
pds_local_session_get_output_closed(PdsLocalSession *self)
{
	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), FALSE);
	return self->output_closed;
}

guint64
pds_local_session_get_bytes_streamed(PdsLocalSession *self)
{
	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), 0);
	return self->bytes_streamed;
}

guint64
pds_local_session_get_packets_streamed(PdsLocalSession *self)
{
	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), 0);
	return self->packets_streamed;
}

/* ---- targets: what is inside a network namespace ---- */

static gint
compare_strings_indirect(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

typedef struct {
	const char *path;
	GPtrArray *interfaces; /* of gchar* */
	GPtrArray *addresses;  /* of gchar* */
	GError *error;
} ScanData;

/*
 * setns() changes only the calling thread's network namespace, so a
 * short-lived thread can look inside without moving the process.
 */
static gpointer
scan_netns_thread(gpointer user_data)
{
	ScanData *data = user_data;
	struct ifaddrs *ifaddr = NULL;
	int fd = open(data->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int saved = errno;
		g_set_error(&data->error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s are a path and the system's error text */
			    _("cannot open network namespace %s: %s"), data->path,
			    g_strerror(saved));
		return NULL;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		int saved = errno;
		close(fd);
		g_set_error(&data->error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s are a path and the system's error text */
			    _("cannot enter network namespace %s: %s (podscope needs root, or "
			      "CAP_SYS_ADMIN and CAP_NET_RAW)"),
			    data->path, g_strerror(saved));
		return NULL;
	}
	close(fd);
	if (getifaddrs(&ifaddr) < 0) {
		int saved = errno;
		g_set_error(&data->error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s are a path and the system's error text */
			    _("cannot list the interfaces of network namespace %s: %s"), data->path,
			    g_strerror(saved));
		return NULL;
	}
	for (struct ifaddrs *ifa = ifaddr; ifa != NULL; ifa = ifa->ifa_next) {
		char buf[INET6_ADDRSTRLEN] = "";
		if (ifa->ifa_name == NULL || ifa->ifa_addr == NULL)
			continue;
		if ((ifa->ifa_flags & IFF_LOOPBACK) != 0)
			continue;
		if (ifa->ifa_addr->sa_family == AF_PACKET) {
			/* A capture on a down interface fails; it cannot carry traffic anyway. */
			if ((ifa->ifa_flags & IFF_UP) != 0 &&
			    !g_ptr_array_find_with_equal_func(data->interfaces, ifa->ifa_name,
							      g_str_equal, NULL))
				g_ptr_array_add(data->interfaces, g_strdup(ifa->ifa_name));
		} else if (ifa->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)ifa->ifa_addr;
			if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) != NULL)
				g_ptr_array_add(data->addresses, g_strdup(buf));
		} else if (ifa->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 =
				(const struct sockaddr_in6 *)ifa->ifa_addr;
			if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)) != NULL)
				g_ptr_array_add(data->addresses, g_strdup(buf));
		}
	}
	freeifaddrs(ifaddr);
	return NULL;
}

static gchar *
list_named_netns(void)
{
	g_autoptr(GDir) dir = g_dir_open("/run/netns", 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	const char *name;

	if (dir == NULL)
		return g_strdup("");
	while ((name = g_dir_read_name(dir)) != NULL)
		g_ptr_array_add(names, (gpointer)name);
	g_ptr_array_sort(names, compare_strings_indirect);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(", ", (gchar **)names->pdata);
}

static PdsLocalTarget *
resolve_target(PdsLocalSession *self, const char *name, const char *path, GError **error)
{
	g_autoptr(GThread) thread = NULL;
	g_autoptr(GPtrArray) interfaces = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) addresses = g_ptr_array_new_with_free_func(g_free);
	ScanData data = {path, interfaces, addresses, NULL};
	PdsLocalTarget *target;

	thread = g_thread_new("pds-netns-scan", scan_netns_thread, &data);
	g_thread_join(g_steal_pointer(&thread));
	if (data.error != NULL) {
		g_propagate_error(error, data.error);
		return NULL;
	}
	if (self->interface != NULL) {
		g_ptr_array_set_size(interfaces, 0);
		g_ptr_array_add(interfaces, g_strdup(self->interface));
	} else if (interfaces->len == 0) {
		g_ptr_array_add(interfaces, g_strdup("any"));
	} else {
		g_ptr_array_sort(interfaces, compare_strings_indirect);
	}
	g_ptr_array_add(interfaces, NULL);
	g_ptr_array_add(addresses, NULL);

	target = g_new0(PdsLocalTarget, 1);
	target->name = g_strdup(name);
	target->netns_path = g_strdup(path);
	target->interfaces = (GStrv)g_ptr_array_free(g_steal_pointer(&interfaces), FALSE);
	target->addresses = (GStrv)g_ptr_array_free(g_steal_pointer(&addresses), FALSE);
	return target;
}

static gboolean
resolve_targets(PdsLocalSession *self, GError **error)
{
	for (guint i = 0; i < self->netns_args->len; i++) {
		const char *arg = g_ptr_array_index(self->netns_args, i);
		g_autofree gchar *path = NULL;
		g_autofree gchar *name = NULL;
		PdsLocalTarget *target;

		if (strchr(arg, '/') != NULL) {
			path = g_strdup(arg);
			name = g_path_get_basename(arg);
		} else {
			path = g_build_filename("/run/netns", arg, NULL);
			name = g_strdup(arg);
		}
		if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
			g_autofree gchar *known = list_named_netns();
			g_set_error(error, PDS_LOCAL_SESSION_ERROR,
				    PDS_LOCAL_SESSION_ERROR_NOT_FOUND,
				    /* TRANSLATORS: %s are a namespace name, its path and a list of
				       names */
				    _("network namespace “%s” not found (%s does not exist); known "
				      "namespaces: %s"),
				    arg, path, known[0] != '\0' ? known : _("none"));
			return FALSE;
		}
		target = resolve_target(self, name, path, error);
		if (target == NULL)
			return FALSE;
		g_ptr_array_add(self->targets, target);
	}
	for (guint i = 0; i < self->pids->len; i++) {
		GPid pid = g_array_index(self->pids, GPid, i);
		g_autofree gchar *path = g_strdup_printf("/proc/%d/ns/net", (int)pid);
		g_autofree gchar *comm_path = g_strdup_printf("/proc/%d/comm", (int)pid);
		g_autofree gchar *comm = NULL;
		g_autofree gchar *name = NULL;
		PdsLocalTarget *target;

		if (!g_file_get_contents(comm_path, &comm, NULL, NULL)) {
			g_set_error(error, PDS_LOCAL_SESSION_ERROR,
				    PDS_LOCAL_SESSION_ERROR_NOT_FOUND,
				    /* TRANSLATORS: %d is a process id */
				    _("process %d not found; check the PID (ps -e)"), (int)pid);
			return FALSE;
		}
		g_strstrip(comm);
		name = g_strdup_printf("%s-%d", comm, (int)pid);
		target = resolve_target(self, name, path, error);
		if (target == NULL)
			return FALSE;
		g_ptr_array_add(self->targets, target);
	}
	if (self->targets->len == 0) {
		g_set_error_literal(
			error, PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_FAILED,
			_("nothing to tap: give at least one network namespace or PID"));
		return FALSE;
	}
	return TRUE;
}

/* ---- children ---- */

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static void
child_setup(gpointer user_data)
{
	pid_t parent = GPOINTER_TO_INT(user_data);

	/*
	 * A process group of its own: Ctrl+C in a terminal reaches only
	 * podscope, which then stops the agents before the hub, in order.
	 */
	setpgid(0, 0);
	/* Die with podscope, even when it is killed with SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
}

static const char *
child_status_text(gint wait_status, gchar *buf, gsize len)
{
	if (WIFEXITED(wait_status))
		g_snprintf(buf, len, "exit status %d", WEXITSTATUS(wait_status));
	else if (WIFSIGNALED(wait_status))
		g_snprintf(buf, len, "signal %d", WTERMSIG(wait_status));
	else
		g_snprintf(buf, len, "wait status %d", wait_status);
	return buf;
}

static void stop_begin(PdsLocalSession *self);
static gboolean agents_all_exited(PdsLocalSession *self);

static void
child_exited_cb(GPid pid, gint wait_status, gpointer user_data)
{
	PdsLocalChild *child = user_data;
	PdsLocalSession *self = child->session;
	gchar buf[64];

	child->exited = TRUE;
	child->wait_status = wait_status;
	child->watch_id = 0;
	g_spawn_close_pid(pid);
	if (self->running && self->stop_state == STOP_IDLE) {
		g_warning("%s (pid %d) ended unexpectedly: %s", child->label, (int)pid,
			  child_status_text(wait_status, buf, sizeof(buf)));
		/* Without the hub, or without any agent, the session has nothing more to give. */
		if (child->is_hub || agents_all_exited(self)) {
			if (child->is_hub)
				self->session_error = g_error_new(
					PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_CHILD_EXIT,
					/* TRANSLATORS: %s is how it ended, e.g. "exit status 1" */
					_("podscope-hub ended unexpectedly (%s); the capture so "
					  "far is "
					  "complete"),
					child_status_text(wait_status, buf, sizeof(buf)));
			else
				self->session_error = g_error_new(
					PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_CHILD_EXIT,
					/* TRANSLATORS: %s is a program and how it ended */
					_("every agent has ended (the last, %s: %s); the capture "
					  "so "
					  "far is complete"),
					child->label,
					child_status_text(wait_status, buf, sizeof(buf)));
			stop_begin(self);
		}
	} else
		g_debug("%s (pid %d) ended: %s", child->label, (int)pid,
			child_status_text(wait_status, buf, sizeof(buf)));
}

static PdsLocalChild *
spawn_child(PdsLocalSession *self, const char *label, GPtrArray *argv, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *cmdline = NULL;
	PdsLocalChild *child;
	int out_fd = STDERR_FILENO;
	int log_fd = -1;
	GPid pid = 0;

	g_ptr_array_add(argv, NULL);
	cmdline = g_strjoinv(" ", (gchar **)argv->pdata);
	g_debug("starting %s: %s", label, cmdline);
	if (self->log_file != NULL) {
		log_fd = open(self->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log_fd < 0) {
			int saved = errno;
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
				    /* TRANSLATORS: %s are a path and the system's error text */
				    _("cannot open log file %s: %s"), self->log_file,
				    g_strerror(saved));
			return NULL;
		}
		out_fd = log_fd;
	}
	/*
	 * The children's stdout goes to stderr too: GLib writes info/debug
	 * messages to stdout, and our stdout may be the pcapng stream.
	 */
	if (!g_spawn_async_with_pipes_and_fds(NULL, (const gchar *const *)argv->pdata, NULL,
					      G_SPAWN_DO_NOT_REAP_CHILD, child_setup,
					      GINT_TO_POINTER(getpid()), -1, out_fd, out_fd, NULL,
					      NULL, 0, &pid, NULL, NULL, NULL, &error_local)) {
		if (log_fd >= 0)
			close(log_fd);
		g_set_error(error, PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_FAILED,
			    /* TRANSLATORS: %s are a program and the reason */
			    _("cannot start %s: %s"), label, error_local->message);
		return NULL;
	}
	if (log_fd >= 0)
		close(log_fd);
	child = g_new0(PdsLocalChild, 1);
	child->label = g_strdup(label);
	child->pid = pid;
	child->session = self;
	child->watch_id = g_child_watch_add(pid, child_exited_cb, child);
	return child;
}

static void
child_signal(PdsLocalChild *child, int sig)
{
	if (child != NULL && !child->exited && child->pid > 0)
		kill(child->pid, sig);
}

/* Blocking: SIGTERM, wait up to @timeout_ms, then SIGKILL. For error paths and finalize. */
static void
child_stop_blocking(PdsLocalChild *child, guint timeout_ms)
{
	gint64 deadline;
	int status = 0;

	if (child == NULL || child->exited || child->pid <= 0)
		return;
	/* We reap it here; the main-loop watch must not see it any more. */
	g_clear_handle_id(&child->watch_id, g_source_remove);
	kill(child->pid, SIGTERM);
	deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	while (TRUE) {
		pid_t r = waitpid(child->pid, &status, WNOHANG);
		if (r == child->pid || (r < 0 && errno != EINTR)) {
			child->exited = TRUE;
			child->wait_status = status;
			return;
		}
		if (g_get_monotonic_time() >= deadline)
			break;
		g_usleep(20000);
	}
	g_warning("%s (pid %d) did not stop within %u ms; killing it", child->label,
		  (int)child->pid, timeout_ms);
	kill(child->pid, SIGKILL);
	while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR)
		;
	child->exited = TRUE;
	child->wait_status = status;
}

static int
rm_rf_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (remove(path) < 0)
		g_debug("cannot remove %s: %s", path, g_strerror(errno));
	return 0;
}

static void
remove_directory(PdsLocalSession *self)
{
	if (self->dir == NULL)
		return;
	nftw(self->dir, rm_rf_cb, 16, FTW_DEPTH | FTW_PHYS);
	g_clear_pointer(&self->dir, g_free);
}

/* ---- start ---- */

/*
 * Directories of sessions whose podscope was killed (SIGKILL leaves no time
 * to clean up; the children die with it): those whose "owner" process is gone.
 */
static void
sweep_stale_directories(void)
{
	const char *tmp = g_get_tmp_dir();
	g_autoptr(GDir) dir = g_dir_open(tmp, 0, NULL);
	const char *name;

	if (dir == NULL)
		return;
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = NULL;
		g_autofree gchar *owner_path = NULL;
		g_autofree gchar *owner = NULL;
		struct stat st;
		guint64 pid = 0;

		if (!g_str_has_prefix(name, "podscope-") ||
		    strlen(name) != strlen("podscope-XXXXXX"))
			continue;
		path = g_build_filename(tmp, name, NULL);
		owner_path = g_build_filename(path, "owner", NULL);
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
			continue;
		if (!g_file_get_contents(owner_path, &owner, NULL, NULL))
			continue;
		g_strstrip(owner);
		if (!g_ascii_string_to_unsigned(owner, 10, 1, G_MAXINT32, &pid, NULL))
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		g_debug("removing %s, left by podscope pid %" G_GUINT64_FORMAT, path, pid);
		nftw(path, rm_rf_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
}

static gchar *
make_token(GError **error)
{
	guint8 raw[32];
	GString *hex = g_string_sized_new(sizeof(raw) * 2);
	gsize got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			int saved = errno;
			if (saved == EINTR)
				continue;
			g_string_free(hex, TRUE);
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
				    /* TRANSLATORS: %s is the system's error text */
				    _("cannot get random bytes for the session token: %s"),
				    g_strerror(saved));
			return NULL;
		}
		got += (gsize)n;
	}
	for (gsize i = 0; i < sizeof(raw); i++)
		g_string_append_printf(hex, "%02x", raw[i]);
	return g_string_free(hex, FALSE);
}

static gboolean
make_credentials(PdsLocalSession *self, guint n_agents, GError **error)
{
	const char *hub_hosts[] = {"podscope-hub", "localhost", "127.0.0.1", "::1", NULL};
	/* 0: valid from now (the library back-dates it for clock skew). */
	gint64 not_before = 0;
	g_autoptr(PdsTlsIdentity) ca = NULL;
	g_autoptr(PdsTlsIdentity) hub = NULL;
	g_autofree gchar *token_path = NULL;

	ca = pds_tls_identity_new_ca("PodScope local session CA", error);
	if (ca == NULL)
		return FALSE;
	if (!pds_tls_identity_save(ca, self->dir, "ca", error))
		return FALSE;
	hub = pds_tls_identity_issue(ca, "podscope-hub", PDS_TLS_USAGE_SERVER, hub_hosts,
				     not_before, PDS_LOCAL_CERT_LIFETIME, error);
	if (hub == NULL)
		return FALSE;
	if (!pds_tls_identity_save(hub, self->dir, "hub", error))
		return FALSE;
	for (guint i = 0; i < n_agents; i++) {
		g_autofree gchar *cn = g_strdup_printf("podscope-agent-%u", i);
		g_autofree gchar *file = g_strdup_printf("agent-%u", i);
		g_autoptr(PdsTlsIdentity) agent = NULL;

		agent = pds_tls_identity_issue(ca, cn, PDS_TLS_USAGE_CLIENT, NULL, not_before,
					       PDS_LOCAL_CERT_LIFETIME, error);
		if (agent == NULL)
			return FALSE;
		if (!pds_tls_identity_save(agent, self->dir, file, error))
			return FALSE;
	}
	self->token = make_token(error);
	if (self->token == NULL)
		return FALSE;
	token_path = g_build_filename(self->dir, "token", NULL);
	return g_file_set_contents_full(token_path, self->token, -1, G_FILE_SET_CONTENTS_CONSISTENT,
					0600, error);
}

typedef gboolean (*WaitFunc)(PdsLocalSession *self, GError **error);

static gboolean
wait_tick_cb(gpointer user_data)
{
	return G_SOURCE_REMOVE;
}

/*
 * Iterates the default main context until @func says done (TRUE), fails
 * (FALSE with error), @cancellable fires or @timeout_ms passes.
 */
static gboolean
wait_for(PdsLocalSession *self,
	 WaitFunc func,
	 guint timeout_ms,
	 const char *timeout_message,
	 GCancellable *cancellable,
	 GError **error)
{
	GMainContext *ctx = g_main_context_default();
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (TRUE) {
		g_autoptr(GError) error_local = NULL;
		GSource *tick;

		if (func(self, &error_local))
			return TRUE;
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		if (g_cancellable_set_error_if_cancelled(cancellable, error))
			return FALSE;
		if (g_get_monotonic_time() >= deadline) {
			g_set_error_literal(error, PDS_LOCAL_SESSION_ERROR,
					    PDS_LOCAL_SESSION_ERROR_TIMEOUT, timeout_message);
			return FALSE;
		}
		/* Wake up regularly: child exits, signals and HTTP replies also wake us. */
		tick = g_timeout_source_new(PDS_LOCAL_TICK_MS);
		g_source_set_callback(tick, wait_tick_cb, NULL, NULL);
		g_source_attach(tick, ctx);
		g_main_context_iteration(ctx, TRUE);
		g_source_destroy(tick);
		g_source_unref(tick);
	}
}

static gboolean
check_child_alive(PdsLocalChild *child, GError **error)
{
	if (!child->exited)
		return TRUE;
	if (WIFSIGNALED(child->wait_status))
		g_set_error(error, PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_CHILD_EXIT,
			    /* TRANSLATORS: %s is a program, %d a signal number */
			    _("%s was killed by signal %d"), child->label,
			    WTERMSIG(child->wait_status));
	else
		g_set_error(error, PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_CHILD_EXIT,
			    /* TRANSLATORS: %s is a program, %d its exit status */
			    _("%s ended early with exit status %d; see its messages above (or in "
			      "the log file)"),
			    child->label, WEXITSTATUS(child->wait_status));
	return FALSE;
}

static gboolean
hub_ready_func(PdsLocalSession *self, GError **error)
{
	g_autofree gchar *path = g_build_filename(self->dir, "ready.json", NULL);
	g_autofree gchar *contents = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error_local = NULL;
	JsonObject *obj;

	if (!g_file_get_contents(path, &contents, NULL, NULL)) {
		/* Not written yet; an error only when the hub is gone. */
		check_child_alive(self->hub, error);
		return FALSE;
	}
	if (!json_parser_load_from_data(parser, contents, -1, &error_local) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_set_error(error, PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_FAILED,
			    "podscope-hub wrote an unreadable ready file %s: %s", path,
			    error_local != NULL ? error_local->message : "not a JSON object");
		return FALSE;
	}
	obj = json_node_get_object(json_parser_get_root(parser));
	self->api_port = (guint)json_object_get_int_member_with_default(obj, "api_port", 0);
	self->ingest_port = (guint)json_object_get_int_member_with_default(obj, "ingest_port", 0);
	if (self->api_port == 0 || self->ingest_port == 0) {
		g_set_error(error, PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_FAILED,
			    "podscope-hub's ready file %s lacks api_port/ingest_port: %s", path,
			    contents);
		return FALSE;
	}
	return TRUE;
}

static SoupMessage *
new_api_message(PdsLocalSession *self, const char *path_and_query)
{
	g_autofree gchar *url =
		g_strdup_printf("http://127.0.0.1:%u%s", self->api_port, path_and_query);
	g_autofree gchar *auth = g_strdup_printf("Bearer %s", self->token);
	SoupMessage *msg = soup_message_new("GET", url);

	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", auth);
	return msg;
}

static void
sources_poll_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(PdsLocalSession) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	SoupMessage *msg;
	JsonArray *arr;
	guint connected = 0;

	self->poll_in_flight = FALSE;
	body = soup_session_send_and_read_finish(SOUP_SESSION(source), result, &error);
	if (body == NULL) {
		g_debug("GET /v1/sources: %s", error->message);
		return;
	}
	msg = soup_session_get_async_result_message(SOUP_SESSION(source), result);
	if (soup_message_get_status(msg) != SOUP_STATUS_OK) {
		g_debug("GET /v1/sources: HTTP %u", soup_message_get_status(msg));
		return;
	}
	if (!json_parser_load_from_data(parser, g_bytes_get_data(body, NULL),
					(gssize)g_bytes_get_size(body), &error) ||
	    !JSON_NODE_HOLDS_ARRAY(json_parser_get_root(parser))) {
		g_debug("GET /v1/sources: not a JSON array");
		return;
	}
	arr = json_node_get_array(json_parser_get_root(parser));
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonNode *node = json_array_get_element(arr, i);
		if (!JSON_NODE_HOLDS_OBJECT(node))
			continue;
		if (json_object_get_boolean_member_with_default(json_node_get_object(node),
								"connected", FALSE))
			connected++;
	}
	self->n_connected = connected;
}

static gboolean
agents_connected_func(PdsLocalSession *self, GError **error)
{
	gint64 now = g_get_monotonic_time();

	if (!check_child_alive(self->hub, error))
		return FALSE;
	for (guint i = 0; i < self->agents->len; i++) {
		if (!check_child_alive(g_ptr_array_index(self->agents, i), error))
			return FALSE;
	}
	if (self->n_connected >= self->agents->len)
		return TRUE;
	if (!self->poll_in_flight && now - self->last_poll_us >= PDS_LOCAL_POLL_MS * 1000) {
		g_autoptr(SoupMessage) msg = new_api_message(self, "/v1/sources");
		self->last_poll_us = now;
		self->poll_in_flight = TRUE;
		soup_session_send_and_read_async(self->soup, msg, G_PRIORITY_DEFAULT, NULL,
						 sources_poll_cb, g_object_ref(self));
	}
	return FALSE;
}

static gboolean
start_hub(PdsLocalSession *self, const char *hub_bin, GCancellable *cancellable, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *data_dir = g_build_filename(self->dir, "data", NULL);
	g_autofree gchar *timeout_message = NULL;

	if (g_mkdir(data_dir, 0700) < 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s are a path and the system's error text */
			    _("cannot create directory %s: %s"), data_dir, g_strerror(saved));
		return FALSE;
	}
	g_ptr_array_add(argv, g_strdup(hub_bin));
	g_ptr_array_add(argv, g_strdup("--data-dir"));
	g_ptr_array_add(argv, g_strdup(data_dir));
	g_ptr_array_add(argv, g_strdup("--ca"));
	g_ptr_array_add(argv, g_build_filename(self->dir, "ca.crt", NULL));
	g_ptr_array_add(argv, g_strdup("--cert"));
	g_ptr_array_add(argv, g_build_filename(self->dir, "hub.crt", NULL));
	g_ptr_array_add(argv, g_strdup("--key"));
	g_ptr_array_add(argv, g_build_filename(self->dir, "hub.key", NULL));
	g_ptr_array_add(argv, g_strdup("--token-file"));
	g_ptr_array_add(argv, g_build_filename(self->dir, "token", NULL));
	g_ptr_array_add(argv, g_strdup("--ingest"));
	g_ptr_array_add(argv, g_strdup("127.0.0.1:0"));
	g_ptr_array_add(argv, g_strdup("--api"));
	g_ptr_array_add(argv, g_strdup("127.0.0.1:0"));
	g_ptr_array_add(argv, g_strdup("--ready-file"));
	g_ptr_array_add(argv, g_build_filename(self->dir, "ready.json", NULL));
	for (guint i = 0; i < self->targets->len; i++) {
		PdsLocalTarget *target = g_ptr_array_index(self->targets, i);
		for (guint j = 0; target->addresses[j] != NULL; j++) {
			g_ptr_array_add(argv, g_strdup("--name"));
			g_ptr_array_add(
				argv, g_strdup_printf("%s=%s", target->addresses[j], target->name));
		}
	}
	for (guint i = 0; i < self->names->len; i++) {
		g_ptr_array_add(argv, g_strdup("--name"));
		g_ptr_array_add(argv, g_strdup(g_ptr_array_index(self->names, i)));
	}
	if (self->verbose)
		g_ptr_array_add(argv, g_strdup("--verbose"));

	self->hub = spawn_child(self, "podscope-hub", argv, error);
	if (self->hub == NULL)
		return FALSE;
	self->hub->is_hub = TRUE;
	timeout_message = g_strdup_printf(
		/* TRANSLATORS: %u is seconds */
		_("podscope-hub did not get ready within %u s; run with --verbose to see why"),
		PDS_LOCAL_HUB_READY_TIMEOUT_MS / 1000);
	return wait_for(self, hub_ready_func, PDS_LOCAL_HUB_READY_TIMEOUT_MS, timeout_message,
			cancellable, error);
}

static gboolean
start_agents(PdsLocalSession *self,
	     const char *agent_bin,
	     GCancellable *cancellable,
	     GError **error)
{
	g_autofree gchar *hub_addr = g_strdup_printf("127.0.0.1:%u", self->ingest_port);
	g_autofree gchar *timeout_message = NULL;
	guint n = 0;

	for (guint i = 0; i < self->targets->len; i++) {
		PdsLocalTarget *target = g_ptr_array_index(self->targets, i);
		for (guint j = 0; target->interfaces[j] != NULL; j++, n++) {
			g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
			g_autofree gchar *base = g_strdup_printf("agent-%u", n);
			g_autofree gchar *label = NULL;
			PdsLocalChild *child;

			g_ptr_array_add(argv, g_strdup(agent_bin));
			g_ptr_array_add(argv, g_strdup("--hub"));
			g_ptr_array_add(argv, g_strdup(hub_addr));
			g_ptr_array_add(argv, g_strdup("--ca"));
			g_ptr_array_add(argv, g_build_filename(self->dir, "ca.crt", NULL));
			g_ptr_array_add(argv, g_strdup("--cert"));
			g_ptr_array_add(argv, g_strdup_printf("%s/%s.crt", self->dir, base));
			g_ptr_array_add(argv, g_strdup("--key"));
			g_ptr_array_add(argv, g_strdup_printf("%s/%s.key", self->dir, base));
			g_ptr_array_add(argv, g_strdup("--interface"));
			g_ptr_array_add(argv, g_strdup(target->interfaces[j]));
			g_ptr_array_add(argv, g_strdup("--netns"));
			g_ptr_array_add(argv, g_strdup(target->netns_path));
			g_ptr_array_add(argv, g_strdup("--pod"));
			g_ptr_array_add(argv, g_strdup(target->name));
			if (self->filter != NULL && self->filter[0] != '\0') {
				g_ptr_array_add(argv, g_strdup("--filter"));
				g_ptr_array_add(argv, g_strdup(self->filter));
			}
			if (!self->analyze)
				g_ptr_array_add(argv, g_strdup("--no-analyze"));
			if (self->verbose)
				g_ptr_array_add(argv, g_strdup("--verbose"));

			label = g_strdup_printf("podscope-agent %s/%s", target->name,
						target->interfaces[j]);
			child = spawn_child(self, label, argv, error);
			if (child == NULL)
				return FALSE;
			g_ptr_array_add(self->agents, child);
		}
	}
	timeout_message = g_strdup_printf(
		/* TRANSLATORS: %u is seconds */
		_("the agents did not connect to podscope-hub within %u s; run with --verbose "
		  "to see why"),
		PDS_LOCAL_AGENTS_CONNECT_TIMEOUT_MS / 1000);
	return wait_for(self, agents_connected_func, PDS_LOCAL_AGENTS_CONNECT_TIMEOUT_MS,
			timeout_message, cancellable, error);
}

gboolean
pds_local_session_start(PdsLocalSession *self, GCancellable *cancellable, GError **error)
{
	g_autofree gchar *hub_bin = NULL;
	g_autofree gchar *agent_bin = NULL;
	g_autofree gchar *owner_path = NULL;
	g_autofree gchar *owner = NULL;
	guint n_agents = 0;

	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), FALSE);
	g_return_val_if_fail(!self->started, FALSE);

	hub_bin = pds_cli_find_program("podscope-hub", "PODSCOPE_HUB_BIN", "hub", error);
	if (hub_bin == NULL)
		return FALSE;
	agent_bin = pds_cli_find_program("podscope-agent", "PODSCOPE_AGENT_BIN", "agent", error);
	if (agent_bin == NULL)
		return FALSE;
	if (!resolve_targets(self, error))
		return FALSE;
	for (guint i = 0; i < self->targets->len; i++) {
		PdsLocalTarget *target = g_ptr_array_index(self->targets, i);
		n_agents += g_strv_length(target->interfaces);
	}

	sweep_stale_directories();
	self->dir = g_dir_make_tmp("podscope-XXXXXX", error);
	if (self->dir == NULL)
		return FALSE;
	owner_path = g_build_filename(self->dir, "owner", NULL);
	owner = g_strdup_printf("%d\n", (int)getpid());
	if (!g_file_set_contents(owner_path, owner, -1, error)) {
		remove_directory(self);
		return FALSE;
	}
	self->started = TRUE;
	/* No proxy: the hub is on 127.0.0.1, and a live stream must not time out. */
	self->soup = g_object_new(SOUP_TYPE_SESSION, "proxy-resolver", NULL, "timeout", 0,
				  "idle-timeout", 0, "max-conns-per-host", 8, NULL);
	if (!make_credentials(self, n_agents, error) ||
	    !start_hub(self, hub_bin, cancellable, error) ||
	    !start_agents(self, agent_bin, cancellable, error)) {
		pds_local_session_stop_now(self);
		return FALSE;
	}
	self->running = TRUE;
	g_debug("session in %s: api port %u, ingest port %u, %u agents", self->dir, self->api_port,
		self->ingest_port, self->agents->len);
	return TRUE;
}

/* ---- stream ---- */

static guint32
read_u32(const guint8 *p, gboolean big_endian)
{
	guint32 v;
	memcpy(&v, p, 4);
	return big_endian ? GUINT32_FROM_BE(v) : GUINT32_FROM_LE(v);
}

/*
 * How many leading bytes of @pending are whole blocks. Only whole blocks are
 * written, so the output is a valid pcapng file whenever the stream stops.
 */
static gboolean
count_whole_blocks(PdsLocalSession *self, gsize *whole, GError **error)
{
	const guint8 *data = self->pending->data;
	gsize len = self->pending->len;
	gsize pos = 0;

	while (len - pos >= 12) {
		guint32 type = read_u32(data + pos, FALSE);
		guint32 block_len;

		if (type == PDS_PCAPNG_TYPE_SHB) {
			const guint8 magic_le[] = {0x4D, 0x3C, 0x2B, 0x1A};
			self->section_big_endian = memcmp(data + pos + 8, magic_le, 4) != 0;
		} else {
			type = read_u32(data + pos, self->section_big_endian);
		}
		block_len = read_u32(data + pos + 4, self->section_big_endian);
		if (block_len < 12 || block_len % 4 != 0) {
			g_set_error(error, PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_FAILED,
				    /* TRANSLATORS: %u is a length, %llu a byte offset */
				    _("podscope-hub sent a malformed pcapng block (length %u at "
				      "offset %llu)"),
				    block_len, (unsigned long long)(self->bytes_streamed + pos));
			return FALSE;
		}
		if (len - pos < block_len)
			break;
		if (type == PDS_PCAPNG_TYPE_EPB || type == PDS_PCAPNG_TYPE_SPB)
			self->packets_streamed++;
		pos += block_len;
	}
	*whole = pos;
	return TRUE;
}

static void stream_read_next(GTask *task);

static void
stream_complete(PdsLocalSession *self, GError *error)
{
	g_autoptr(GTask) task = g_steal_pointer(&self->stream_task);

	if (error == NULL && self->session_error != NULL)
		error = g_error_copy(self->session_error);

	if (self->pending->len > 0)
		g_debug("stream ended with %u bytes of an incomplete block left out",
			self->pending->len);
	g_byte_array_set_size(self->pending, 0);
	if (self->stream_in != NULL)
		g_input_stream_close_async(self->stream_in, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
	stream_clear(self);
	if (task == NULL) {
		g_clear_error(&error);
		return;
	}
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

static gboolean
stream_stop_requested(PdsLocalSession *self)
{
	return self->drain_done;
}

static void
stream_flushed_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	PdsLocalSession *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;

	if (!g_output_stream_flush_finish(G_OUTPUT_STREAM(source), result, &error)) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE)) {
			self->output_closed = TRUE;
			stream_complete(self, NULL);
			return;
		}
		stream_complete(self, g_steal_pointer(&error));
		return;
	}
	if (stream_stop_requested(self)) {
		stream_complete(self, NULL);
		return;
	}
	stream_read_next(task);
}

static void
stream_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	PdsLocalSession *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	gsize written = 0;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, &written, &error)) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
		    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
			/* The reader (tshark, Wireshark's fifo) went away: a normal end. */
			self->output_closed = TRUE;
			stream_complete(self, NULL);
			return;
		}
		g_prefix_error(&error, "%s", _("cannot write the capture: "));
		stream_complete(self, g_steal_pointer(&error));
		return;
	}
	self->bytes_streamed += written;
	g_output_stream_flush_async(G_OUTPUT_STREAM(source), G_PRIORITY_DEFAULT, NULL,
				    stream_flushed_cb, task);
}

static void
stream_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	PdsLocalSession *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = NULL;
	gsize whole = 0;
	guint8 *out_data;

	bytes = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);
	if (bytes == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
		    stream_stop_requested(self)) {
			stream_complete(self, NULL);
			return;
		}
		/* The hub going away after the agents stopped is the end of the session. */
		if (self->stop_state >= STOP_DRAIN) {
			stream_complete(self, NULL);
			return;
		}
		g_prefix_error(&error, "%s", _("reading the capture from podscope-hub failed: "));
		stream_complete(self, g_steal_pointer(&error));
		return;
	}
	if (g_bytes_get_size(bytes) == 0) {
		g_debug("podscope-hub ended the capture stream");
		/* A live stream ends when we end it; anything else is the hub failing. */
		if (self->stop_state == STOP_IDLE && self->session_error == NULL) {
			stream_complete(self,
					g_error_new_literal(
						PDS_LOCAL_SESSION_ERROR,
						PDS_LOCAL_SESSION_ERROR_CHILD_EXIT,
						_("podscope-hub ended the capture stream "
						  "unexpectedly; the capture so far is complete")));
			return;
		}
		stream_complete(self, NULL);
		return;
	}
	self->last_data_us = g_get_monotonic_time();
	g_byte_array_append(self->pending, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	if (!count_whole_blocks(self, &whole, &error)) {
		stream_complete(self, g_steal_pointer(&error));
		return;
	}
	if (whole == 0) {
		stream_read_next(task);
		return;
	}
	out_data = g_memdup2(self->pending->data, whole);
	g_byte_array_remove_range(self->pending, 0, (guint)whole);
	/* The copy lives as long as the write: freed with the task's next data. */
	g_task_set_task_data(task, out_data, g_free);
	g_output_stream_write_all_async(self->stream_out, out_data, whole, G_PRIORITY_DEFAULT, NULL,
					stream_written_cb, task);
}

static void
stream_read_next(GTask *task)
{
	PdsLocalSession *self = g_task_get_source_object(task);

	g_input_stream_read_bytes_async(self->stream_in, 256 * 1024, G_PRIORITY_DEFAULT,
					self->stream_cancel, stream_read_cb, task);
}

static void
stream_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	PdsLocalSession *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	GInputStream *in;
	guint status;

	in = soup_session_send_finish(SOUP_SESSION(source), result, &error);
	if (in == NULL) {
		if (stream_stop_requested(self)) {
			stream_complete(self, NULL);
			return;
		}
		g_prefix_error(&error, "%s", _("cannot reach podscope-hub's API: "));
		stream_complete(self, g_steal_pointer(&error));
		return;
	}
	self->stream_in = in;
	status = soup_message_get_status(self->stream_msg);
	if (status != SOUP_STATUS_OK) {
		stream_complete(
			self,
			g_error_new(PDS_LOCAL_SESSION_ERROR, PDS_LOCAL_SESSION_ERROR_HTTP,
				    /* TRANSLATORS: %u %s are an HTTP status and its reason */
				    _("podscope-hub refused the capture download: HTTP %u %s"),
				    status, soup_message_get_reason_phrase(self->stream_msg)));
		return;
	}
	self->last_data_us = g_get_monotonic_time();
	stream_read_next(task);
}

static gboolean
stream_out_error_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	PdsLocalSession *self = user_data;

	/* The reader closed the pipe (tshark quit, Wireshark stopped): end without waiting
	 * for the next packet to find out. */
	g_debug("the reader of the output went away");
	self->stream_out_watch_id = 0;
	self->output_closed = TRUE;
	self->drain_done = TRUE;
	g_cancellable_cancel(self->stream_cancel);
	return G_SOURCE_REMOVE;
}

static void
stream_user_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	GCancellable *ours = user_data;
	g_cancellable_cancel(ours);
}

void
pds_local_session_stream_async(PdsLocalSession *self,
			       GOutputStream *out,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autofree gchar *query = NULL;

	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	g_return_if_fail(G_IS_OUTPUT_STREAM(out));
	g_task_set_source_tag(task, pds_local_session_stream_async);

	if (!self->started || self->stop_state != STOP_IDLE || self->api_port == 0) {
		g_task_return_new_error(task, PDS_LOCAL_SESSION_ERROR,
					PDS_LOCAL_SESSION_ERROR_FAILED,
					"the local session is not running");
		return;
	}
	if (self->stream_task != NULL) {
		g_task_return_new_error(task, PDS_LOCAL_SESSION_ERROR,
					PDS_LOCAL_SESSION_ERROR_FAILED,
					"the local session already streams");
		return;
	}
	query = g_strdup_printf("/v1/capture.pcapng?follow=1&envelope=%s",
				self->envelope == PDS_LOCAL_ENVELOPE_CUSTOM ? "custom"
									    : "exported-pdu");
	self->stream_task = g_object_ref(task);
	self->stream_out = g_object_ref(out);
	self->stream_cancel = g_cancellable_new();
	self->drain_done = FALSE;
	self->output_closed = FALSE;
	g_byte_array_set_size(self->pending, 0);
	if (cancellable != NULL) {
		self->stream_user_cancel = g_object_ref(cancellable);
		self->stream_user_cancel_id =
			g_cancellable_connect(cancellable, G_CALLBACK(stream_user_cancelled_cb),
					      g_object_ref(self->stream_cancel), g_object_unref);
	}
	if (G_IS_UNIX_OUTPUT_STREAM(out)) {
		int fd = g_unix_output_stream_get_fd(G_UNIX_OUTPUT_STREAM(out));
		struct stat st;
		if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
			self->stream_out_watch_id =
				g_unix_fd_add(fd, G_IO_ERR | G_IO_HUP, stream_out_error_cb, self);
	}
	self->stream_msg = new_api_message(self, query);
	soup_session_send_async(self->soup, self->stream_msg, G_PRIORITY_DEFAULT,
				self->stream_cancel, stream_sent_cb, g_steal_pointer(&task));
}

gboolean
pds_local_session_stream_finish(PdsLocalSession *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- stop ---- */

static gboolean
agents_all_exited(PdsLocalSession *self)
{
	for (guint i = 0; i < self->agents->len; i++) {
		PdsLocalChild *child = g_ptr_array_index(self->agents, i);
		if (!child->exited)
			return FALSE;
	}
	return TRUE;
}

static void
stop_complete(PdsLocalSession *self)
{
	g_autoptr(GPtrArray) tasks = g_steal_pointer(&self->stop_tasks);

	self->stop_tasks = g_ptr_array_new_with_free_func(g_object_unref);
	self->stop_state = STOP_DONE;
	self->stopped = TRUE;
	remove_directory(self);
	for (guint i = 0; i < tasks->len; i++)
		g_task_return_boolean(g_ptr_array_index(tasks, i), TRUE);
}

static void
stop_enter(PdsLocalSession *self, StopState state)
{
	self->stop_state = state;
	self->stop_phase_start_us = g_get_monotonic_time();
	switch (state) {
	case STOP_AGENTS:
		for (guint i = 0; i < self->agents->len; i++)
			child_signal(g_ptr_array_index(self->agents, i), SIGTERM);
		break;
	case STOP_HUB:
		child_signal(self->hub, SIGTERM);
		break;
	default:
		break;
	}
}

static gboolean
stop_tick_cb(gpointer user_data)
{
	PdsLocalSession *self = user_data;
	gint64 now = g_get_monotonic_time();
	gint64 elapsed_ms = (now - self->stop_phase_start_us) / 1000;

	switch (self->stop_state) {
	case STOP_AGENTS:
		if (agents_all_exited(self)) {
			stop_enter(self, STOP_DRAIN);
		} else if (elapsed_ms > PDS_LOCAL_AGENT_STOP_TIMEOUT_MS && !self->agents_killed) {
			g_warning("agents did not stop within %d ms; killing them",
				  PDS_LOCAL_AGENT_STOP_TIMEOUT_MS);
			self->agents_killed = TRUE;
			for (guint i = 0; i < self->agents->len; i++)
				child_signal(g_ptr_array_index(self->agents, i), SIGKILL);
		}
		return G_SOURCE_CONTINUE;
	case STOP_DRAIN:
		if (self->stream_task == NULL) {
			stop_enter(self, STOP_HUB);
			return G_SOURCE_CONTINUE;
		}
		/* Quiet since the agents ended (their last flush may still be on its way). */
		if (!self->drain_done &&
		    ((now - MAX(self->last_data_us, self->stop_phase_start_us)) / 1000 >=
			     PDS_LOCAL_DRAIN_IDLE_MS ||
		     elapsed_ms >= PDS_LOCAL_DRAIN_MAX_MS || self->hub == NULL ||
		     self->hub->exited)) {
			/* A read or write in flight ends the stream when it completes. */
			self->drain_done = TRUE;
			g_cancellable_cancel(self->stream_cancel);
		}
		return G_SOURCE_CONTINUE;
	case STOP_HUB:
		if (self->hub == NULL || self->hub->exited) {
			self->stop_tick_id = 0;
			stop_complete(self);
			return G_SOURCE_REMOVE;
		}
		if (elapsed_ms > PDS_LOCAL_HUB_STOP_TIMEOUT_MS && !self->hub_killed) {
			g_warning("podscope-hub did not stop within %d ms; killing it",
				  PDS_LOCAL_HUB_STOP_TIMEOUT_MS);
			self->hub_killed = TRUE;
			child_signal(self->hub, SIGKILL);
		}
		return G_SOURCE_CONTINUE;
	default:
		self->stop_tick_id = 0;
		return G_SOURCE_REMOVE;
	}
}

static void
stop_begin(PdsLocalSession *self)
{
	self->running = FALSE;
	if (self->stop_state != STOP_IDLE)
		return;
	stop_enter(self, STOP_AGENTS);
	self->stop_tick_id = g_timeout_add(PDS_LOCAL_TICK_MS, stop_tick_cb, self);
}

void
pds_local_session_stop_async(PdsLocalSession *self,
			     GCancellable *cancellable,
			     GAsyncReadyCallback callback,
			     gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));
	g_task_set_source_tag(task, pds_local_session_stop_async);

	if (!self->started || self->stopped) {
		self->stopped = TRUE;
		self->stop_state = STOP_DONE;
		g_task_return_boolean(task, TRUE);
		return;
	}
	g_ptr_array_add(self->stop_tasks, g_steal_pointer(&task));
	stop_begin(self);
}

gboolean
pds_local_session_stop_finish(PdsLocalSession *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}

void
pds_local_session_stop_now(PdsLocalSession *self)
{
	g_return_if_fail(PDS_IS_LOCAL_SESSION(self));

	if (!self->started || self->stopped)
		return;
	self->running = FALSE;
	if (self->stop_state < STOP_DRAIN)
		self->stop_state = STOP_DRAIN;
	self->drain_done = TRUE;
	if (self->stream_cancel != NULL)
		g_cancellable_cancel(self->stream_cancel);
	for (guint i = 0; i < self->agents->len; i++)
		child_signal(g_ptr_array_index(self->agents, i), SIGTERM);
	for (guint i = 0; i < self->agents->len; i++)
		child_stop_blocking(g_ptr_array_index(self->agents, i), 3000);
	child_stop_blocking(self->hub, 3000);
	g_clear_handle_id(&self->stop_tick_id, g_source_remove);
	stop_complete(self);
}

/* ---- run ---- */

typedef struct {
	PdsLocalSession *self;
	GMainLoop *loop;
	GCancellable *start_cancel;
	gboolean starting;
	gboolean stopping;
	guint n_signals;
	GError *error;
} RunData;

static void
run_stop_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	RunData *rd = user_data;
	g_autoptr(GError) error = NULL;

	if (!pds_local_session_stop_finish(rd->self, result, &error) && rd->error == NULL)
		rd->error = g_steal_pointer(&error);
	g_main_loop_quit(rd->loop);
}

static void
run_stop(RunData *rd)
{
	if (rd->stopping)
		return;
	rd->stopping = TRUE;
	pds_local_session_stop_async(rd->self, NULL, run_stop_done_cb, rd);
}

static void
run_stream_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	RunData *rd = user_data;
	g_autoptr(GError) error = NULL;

	if (!pds_local_session_stream_finish(rd->self, result, &error) && rd->error == NULL)
		rd->error = g_steal_pointer(&error);
	run_stop(rd);
}

static gboolean
run_signal_cb(gpointer user_data)
{
	RunData *rd = user_data;

	rd->n_signals++;
	if (rd->starting) {
		g_cancellable_cancel(rd->start_cancel);
	} else if (!rd->stopping) {
		run_stop(rd);
	} else if (rd->n_signals > 1) {
		/* Asked twice: stop at once (the output still ends at a block boundary). */
		pds_local_session_stop_now(rd->self);
	}
	return G_SOURCE_CONTINUE;
}

gboolean
pds_local_session_run(PdsLocalSession *self,
		      GOutputStream *out,
		      PdsLocalSessionStartedFunc started,
		      gpointer user_data,
		      GError **error)
{
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GCancellable) start_cancel = g_cancellable_new();
	RunData rd = {self, loop, start_cancel, FALSE, FALSE, 0, NULL};
	guint sigint_id, sigterm_id;

	g_return_val_if_fail(PDS_IS_LOCAL_SESSION(self), FALSE);
	g_return_val_if_fail(G_IS_OUTPUT_STREAM(out), FALSE);

	sigint_id = g_unix_signal_add(SIGINT, run_signal_cb, &rd);
	sigterm_id = g_unix_signal_add(SIGTERM, run_signal_cb, &rd);
	if (!self->started) {
		rd.starting = TRUE;
		if (!pds_local_session_start(self, start_cancel, error)) {
			g_source_remove(sigint_id);
			g_source_remove(sigterm_id);
			return FALSE;
		}
		rd.starting = FALSE;
	}
	if (rd.n_signals > 0) {
		/* A signal in the last moment of start. */
		pds_local_session_stop_now(self);
		g_source_remove(sigint_id);
		g_source_remove(sigterm_id);
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
				    _("stopped before the capture began"));
		return FALSE;
	}
	if (started != NULL)
		started(self, user_data);
	pds_local_session_stream_async(self, out, NULL, run_stream_done_cb, &rd);
	g_main_loop_run(loop);
	g_source_remove(sigint_id);
	g_source_remove(sigterm_id);
	if (rd.error != NULL) {
		g_propagate_error(error, rd.error);
		return FALSE;
	}
	return TRUE;
}
