/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The extcap protocol of Wireshark 4.0 and later: Wireshark (or dumpcap)
 * runs us with --extcap-interfaces, --extcap-dlts, --extcap-config,
 * --extcap-reload-option or --extcap-capture-filter and reads sentences from
 * stdout; --capture then asks for pcapng on the fifo it made.
 *
 * Stdout carries nothing but those sentences. Diagnostics go to --log-file
 * (or --debug-file); without one, only warnings and errors reach stderr,
 * which Wireshark shows to the user when the capture ends.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsExtcap"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pds-cli.h"
#include "pds-extcap-filter.h"
#include "pds-extcap.h"
#include "pds-kube-session.h"
#include "pds-local-session.h"
#include "pds-pcapng-reader.h"
#include "pds-pcapng.h"

/* What every agent captures on the usual pod interface (veth, eth0). */
#define PDS_EXTCAP_DLT	     1
#define PDS_EXTCAP_SNAPLEN   262144
#define PDS_EXTCAP_NETNS_DIR "/run/netns"
/* The controller's default image (pds-kube-session.c), shown so users see what runs. */
#define PDS_EXTCAP_AGENT_IMAGE "ghcr.io/podscope/podscope:" PACKAGE_VERSION

/* Linux capability numbers (linux/capability.h) the local taps need. */
#define PDS_CAP_NET_ADMIN 12
#define PDS_CAP_NET_RAW	  13
#define PDS_CAP_SYS_ADMIN 21

typedef struct {
	gboolean list_interfaces;
	gchar *wireshark_version;
	gchar *interface;
	gboolean list_dlts;
	gboolean config;
	gchar *reload_option;
	gboolean capture;
	gchar *fifo;
	gchar *capture_filter;
	gchar *control_in;
	gchar *control_out;
	gchar *log_level;
	gchar *log_file;
	gboolean debug;
	gchar *debug_file;

	/* podscope (Kubernetes) */
	gchar *kubeconfig;
	gchar *context;
	gchar *k8s_namespace;
	gchar *selector;
	gchar *pod_regex;
	gboolean include_files;
	gboolean force_privileged;
	gchar *agent_image;

	/* podscope-local */
	gchar *netns;
	gchar *pids;
	gchar *interface_name;

	/* podscope-hub */
	gchar *url;
	gchar *token;
} PdsExtcapOptions;

static void
pds_extcap_options_clear(PdsExtcapOptions *o)
{
	g_free(o->wireshark_version);
	g_free(o->interface);
	g_free(o->reload_option);
	g_free(o->fifo);
	g_free(o->capture_filter);
	g_free(o->control_in);
	g_free(o->control_out);
	g_free(o->log_level);
	g_free(o->log_file);
	g_free(o->debug_file);
	g_free(o->kubeconfig);
	g_free(o->context);
	g_free(o->k8s_namespace);
	g_free(o->selector);
	g_free(o->pod_regex);
	g_free(o->agent_image);
	g_free(o->netns);
	g_free(o->pids);
	g_free(o->interface_name);
	g_free(o->url);
	g_free(o->token);
}

/* ---- logging: never on stdout ---- */

static FILE *log_fp;
static int log_max_rank = 2; /* warnings and worse */

static int
log_rank(GLogLevelFlags level)
{
	if (level & G_LOG_LEVEL_ERROR)
		return 0;
	if (level & G_LOG_LEVEL_CRITICAL)
		return 1;
	if (level & G_LOG_LEVEL_WARNING)
		return 2;
	if (level & G_LOG_LEVEL_MESSAGE)
		return 3;
	if (level & G_LOG_LEVEL_INFO)
		return 4;
	return 5;
}

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	g_autofree gchar *line = NULL;
	g_autoptr(GDateTime) now = NULL;
	g_autofree gchar *stamp = NULL;

	if (log_rank(level) > log_max_rank)
		return G_LOG_WRITER_HANDLED;
	line = g_log_writer_format_fields(level, fields, n_fields, FALSE);
	if (log_fp != NULL) {
		now = g_date_time_new_now_local();
		stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%f");
		fprintf(log_fp, "%s [%d] %s\n", stamp, (int)getpid(), line);
		fflush(log_fp);
	} else if (log_rank(level) <= 2) {
		fprintf(stderr, "%s\n", line);
	}
	return G_LOG_WRITER_HANDLED;
}

/* Levels as Wireshark names them (wsutil/wslog.h), plus GLib's. */
static int
parse_log_level(const char *name)
{
	static const struct {
		const char *name;
		int rank;
	} levels[] = {
		{"error", 0}, {"critical", 1}, {"warning", 2}, {"message", 3},
		{"info", 4},  {"debug", 5},    {"noisy", 5},   {"echo", 3},
	};

	for (guint i = 0; i < G_N_ELEMENTS(levels); i++) {
		if (g_ascii_strcasecmp(name, levels[i].name) == 0)
			return levels[i].rank;
	}
	return -1;
}

static gboolean
setup_logging(PdsExtcapOptions *o, GError **error)
{
	const char *file = o->log_file != NULL ? o->log_file : o->debug_file;

	if (o->debug)
		log_max_rank = 5;
	if (o->log_level != NULL) {
		int rank = parse_log_level(o->log_level);
		if (rank < 0) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    "unknown --log-level “%s”: use error, critical, warning, "
				    "message, info, debug or noisy",
				    o->log_level);
			return FALSE;
		}
		log_max_rank = rank;
	}
	if (file != NULL && file[0] != '\0') {
		log_fp = fopen(file, "ae");
		if (log_fp == NULL) {
			int saved = errno;
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
				    "cannot open the log file %s: %s", file, g_strerror(saved));
			return FALSE;
		}
		/* A log file asked for is meant to be read: keep at least messages. */
		if (o->log_level == NULL && !o->debug)
			log_max_rank = 4;
	}
	g_log_set_writer_func(log_writer, NULL, NULL);
	return TRUE;
}

/* ---- sentences ---- */

/*
 * Braces end a value in the sentence syntax and Wireshark has no escape for
 * them, so they never come from us inside a value.
 */
static gchar *
sentence_value(const char *text)
{
	gchar *copy = g_strdup(text != NULL ? text : "");

	g_strdelimit(copy, "{}\n", ' ');
	return copy;
}

static void
print_interfaces(void)
{
	g_print("extcap {version=%s}{display=PodScope}\n", PACKAGE_VERSION);
	g_print("interface {value=%s}{display=PodScope: Kubernetes pods}\n", PDS_EXTCAP_IFACE_K8S);
	g_print("interface {value=%s}{display=PodScope: local network namespaces}\n",
		PDS_EXTCAP_IFACE_LOCAL);
	g_print("interface {value=%s}{display=PodScope: running hub}\n", PDS_EXTCAP_IFACE_HUB);
}

static gboolean
is_our_interface(const char *name)
{
	return g_strcmp0(name, PDS_EXTCAP_IFACE_K8S) == 0 ||
	       g_strcmp0(name, PDS_EXTCAP_IFACE_LOCAL) == 0 ||
	       g_strcmp0(name, PDS_EXTCAP_IFACE_HUB) == 0;
}

static void
print_dlts(void)
{
	/* The stream is pcapng with its own IDBs; this is what agents usually capture. */
	g_print("dlt {number=%d}{name=EN10MB}{display=Ethernet, with PodScope records}\n",
		PDS_EXTCAP_DLT);
}

static void
print_arg(guint number,
	  const char *call,
	  const char *display,
	  const char *type,
	  const char *default_value,
	  const char *tooltip,
	  const char *group,
	  const char *extra)
{
	g_autofree gchar *def = sentence_value(default_value);

	g_print("arg "
		"{number=%u}{call=%s}{display=%s}{type=%s}{default=%s}{tooltip=%s}{group=%s}%s\n",
		number, call, display, type, def, tooltip, group, extra != NULL ? extra : "");
}

static void
print_value(guint arg, const char *value, const char *display, gboolean is_default)
{
	g_autofree gchar *v = sentence_value(value);
	g_autofree gchar *d = sentence_value(display);

	g_print("value {arg=%u}{value=%s}{display=%s}{default=%s}\n", arg, v, d,
		is_default ? "true" : "false");
}

/* The first file of $KUBECONFIG, else ~/.kube/config, as kubectl does. */
static gchar *
default_kubeconfig(void)
{
	const char *env = g_getenv("KUBECONFIG");

	if (env != NULL && env[0] != '\0') {
		g_auto(GStrv) files = g_strsplit(env, G_SEARCHPATH_SEPARATOR_S, 2);
		if (files[0] != NULL && files[0][0] != '\0')
			return g_strdup(files[0]);
	}
	return g_build_filename(g_get_home_dir(), ".kube", "config", NULL);
}

/* current-context of a kubeconfig: a top-level scalar, so no YAML parser is needed. */
static gchar *
kubeconfig_current_context(const char *path)
{
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "current-context:")) {
			gchar *value = g_strstrip(g_strdup(lines[i] + strlen("current-context:")));
			if (value[0] == '"' || value[0] == '\'') {
				gsize n = strlen(value);
				if (n >= 2 && value[n - 1] == value[0]) {
					value[n - 1] = '\0';
					memmove(value, value + 1, n - 1);
				}
			}
			return value;
		}
	}
	return NULL;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* Network namespace names in /run/netns, sorted. */
static GPtrArray *
list_netns(void)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) dir = g_dir_open(PDS_EXTCAP_NETNS_DIR, 0, NULL);
	const char *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL)
		g_ptr_array_add(names, g_strdup(name));
	g_ptr_array_sort(names, compare_names);
	return names;
}

/* "*" stands for every namespace of /run/netns; preferences may also hold a list. */
#define PDS_EXTCAP_ALL_NETNS "*"

static void
print_netns_values(guint arg, const char *selected)
{
	g_autoptr(GPtrArray) names = list_netns();

	print_value(arg, PDS_EXTCAP_ALL_NETNS, "Every namespace in " PDS_EXTCAP_NETNS_DIR,
		    g_strcmp0(selected, PDS_EXTCAP_ALL_NETNS) == 0);
	for (guint i = 0; i < names->len; i++) {
		const char *name = g_ptr_array_index(names, i);
		print_value(arg, name, name, g_strcmp0(selected, name) == 0);
	}
}

static void
print_config_k8s(const char *reload)
{
	g_autofree gchar *kubeconfig = default_kubeconfig();
	g_autofree gchar *context = kubeconfig_current_context(kubeconfig);

	if (reload != NULL)
		return;
	print_arg(0, "--kubeconfig", "Kubeconfig file", "fileselect", kubeconfig,
		  "The kubeconfig with the cluster and credentials (default: the first file of "
		  "$KUBECONFIG, else ~/.kube/config)",
		  "Cluster", "{mustexist=true}");
	print_arg(1, "--context", "Context", "string", context != NULL ? context : "",
		  "Kubeconfig context to use; empty for the current context", "Cluster", NULL);
	print_arg(2, "--namespace", "Namespace", "string", "default",
		  "Namespace of the pods to tap", "Pods", NULL);
	print_arg(3, "--selector", "Label selector", "string", "",
		  "Pods whose labels match, e.g. app=web; empty for every pod of the namespace",
		  "Pods", NULL);
	print_arg(4, "--pod-regex", "Pod name regex", "string", ".*",
		  "Pods whose name matches this regular expression", "Pods", NULL);
	print_arg(5, "--include-files", "Include file accesses", "boolflag", "false",
		  "Also show the files the pods' processes open (needs the podscope-snoop "
		  "sidecar)",
		  "Pods", NULL);
	print_arg(6, "--force-privileged", "Force privileged agent", "boolflag", "false",
		  "Run the agent container privileged when Pod Security Admission refuses "
		  "NET_RAW",
		  "Agent", NULL);
	print_arg(7, "--agent-image", "Agent image", "string", PDS_EXTCAP_AGENT_IMAGE,
		  "Container image of the podscope-agent ephemeral container", "Agent", NULL);
}

static void
print_config_local(const char *reload)
{
	if (reload != NULL) {
		if (g_strcmp0(reload, "netns") == 0)
			print_netns_values(0, NULL);
		return;
	}
	/* Wireshark 4.0 has no editable selector: one choice here, lists through -o or PIDs. */
	print_arg(0, "--netns", "Network namespace", "selector", PDS_EXTCAP_ALL_NETNS,
		  "Network namespace to tap: a name in /run/netns, or every one (*). "
		  "Preferences may also hold several names separated by commas.",
		  "Targets", "{reload=true}{placeholder=Reload the namespaces}");
	print_netns_values(0, PDS_EXTCAP_ALL_NETNS);
	print_arg(1, "--pid", "Process IDs", "string", "",
		  "Also tap the network namespaces of these processes (PIDs separated by commas)",
		  "Targets", "{validation=^[0-9, ]*$}");
	print_arg(2, "--interface-name", "Interface", "string", "",
		  "Interface to capture in each namespace; empty for every interface except "
		  "loopback",
		  "Targets", NULL);
	print_arg(3, "--include-files", "Include file accesses", "boolflag", "false",
		  "Also show the files the processes of “Process IDs” open (their cgroups are "
		  "traced with podscope-snoop)",
		  "Targets", NULL);
}

static void
print_config_hub(const char *reload)
{
	if (reload != NULL)
		return;
	print_arg(0, "--url", "Hub URL", "string", "http://127.0.0.1:8080",
		  "Address of the hub's API, e.g. the local end of a port-forward", "Hub",
		  "{validation=^https?://}");
	print_arg(1, "--token", "API token", "password", "",
		  "The session's bearer token (podscope-hub --token-file)", "Hub", NULL);
}

/* ---- capture filter ---- */

gboolean
pds_extcap_check_filter(const char *filter, GError **error)
{
	pcap_t *dead;
	struct bpf_program prog;
	gboolean ok = TRUE;

	if (filter == NULL || filter[0] == '\0')
		return TRUE;
	dead = pcap_open_dead(PDS_EXTCAP_DLT, PDS_EXTCAP_SNAPLEN);
	if (dead == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "libpcap could not make a handle to compile the filter");
		return FALSE;
	}
	if (pcap_compile(dead, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s",
			    pcap_geterr(dead));
		ok = FALSE;
	} else {
		pcap_freecode(&prog);
	}
	pcap_close(dead);
	return ok;
}

/* ---- capture: common parts ---- */

static GOutputStream *
open_fifo(const char *path, GError **error)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot open the capture fifo %s: %s", path, g_strerror(saved));
		return NULL;
	}
	return g_unix_output_stream_new(fd, TRUE);
}

static gboolean
has_capability(guint64 caps, int bit)
{
	return (caps >> bit) & 1;
}

/* Effective capabilities of this process, from /proc/self/status. */
static guint64
effective_capabilities(void)
{
	g_autofree gchar *status = NULL;
	const char *line;

	if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
		return 0;
	line = strstr(status, "\nCapEff:");
	if (line == NULL)
		return 0;
	return g_ascii_strtoull(line + strlen("\nCapEff:"), NULL, 16);
}

static gboolean
check_local_privileges(GError **error)
{
	guint64 caps = effective_capabilities();
	g_autofree gchar *self = g_file_read_link("/proc/self/exe", NULL);

	if (has_capability(caps, PDS_CAP_SYS_ADMIN) && has_capability(caps, PDS_CAP_NET_RAW))
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
		    "podscope-local needs the capabilities CAP_SYS_ADMIN (to enter network "
		    "namespaces), CAP_SYS_PTRACE (to open those of other users' processes), "
		    "CAP_NET_RAW and CAP_NET_ADMIN (to capture), and this process has not got "
		    "them. Grant them once, as root, to the podscope and "
		    "podscope-agent programs for the members of a group: "
		    "“sudo podscope install-wireshark --capabilities wireshark” "
		    "(it runs setcap cap_net_raw,cap_net_admin,cap_sys_admin,cap_sys_ptrace+ep on "
		    "%s and "
		    "podscope-agent and limits them to the group), or run Wireshark as root.",
		    self != NULL ? self : "podscope");
	return FALSE;
}

/* "a, b,,c" -> {"a", "b", "c"} */
static GStrv
split_list(const char *text)
{
	g_auto(GStrv) parts = g_strsplit_set(text != NULL ? text : "", ", \t", -1);
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] != '\0')
			g_strv_builder_add(b, parts[i]);
	}
	return g_strv_builder_end(b);
}

/* ---- podscope-local ---- */

/* One podscope-snoop per process ID whose file accesses the user wants. */
typedef struct {
	PdsExtcapOptions *o;
	GPtrArray *cgroups; /* of gchar *: absolute cgroup v2 paths */
	GPtrArray *names;   /* of gchar *: "<comm>-<pid>", as the session names targets */
	gchar *cgroup_root;
	gchar *snoop_bin;
	gchar *report_dir; /* snoop's JSON reports; the session's own folder is gone when they write
			    */
	GPtrArray *snoops; /* of GSubprocess */
} PdsLocalRun;

static void
pds_local_run_clear(PdsLocalRun *run)
{
	g_clear_pointer(&run->cgroups, g_ptr_array_unref);
	g_clear_pointer(&run->names, g_ptr_array_unref);
	g_clear_pointer(&run->cgroup_root, g_free);
	g_clear_pointer(&run->snoop_bin, g_free);
	g_clear_pointer(&run->snoops, g_ptr_array_unref);
	if (run->report_dir != NULL) {
		g_autoptr(GDir) dir = g_dir_open(run->report_dir, 0, NULL);
		const char *name;
		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *path = g_build_filename(run->report_dir, name, NULL);
			g_unlink(path);
		}
		g_rmdir(run->report_dir);
		g_clear_pointer(&run->report_dir, g_free);
	}
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PdsLocalRun, pds_local_run_clear)

/* Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts). */
static gchar *
cgroup2_root(GError **error)
{
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/self/mountinfo", &text, NULL, error))
		return NULL;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) halves = g_strsplit(lines[i], " - ", 2);
		g_auto(GStrv) fields = NULL;
		if (halves[0] == NULL || halves[1] == NULL ||
		    !g_str_has_prefix(halves[1], "cgroup2 "))
			continue;
		fields = g_strsplit(halves[0], " ", -1);
		if (g_strv_length(fields) >= 5)
			return g_strdup(fields[4]);
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		    "file accesses are traced per cgroup v2, and no cgroup2 file system is "
		    "mounted here");
	return NULL;
}

/* The cgroup v2 of @pid ("0::/path" in /proc/PID/cgroup) under @root. */
static gchar *
pid_cgroup(const char *root, guint64 pid, GError **error)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%" G_GUINT64_FORMAT "/cgroup", pid);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents(path, &text, NULL, error)) {
		g_prefix_error(error, "cannot find the cgroup of process %" G_GUINT64_FORMAT ": ",
			       pid);
		return NULL;
	}
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "0::"))
			return g_build_filename(root, lines[i] + 3, NULL);
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		    "process %" G_GUINT64_FORMAT " has no cgroup v2 (no 0:: line in %s)", pid,
		    path);
	return NULL;
}

static gchar *
pid_name(guint64 pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%" G_GUINT64_FORMAT "/comm", pid);
	g_autofree gchar *comm = NULL;

	if (!g_file_get_contents(path, &comm, NULL, NULL))
		return g_strdup_printf("pid-%" G_GUINT64_FORMAT, pid);
	return g_strdup_printf("%s-%" G_GUINT64_FORMAT, g_strstrip(comm), pid);
}

static void
start_snoops(PdsLocalRun *run, PdsLocalSession *session)
{
	const char *dir = pds_local_session_get_directory(session);
	const char *log_file = run->o->log_file != NULL ? run->o->log_file : run->o->debug_file;
	g_autofree gchar *hub =
		g_strdup_printf("127.0.0.1:%u", pds_local_session_get_ingest_port(session));
	g_autofree gchar *ca = g_build_filename(dir, "ca.crt", NULL);
	/* The session's client credentials; the hub tells sources apart by their source id. */
	g_autofree gchar *cert = g_build_filename(dir, "agent-0.crt", NULL);
	g_autofree gchar *key = g_build_filename(dir, "agent-0.key", NULL);

	for (guint i = 0; i < run->cgroups->len; i++) {
		g_autoptr(GSubprocessLauncher) launcher =
			g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
		g_autofree gchar *report = g_strdup_printf("%s/snoop-%u.json", run->report_dir, i);
		const char *argv[] = {run->snoop_bin,
				      "--cgroup",
				      g_ptr_array_index(run->cgroups, i),
				      "--cgroup-root",
				      run->cgroup_root,
				      "--hub",
				      hub,
				      "--ca",
				      ca,
				      "--cert",
				      cert,
				      "--key",
				      key,
				      "--stream-all",
				      "--pod",
				      g_ptr_array_index(run->names, i),
				      "--namespace",
				      "local",
				      "--report",
				      report,
				      NULL};
		g_autoptr(GError) error = NULL;
		GSubprocess *snoop;

		if (log_file != NULL) {
			int fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
			int fd2 = fd >= 0 ? dup(fd) : -1;
			if (fd >= 0 && fd2 >= 0) {
				g_subprocess_launcher_take_stdout_fd(launcher, fd);
				g_subprocess_launcher_take_stderr_fd(launcher, fd2);
			} else if (fd >= 0) {
				close(fd);
			}
		} else {
			/* Stderr is Wireshark's error dialog: keep it for real errors. */
			g_subprocess_launcher_set_flags(launcher,
							G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
								G_SUBPROCESS_FLAGS_STDERR_SILENCE);
		}
		snoop = g_subprocess_launcher_spawnv(launcher, argv, &error);
		if (snoop == NULL) {
			g_warning("file accesses of %s will be missing: %s",
				  (const char *)g_ptr_array_index(run->names, i), error->message);
			continue;
		}
		g_message("tracing the file accesses of %s (cgroup %s) with podscope-snoop pid %s",
			  (const char *)g_ptr_array_index(run->names, i),
			  (const char *)g_ptr_array_index(run->cgroups, i),
			  g_subprocess_get_identifier(snoop));
		g_ptr_array_add(run->snoops, snoop);
	}
}

static void
stop_snoops(PdsLocalRun *run)
{
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	for (guint i = 0; i < run->snoops->len; i++)
		g_subprocess_send_signal(g_ptr_array_index(run->snoops, i), SIGTERM);
	for (guint i = 0; i < run->snoops->len; i++) {
		GSubprocess *snoop = g_ptr_array_index(run->snoops, i);
		/* GSubprocess notices the exit on GLib's worker thread: polling is enough. */
		while (g_subprocess_get_identifier(snoop) != NULL &&
		       g_get_monotonic_time() < deadline)
			g_usleep(20000);
		if (g_subprocess_get_identifier(snoop) != NULL) {
			g_warning("podscope-snoop did not stop within 5 s; killing it");
			g_subprocess_force_exit(snoop);
			g_subprocess_wait(snoop, NULL, NULL);
		}
	}
}

static void
local_started_cb(PdsLocalSession *session, gpointer user_data)
{
	PdsLocalRun *run = user_data;
	GPtrArray *targets = pds_local_session_get_targets(session);

	for (guint i = 0; i < targets->len; i++) {
		PdsLocalTarget *target = g_ptr_array_index(targets, i);
		g_autofree gchar *ifaces = g_strjoinv(",", target->interfaces);
		g_message("tapping %s (%s) on %s", target->name, target->netns_path, ifaces);
	}
	if (run->cgroups != NULL)
		start_snoops(run, session);
}

static gboolean
capture_local(PdsExtcapOptions *o, GOutputStream *out, GError **error)
{
	g_autoptr(PdsLocalSession) session = pds_local_session_new();
	g_auto(GStrv) netns = split_list(o->netns);
	g_auto(GStrv) pids = split_list(o->pids);
	g_auto(PdsLocalRun) run = {o, NULL, NULL, NULL, NULL, NULL, NULL};
	gboolean ok;

	if (g_strv_contains((const char *const *)netns, PDS_EXTCAP_ALL_NETNS) ||
	    (netns[0] == NULL && pids[0] == NULL)) {
		g_autoptr(GPtrArray) all = list_netns();
		if (all->len == 0 && pids[0] == NULL) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				    "there is no network namespace in %s to tap: make one, or "
				    "give the process IDs whose namespaces to tap",
				    PDS_EXTCAP_NETNS_DIR);
			return FALSE;
		}
		g_ptr_array_add(all, NULL);
		g_strfreev(netns);
		netns = g_strdupv((gchar **)all->pdata);
	}
	for (guint i = 0; pids[i] != NULL; i++) {
		guint64 pid = 0;
		if (!g_ascii_string_to_unsigned(pids[i], 10, 1, G_MAXINT32, &pid, NULL)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "“%s” is not a process ID (Process IDs takes numbers "
				    "separated by commas)",
				    pids[i]);
			return FALSE;
		}
		pds_local_session_add_pid(session, (GPid)pid);
		if (o->include_files) {
			gchar *cgroup;
			if (run.cgroups == NULL) {
				run.cgroup_root = cgroup2_root(error);
				if (run.cgroup_root == NULL)
					return FALSE;
				run.cgroups = g_ptr_array_new_with_free_func(g_free);
				run.names = g_ptr_array_new_with_free_func(g_free);
				run.snoops = g_ptr_array_new_with_free_func(g_object_unref);
			}
			cgroup = pid_cgroup(run.cgroup_root, pid, error);
			if (cgroup == NULL)
				return FALSE;
			g_ptr_array_add(run.cgroups, cgroup);
			g_ptr_array_add(run.names, pid_name(pid));
		}
	}
	if (o->include_files && run.cgroups == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "file accesses are traced per process: give the process IDs whose "
			    "files to show (their cgroups are traced)");
		return FALSE;
	}
	if (run.cgroups != NULL) {
		run.snoop_bin = pds_cli_find_program("podscope-snoop", "PODSCOPE_SNOOP_BIN",
						     "snoop", error);
		if (run.snoop_bin == NULL) {
			g_prefix_error(error, "file accesses need podscope-snoop: ");
			return FALSE;
		}
		run.report_dir = g_dir_make_tmp("podscope-snoop-XXXXXX", error);
		if (run.report_dir == NULL)
			return FALSE;
	}
	if (!check_local_privileges(error))
		return FALSE;

	for (guint i = 0; netns[i] != NULL; i++)
		pds_local_session_add_netns(session, netns[i]);
	if (o->capture_filter != NULL && o->capture_filter[0] != '\0')
		pds_local_session_set_filter(session, o->capture_filter);
	if (o->interface_name != NULL && o->interface_name[0] != '\0')
		pds_local_session_set_interface(session, o->interface_name);
	/* Only Exported-PDU records count as packets in a live capture. */
	pds_local_session_set_envelope(session, PDS_LOCAL_ENVELOPE_EXPORTED_PDU);
	pds_local_session_set_log_file(session, o->log_file != NULL ? o->log_file : o->debug_file);
	pds_local_session_set_verbose(session, log_max_rank >= 4);

	g_message("local capture into %s (filter: %s)", o->fifo,
		  o->capture_filter != NULL ? o->capture_filter : "none");
	ok = pds_local_session_run(session, out, local_started_cb, &run, error);
	if (run.snoops != NULL)
		stop_snoops(&run);
	if (!ok) {
		/* SIGTERM before the agents were up: a stop, not a failure. */
		if (g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_clear_error(error);
			return TRUE;
		}
		return FALSE;
	}
	g_message("local capture stopped: %" G_GUINT64_FORMAT " packets, %" G_GUINT64_FORMAT
		  " bytes%s",
		  pds_local_session_get_packets_streamed(session),
		  pds_local_session_get_bytes_streamed(session),
		  pds_local_session_get_output_closed(session) ? " (reader closed the fifo)" : "");
	return TRUE;
}

/* ---- podscope-hub ---- */

typedef struct {
	GMainLoop *loop;
	GCancellable *cancellable;
	SoupSession *soup;
	SoupMessage *msg;
	GInputStream *in;
	GOutputStream *out;
	PdsPcapngReader *reader;
	const char *filter;
	GHashTable *programs; /* linktype -> struct bpf_program * (NULL: unfiltered) */
	guint8 buf[64 * 1024];
	GError *error;
	gboolean stopped;
	gboolean output_closed;
	guint64 blocks;
	guint64 dropped;
} PdsHubStream;

static void
bpf_program_free(gpointer data)
{
	struct bpf_program *prog = data;

	if (prog == NULL)
		return;
	pcap_freecode(prog);
	g_free(prog);
}

/* The filter compiled for @linktype, or NULL to let that link type through. */
static struct bpf_program *
hub_program(PdsHubStream *s, guint16 linktype)
{
	struct bpf_program *prog;
	pcap_t *dead;

	if (g_hash_table_contains(s->programs, GUINT_TO_POINTER(linktype)))
		return g_hash_table_lookup(s->programs, GUINT_TO_POINTER(linktype));
	prog = g_new0(struct bpf_program, 1);
	dead = pcap_open_dead(linktype, PDS_EXTCAP_SNAPLEN);
	if (dead == NULL || pcap_compile(dead, prog, s->filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		g_warning("the capture filter does not apply to link type %u (%s); its packets "
			  "pass unfiltered",
			  linktype, dead != NULL ? pcap_geterr(dead) : "no pcap handle");
		g_free(prog);
		prog = NULL;
	}
	if (dead != NULL)
		pcap_close(dead);
	g_hash_table_insert(s->programs, GUINT_TO_POINTER(linktype), prog);
	return prog;
}

static gboolean
hub_block_wanted(PdsHubStream *s, const PdsPcapngBlock *block)
{
	const PdsPcapngInterface *iface;
	struct bpf_program *prog;
	struct pcap_pkthdr hdr;

	if (s->filter == NULL ||
	    (block->type != PDS_PCAPNG_BT_EPB && block->type != PDS_PCAPNG_BT_SPB))
		return TRUE;
	iface = pds_pcapng_reader_get_interface(s->reader, block->interface_id);
	/* Records (link type 252) are not packets: a packet filter does not judge them. */
	if (iface == NULL || iface->linktype == PDS_LINKTYPE_WIRESHARK_UPPER_PDU)
		return TRUE;
	prog = hub_program(s, iface->linktype);
	if (prog == NULL)
		return TRUE;
	memset(&hdr, 0, sizeof(hdr));
	hdr.caplen = block->caplen;
	hdr.len = block->origlen;
	return pcap_offline_filter(prog, &hdr, block->packet) != 0;
}

static void hub_read_next(PdsHubStream *s);

static void
hub_finish(PdsHubStream *s, GError *error)
{
	if (error != NULL && s->error == NULL)
		s->error = error;
	else if (error != NULL)
		g_error_free(error);
	g_main_loop_quit(s->loop);
}

static void
hub_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PdsHubStream *s = user_data;
	GError *error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);
	PdsPcapngBlock block;

	if (n < 0) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && s->stopped) {
			g_error_free(error);
			hub_finish(s, NULL);
			return;
		}
		g_prefix_error(&error, "reading the hub's stream: ");
		hub_finish(s, error);
		return;
	}
	if (n == 0) {
		g_message("the hub ended the stream");
		if (!pds_pcapng_reader_finish(s->reader, &error))
			g_warning("the hub's stream ended inside a block: %s", error->message);
		g_clear_error(&error);
		hub_finish(s, NULL);
		return;
	}
	pds_pcapng_reader_feed(s->reader, s->buf, (gsize)n);
	/* Whole blocks only, so the fifo always ends at a block boundary. */
	while (pds_pcapng_reader_next(s->reader, &block, &error)) {
		if (!hub_block_wanted(s, &block)) {
			s->dropped++;
			continue;
		}
		if (!g_output_stream_write_all(s->out, block.raw, block.length, NULL, NULL,
					       &error) ||
		    !g_output_stream_flush(s->out, NULL, &error)) {
			if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE)) {
				g_message("the capture fifo was closed by its reader");
				s->output_closed = TRUE;
				g_error_free(error);
				hub_finish(s, NULL);
				return;
			}
			g_prefix_error(&error, "writing to the capture fifo: ");
			hub_finish(s, error);
			return;
		}
		s->blocks++;
	}
	if (error != NULL) {
		g_prefix_error(&error, "the hub's stream is not valid pcapng: ");
		hub_finish(s, error);
		return;
	}
	hub_read_next(s);
}

static void
hub_read_next(PdsHubStream *s)
{
	g_input_stream_read_async(s->in, s->buf, sizeof(s->buf), G_PRIORITY_DEFAULT, s->cancellable,
				  hub_read_cb, s);
}

static void
hub_send_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	PdsHubStream *s = user_data;
	GError *error = NULL;
	guint status;

	s->in = soup_session_send_finish(SOUP_SESSION(source), result, &error);
	if (s->in == NULL) {
		if (s->stopped && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_error_free(error);
			hub_finish(s, NULL);
			return;
		}
		g_autofree gchar *uri = g_uri_to_string(soup_message_get_uri(s->msg));

		g_prefix_error(&error, "cannot reach the hub at %s: ", uri);
		hub_finish(s, error);
		return;
	}
	status = soup_message_get_status(s->msg);
	if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN) {
		hub_finish(s, g_error_new(G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
					  "the hub refused the API token (HTTP %u %s): copy the "
					  "session's token into “API token”",
					  status, soup_message_get_reason_phrase(s->msg)));
		return;
	}
	if (status != SOUP_STATUS_OK) {
		hub_finish(s, g_error_new(G_IO_ERROR, G_IO_ERROR_FAILED,
					  "the hub answered HTTP %u %s to the capture request",
					  status, soup_message_get_reason_phrase(s->msg)));
		return;
	}
	g_message("streaming from the hub");
	hub_read_next(s);
}

static gboolean
hub_signal_cb(gpointer user_data)
{
	PdsHubStream *s = user_data;

	g_message("stop requested");
	s->stopped = TRUE;
	g_cancellable_cancel(s->cancellable);
	return G_SOURCE_CONTINUE;
}

static gboolean
capture_hub(PdsExtcapOptions *o, GOutputStream *out, GError **error)
{
	PdsHubStream s = {0};
	g_autofree gchar *base = NULL;
	g_autofree gchar *url = NULL;
	g_autofree gchar *auth = NULL;
	guint sigterm;
	guint sigint;
	gboolean ok;

	if (o->url == NULL ||
	    !(g_str_has_prefix(o->url, "http://") || g_str_has_prefix(o->url, "https://"))) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "“Hub URL” must be an http:// or https:// address of the hub's API, "
			    "not “%s”",
			    o->url != NULL ? o->url : "");
		return FALSE;
	}
	if (o->token == NULL || o->token[0] == '\0') {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "“API token” is empty: give the hub session's bearer token");
		return FALSE;
	}
	base = g_strdup(o->url);
	while (g_str_has_suffix(base, "/"))
		base[strlen(base) - 1] = '\0';
	url = g_strdup_printf("%s/v1/capture.pcapng?follow=1&envelope=exported-pdu", base);

	s.msg = soup_message_new("GET", url);
	if (s.msg == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "“%s” is not a valid hub URL", o->url);
		return FALSE;
	}
	auth = g_strdup_printf("Bearer %s", o->token);
	soup_message_headers_replace(soup_message_get_request_headers(s.msg), "Authorization",
				     auth);

	s.out = out;
	s.loop = g_main_loop_new(NULL, FALSE);
	s.cancellable = g_cancellable_new();
	/* A live stream has no end: no timeout once it flows. */
	s.soup = soup_session_new_with_options("timeout", 0, "idle-timeout", 0, NULL);
	s.reader = pds_pcapng_reader_new();
	s.filter = (o->capture_filter != NULL && o->capture_filter[0] != '\0') ? o->capture_filter
									       : NULL;
	s.programs = g_hash_table_new_full(NULL, NULL, NULL, bpf_program_free);

	sigterm = g_unix_signal_add(SIGTERM, hub_signal_cb, &s);
	sigint = g_unix_signal_add(SIGINT, hub_signal_cb, &s);
	g_message("connecting to %s", url);
	soup_session_send_async(s.soup, s.msg, G_PRIORITY_DEFAULT, s.cancellable, hub_send_cb, &s);
	g_main_loop_run(s.loop);
	g_source_remove(sigterm);
	g_source_remove(sigint);

	g_message("hub capture stopped: %" G_GUINT64_FORMAT " blocks written, %" G_GUINT64_FORMAT
		  " packets filtered out",
		  s.blocks, s.dropped);
	ok = s.error == NULL;
	if (!ok)
		g_propagate_error(error, s.error);
	if (s.in != NULL) {
		g_input_stream_close(s.in, NULL, NULL);
		g_object_unref(s.in);
	}
	g_object_unref(s.msg);
	g_object_unref(s.soup);
	g_object_unref(s.cancellable);
	g_main_loop_unref(s.loop);
	pds_pcapng_reader_free(s.reader);
	g_hash_table_unref(s.programs);
	return ok;
}

/* ---- podscope (Kubernetes) ---- */

static void
k8s_progress_cb(const char *line, gpointer user_data)
{
	g_message("%s", line);
}

static void
k8s_started_cb(PdsKubeSession *session, gpointer user_data)
{
	g_auto(GStrv) tapped = pds_kube_session_dup_tapped(session);
	g_autofree gchar *list = g_strjoinv(", ", tapped);

	g_message("session namespace %s: tapping %s", pds_kube_session_get_namespace(session),
		  list);
}

static const char *
empty_to_null(const char *text)
{
	return (text != NULL && text[0] != '\0') ? text : NULL;
}

static gboolean
capture_k8s(PdsExtcapOptions *o, GOutputStream *out, GError **error)
{
	PdsKubeSessionOptions options = {0};
	g_autoptr(PdsKubeSession) session = NULL;
	g_autoptr(PdsExtcapFilter) filter = NULL;

	options.kubeconfig = empty_to_null(o->kubeconfig);
	options.context = empty_to_null(o->context);
	options.namespace_ = empty_to_null(o->k8s_namespace);
	options.selector = empty_to_null(o->selector);
	options.pod_regex = empty_to_null(o->pod_regex);
	options.filter = empty_to_null(o->capture_filter);
	options.agent_image = empty_to_null(o->agent_image);
	options.force_privileged = o->force_privileged;
	/* Only Exported-PDU records count as packets in a live capture. */
	options.envelope = PDS_KUBE_ENVELOPE_EXPORTED_PDU;

	/* Snoop sidecars send file accesses to the session's hub; leave them out unless asked. */
	if (!o->include_files)
		filter = pds_extcap_filter_new(out);
	session = pds_kube_session_new(&options);
	pds_kube_session_set_progress_func(session, k8s_progress_cb, NULL);
	g_message("Kubernetes capture into %s (namespace %s, selector %s, pods %s)", o->fifo,
		  options.namespace_ != NULL ? options.namespace_ : "of the context",
		  options.selector != NULL ? options.selector : "none",
		  options.pod_regex != NULL ? options.pod_regex : "all");
	if (!pds_kube_session_run(session, filter != NULL ? G_OUTPUT_STREAM(filter) : out,
				  k8s_started_cb, NULL, error)) {
		/* SIGTERM while the session was starting: it cleaned up; a stop, not a failure. */
		if (g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_clear_error(error);
			return TRUE;
		}
		return FALSE;
	}
	g_message("Kubernetes capture stopped: %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT
		  " file accesses left out%s",
		  pds_kube_session_get_bytes_streamed(session),
		  filter != NULL ? pds_extcap_filter_get_dropped(filter) : 0,
		  pds_kube_session_get_output_closed(session) ? " (reader closed the fifo)" : "");
	return TRUE;
}

/* ---- main ---- */

static int
fail(const char *message)
{
	/* Wireshark shows the extcap's stderr to the user; the log keeps a copy. */
	g_printerr("podscope: %s\n", message);
	if (log_fp != NULL)
		g_warning("%s", message);
	return PDS_CLI_EXIT_FAILURE;
}

/*
 * dumpcap opens the fifo for reading and waits for a writer, so even a
 * capture that cannot start opens it first: the reader then sees the end of
 * the stream, and Wireshark shows what we printed on stderr.
 */
static int
capture(PdsExtcapOptions *o)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) close_error = NULL;
	g_autoptr(GOutputStream) out = open_fifo(o->fifo, &error);
	int rc = PDS_CLI_EXIT_OK;
	gboolean ok;

	if (out == NULL)
		return fail(error->message);
	if (!pds_extcap_check_filter(o->capture_filter, &error)) {
		g_autofree gchar *msg = g_strdup_printf("invalid capture filter “%s”: %s",
							o->capture_filter, error->message);
		return fail(msg);
	}
	if (g_strcmp0(o->interface, PDS_EXTCAP_IFACE_LOCAL) == 0)
		ok = capture_local(o, out, &error);
	else if (g_strcmp0(o->interface, PDS_EXTCAP_IFACE_HUB) == 0)
		ok = capture_hub(o, out, &error);
	else
		ok = capture_k8s(o, out, &error);
	/*
	 * The message first: the reader sees the end of the stream when the fifo
	 * closes, and Wireshark collects our stderr then.
	 */
	if (!ok)
		rc = fail(error->message);
	if (!g_output_stream_close(out, NULL, &close_error))
		g_info("closing the fifo: %s", close_error->message);
	return rc;
}

int
pds_extcap_main(int argc, char **argv)
{
	PdsExtcapOptions o = {0};
	const GOptionEntry entries[] = {
		{"extcap-interfaces", 0, 0, G_OPTION_ARG_NONE, &o.list_interfaces,
		 "List the extcap interfaces", NULL},
		{"extcap-version", 0, 0, G_OPTION_ARG_STRING, &o.wireshark_version,
		 "Version of the calling Wireshark", "VERSION"},
		{"extcap-interface", 0, 0, G_OPTION_ARG_STRING, &o.interface,
		 "The interface to work on", "IFACE"},
		{"extcap-dlts", 0, 0, G_OPTION_ARG_NONE, &o.list_dlts,
		 "List the link types of the interface", NULL},
		{"extcap-config", 0, 0, G_OPTION_ARG_NONE, &o.config,
		 "List the options of the interface", NULL},
		{"extcap-reload-option", 0, 0, G_OPTION_ARG_STRING, &o.reload_option,
		 "List the values of one option again", "OPTION"},
		{"extcap-capture-filter", 0, 0, G_OPTION_ARG_STRING, &o.capture_filter,
		 "Capture filter (alone: check it and print the error, if any)", "FILTER"},
		{"extcap-control-in", 0, 0, G_OPTION_ARG_FILENAME, &o.control_in,
		 "Control pipe from Wireshark (unused)", "PATH"},
		{"extcap-control-out", 0, 0, G_OPTION_ARG_FILENAME, &o.control_out,
		 "Control pipe to Wireshark (unused)", "PATH"},
		{"capture", 0, 0, G_OPTION_ARG_NONE, &o.capture, "Start the capture", NULL},
		{"fifo", 0, 0, G_OPTION_ARG_FILENAME, &o.fifo, "Write pcapng to this fifo", "PATH"},
		{"log-level", 0, 0, G_OPTION_ARG_STRING, &o.log_level,
		 "Log level: error, critical, warning, message, info, debug, noisy", "LEVEL"},
		{"log-file", 0, 0, G_OPTION_ARG_FILENAME, &o.log_file,
		 "Append diagnostics to this file", "PATH"},
		{"debug", 0, 0, G_OPTION_ARG_NONE, &o.debug, "Same as --log-level=debug", NULL},
		{"debug-file", 0, 0, G_OPTION_ARG_FILENAME, &o.debug_file, "Same as --log-file",
		 "PATH"},
		{"kubeconfig", 0, 0, G_OPTION_ARG_FILENAME, &o.kubeconfig, "Kubeconfig file",
		 "PATH"},
		{"context", 0, 0, G_OPTION_ARG_STRING, &o.context, "Kubeconfig context", "NAME"},
		{"namespace", 0, 0, G_OPTION_ARG_STRING, &o.k8s_namespace, "Kubernetes namespace",
		 "NAME"},
		{"selector", 0, 0, G_OPTION_ARG_STRING, &o.selector, "Label selector", "SELECTOR"},
		{"pod-regex", 0, 0, G_OPTION_ARG_STRING, &o.pod_regex, "Pod name regex", "REGEX"},
		{"include-files", 0, 0, G_OPTION_ARG_NONE, &o.include_files,
		 "Include file accesses", NULL},
		{"force-privileged", 0, 0, G_OPTION_ARG_NONE, &o.force_privileged,
		 "Run the agent privileged", NULL},
		{"agent-image", 0, 0, G_OPTION_ARG_STRING, &o.agent_image, "Agent image", "IMAGE"},
		{"netns", 0, 0, G_OPTION_ARG_STRING, &o.netns, "Network namespaces", "NAMES"},
		{"pid", 0, 0, G_OPTION_ARG_STRING, &o.pids, "Process IDs", "PIDS"},
		{"interface-name", 0, 0, G_OPTION_ARG_STRING, &o.interface_name,
		 "Interface in each namespace", "IFACE"},
		{"url", 0, 0, G_OPTION_ARG_STRING, &o.url, "Hub API URL", "URL"},
		{"token", 0, 0, G_OPTION_ARG_STRING, &o.token, "Hub API token", "TOKEN"},
		{NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new("- Wireshark extcap mode");
	g_autoptr(GError) error = NULL;
	int rc = PDS_CLI_EXIT_OK;

	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("podscope: %s\n", error->message);
		pds_extcap_options_clear(&o);
		return PDS_CLI_EXIT_USAGE;
	}
	if (!setup_logging(&o, &error)) {
		g_printerr("podscope: %s\n", error->message);
		pds_extcap_options_clear(&o);
		return PDS_CLI_EXIT_USAGE;
	}
	g_debug("extcap call: interfaces=%d dlts=%d config=%d capture=%d interface=%s "
		"wireshark=%s",
		o.list_interfaces, o.list_dlts, o.config, o.capture,
		o.interface != NULL ? o.interface : "-",
		o.wireshark_version != NULL ? o.wireshark_version : "-");

	if (o.list_interfaces) {
		print_interfaces();
	} else if (!is_our_interface(o.interface)) {
		g_autofree gchar *msg = g_strdup_printf(
			"unknown extcap interface “%s”: use %s, %s or %s",
			o.interface != NULL ? o.interface : "", PDS_EXTCAP_IFACE_K8S,
			PDS_EXTCAP_IFACE_LOCAL, PDS_EXTCAP_IFACE_HUB);
		rc = fail(msg);
	} else if (o.list_dlts) {
		print_dlts();
	} else if (o.config || o.reload_option != NULL) {
		if (g_strcmp0(o.interface, PDS_EXTCAP_IFACE_K8S) == 0)
			print_config_k8s(o.reload_option);
		else if (g_strcmp0(o.interface, PDS_EXTCAP_IFACE_LOCAL) == 0)
			print_config_local(o.reload_option);
		else
			print_config_hub(o.reload_option);
	} else if (!o.capture) {
		/* --extcap-capture-filter alone: the error text, or nothing when valid. */
		if (!pds_extcap_check_filter(o.capture_filter, &error))
			g_print("%s\n", error->message);
	} else if (o.fifo == NULL) {
		g_printerr("podscope: --capture needs --fifo PATH\n");
		rc = PDS_CLI_EXIT_USAGE;
	} else {
		rc = capture(&o);
	}

	if (log_fp != NULL) {
		fclose(log_fp);
		log_fp = NULL;
	}
	pds_extcap_options_clear(&o);
	return rc;
}
