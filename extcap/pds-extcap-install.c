/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Personal installation for Wireshark. Where Wireshark looks:
 *   extcap, Wireshark 4.0 and 4.1: $WIRESHARK_CONFIG_DIR/extcap, else
 *     ~/.config/wireshark/extcap (~/.wireshark/extcap when that folder exists);
 *   extcap, Wireshark 4.2 and later: ~/.local/lib/wireshark/extcap;
 *   plugins: ~/.local/lib/wireshark/plugins/<major>.<minor>/epan, where
 *     <major>.<minor> is the Wireshark version the plugin was built for.
 * The extcap is a symbolic link to this program, so it finds podscope-hub and
 * podscope-agent next to itself and follows upgrades; the plugin is copied,
 * because it must match the Wireshark it was built against.
 *
 * --capabilities GROUP does what Debian does for dumpcap: the programs that
 * enter namespaces and capture get file capabilities, and only GROUP may run
 * them. It is an explicit opt-in and needs root.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsExtcap"

#include <dlfcn.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pds-cli.h"
#include "pds-extcap-install.h"

#define PDS_CAPABILITIES "cap_net_raw,cap_net_admin,cap_sys_admin,cap_sys_ptrace+ep"
/* podscope-snoop loads eBPF programs and resolves the paths of other processes' files. */
#define PDS_SNOOP_CAPABILITIES                                                                     \
	"cap_bpf,cap_perfmon,cap_dac_read_search,cap_sys_ptrace,cap_sys_admin+ep"

typedef struct {
	int major;
	int minor;
} PdsWiresharkVersion;

/* "TShark (Wireshark) 4.0.17 (...)" -> 4.0 */
static gboolean
parse_version_line(const char *text, PdsWiresharkVersion *version)
{
	const char *p = strstr(text, "(Wireshark) ");
	int major = 0;
	int minor = 0;

	if (p == NULL || sscanf(p, "(Wireshark) %d.%d", &major, &minor) != 2)
		return FALSE;
	version->major = major;
	version->minor = minor;
	return TRUE;
}

static gboolean
detect_wireshark_version(PdsWiresharkVersion *version, GError **error)
{
	static const char *const programs[] = {"wireshark", "tshark", "dumpcap"};

	for (guint i = 0; i < G_N_ELEMENTS(programs); i++) {
		g_autofree gchar *path = g_find_program_in_path(programs[i]);
		g_autofree gchar *out = NULL;
		const char *argv[] = {NULL, "--version", NULL};

		if (path == NULL)
			continue;
		argv[0] = path;
		if (g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
				 &out, NULL, NULL, NULL) &&
		    out != NULL && parse_version_line(out, version))
			return TRUE;
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		    _("no Wireshark, tshark or dumpcap found in PATH to learn the Wireshark "
		      "version; install Wireshark or give --wireshark-version MAJOR.MINOR"));
	return FALSE;
}

static gboolean
parse_version_arg(const char *text, PdsWiresharkVersion *version, GError **error)
{
	int major = 0;
	int minor = 0;
	char tail = '\0';

	if (sscanf(text, "%d.%d%c", &major, &minor, &tail) < 2 || major < 1 || minor < 0) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    /* TRANSLATORS: %s is what the user gave */
			    _("“%s” is not a Wireshark version such as 4.0"), text);
		return FALSE;
	}
	version->major = major;
	version->minor = minor;
	return TRUE;
}

static gchar *
personal_config_dir(void)
{
	const char *env = g_getenv("WIRESHARK_CONFIG_DIR");
	g_autofree gchar *legacy = g_build_filename(g_get_home_dir(), ".wireshark", NULL);

	if (env != NULL && env[0] != '\0')
		return g_strdup(env);
	if (g_file_test(legacy, G_FILE_TEST_IS_DIR))
		return g_steal_pointer(&legacy);
	return g_build_filename(g_get_user_config_dir(), "wireshark", NULL);
}

/* The personal extcap folder of a Wireshark version. */
static gchar *
personal_extcap_dir(const PdsWiresharkVersion *v)
{
	g_autofree gchar *config = NULL;

	if (v->major > 4 || (v->major == 4 && v->minor >= 2))
		return g_build_filename(g_get_home_dir(), ".local", "lib", "wireshark", "extcap",
					NULL);
	config = personal_config_dir();
	return g_build_filename(config, "extcap", NULL);
}

static gchar *
personal_plugin_dir(int major, int minor)
{
	g_autofree gchar *ver = g_strdup_printf("%d.%d", major, minor);

	return g_build_filename(g_get_home_dir(), ".local", "lib", "wireshark", "plugins", ver,
				"epan", NULL);
}

/* Installed plugins live in <libdir>/wireshark/plugins/<ver>/epan. */
static gchar *
find_installed_plugin(void)
{
	g_autofree gchar *prefix = g_path_get_dirname(PDS_BINDIR);
	const char *bases[] = {prefix, "/usr", "/usr/local", NULL};

	for (guint b = 0; bases[b] != NULL; b++) {
		g_autofree gchar *lib = g_build_filename(bases[b], "lib", NULL);
		g_autoptr(GPtrArray) libdirs = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GDir) dir = g_dir_open(lib, 0, NULL);
		const char *name;

		g_ptr_array_add(libdirs, g_strdup(lib));
		g_ptr_array_add(libdirs, g_build_filename(bases[b], "lib64", NULL));
		/* Debian's multiarch folders, e.g. lib/x86_64-linux-gnu */
		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			if (strstr(name, "-linux-") != NULL)
				g_ptr_array_add(libdirs, g_build_filename(lib, name, NULL));
		}
		for (guint i = 0; i < libdirs->len; i++) {
			g_autofree gchar *plugins = g_build_filename(g_ptr_array_index(libdirs, i),
								     "wireshark", "plugins", NULL);
			g_autoptr(GDir) pd = g_dir_open(plugins, 0, NULL);
			const char *ver;

			while (pd != NULL && (ver = g_dir_read_name(pd)) != NULL) {
				g_autofree gchar *so =
					g_build_filename(plugins, ver, "epan", "podscope.so", NULL);
				if (g_file_test(so, G_FILE_TEST_IS_REGULAR))
					return g_steal_pointer(&so);
			}
		}
	}
	return NULL;
}

static gchar *
find_plugin(void)
{
	const char *env = g_getenv("PODSCOPE_WIRESHARK_PLUGIN");

	if (env != NULL && env[0] != '\0')
		return g_strdup(env);
	if (pds_cli_running_from_build_tree()) {
		g_autofree gchar *so =
			g_build_filename(PDS_BUILD_ROOT, "dissectors", "podscope.so", NULL);
		if (g_file_test(so, G_FILE_TEST_IS_REGULAR))
			return g_steal_pointer(&so);
	}
	return find_installed_plugin();
}

/* The Wireshark version a plugin was built for: its plugin_want_major/minor. */
static gboolean
plugin_version(const char *path, PdsWiresharkVersion *version, GError **error)
{
	void *handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
	const int *major;
	const int *minor;

	if (handle == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    /* TRANSLATORS: %s are a path and the loader's message */
			    _("cannot load the dissector plugin %s to read its version: %s"), path,
			    dlerror());
		return FALSE;
	}
	major = dlsym(handle, "plugin_want_major");
	minor = dlsym(handle, "plugin_want_minor");
	if (major == NULL || minor == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    /* TRANSLATORS: %s is a path */
			    _("%s is not a Wireshark plugin (no plugin_want_major)"), path);
		dlclose(handle);
		return FALSE;
	}
	version->major = *major;
	version->minor = *minor;
	dlclose(handle);
	return TRUE;
}

static gboolean
mkdir_for(const char *dir, GError **error)
{
	if (g_mkdir_with_parents(dir, 0755) != 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s are a folder and the system's error text */
			    _("cannot make the folder %s: %s"), dir, g_strerror(saved));
		return FALSE;
	}
	return TRUE;
}

static gboolean
install_extcap(const char *dir, const char *target, GError **error)
{
	g_autofree gchar *link = g_build_filename(dir, "podscope", NULL);

	if (!mkdir_for(dir, error))
		return FALSE;
	if (g_unlink(link) != 0 && errno != ENOENT) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    _("cannot replace %s: %s"), link, g_strerror(saved));
		return FALSE;
	}
	if (symlink(target, link) != 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    /* TRANSLATORS: %s are the link, its target and the system's error */
			    _("cannot link %s to %s: %s"), link, target, g_strerror(saved));
		return FALSE;
	}
	/* TRANSLATORS: %s are the link and the program it points to */
	g_print(_("Extcap:  %s -> %s\n"), link, target);
	return TRUE;
}

static gboolean
install_plugin(const char *dir, const char *source, GError **error)
{
	g_autofree gchar *dest = g_build_filename(dir, "podscope.so", NULL);
	g_autoptr(GFile) from = g_file_new_for_path(source);
	g_autoptr(GFile) to = g_file_new_for_path(dest);

	if (!mkdir_for(dir, error))
		return FALSE;
	if (!g_file_copy(from, to, G_FILE_COPY_OVERWRITE | G_FILE_COPY_TARGET_DEFAULT_PERMS, NULL,
			 NULL, NULL, error)) {
		g_prefix_error(error, _("cannot copy the dissector plugin to %s: "), dest);
		return FALSE;
	}
	/* TRANSLATORS: %s are the installed plugin and where it came from */
	g_print(_("Plugin:  %s (from %s)\n"), dest, source);
	return TRUE;
}

static gboolean
run_setcap(const char *const *argv, const char *path, GError **error)
{
	g_autofree gchar *err = NULL;
	int status = 0;

	if (!g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, &err,
			  &status, error)) {
		g_prefix_error(error, _("cannot run setcap (install libcap2-bin): "));
		return FALSE;
	}
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    /* TRANSLATORS: %s are the command's target and its error output */
			    _("setcap failed on %s: %s"), path, err != NULL ? g_strstrip(err) : "");
		return FALSE;
	}
	return TRUE;
}

/*
 * The programs that need privileges, as pairs of path and capabilities: this
 * one and podscope-agent enter namespaces and capture; podscope-snoop (when
 * built) traces file accesses for "include file accesses".
 */
static GPtrArray *
capability_programs(GError **error)
{
	g_autoptr(GPtrArray) programs = g_ptr_array_new_with_free_func(g_free);
	gchar *self = g_file_read_link("/proc/self/exe", error);
	gchar *agent;
	gchar *snoop;

	if (self == NULL)
		return NULL;
	g_ptr_array_add(programs, self);
	g_ptr_array_add(programs, g_strdup(PDS_CAPABILITIES));
	agent = pds_cli_find_program("podscope-agent", "PODSCOPE_AGENT_BIN", "agent", error);
	if (agent == NULL)
		return NULL;
	g_ptr_array_add(programs, agent);
	g_ptr_array_add(programs, g_strdup(PDS_CAPABILITIES));
	snoop = pds_cli_find_program("podscope-snoop", "PODSCOPE_SNOOP_BIN", "snoop", NULL);
	if (snoop != NULL) {
		g_ptr_array_add(programs, snoop);
		g_ptr_array_add(programs, g_strdup(PDS_SNOOP_CAPABILITIES));
	}
	return g_steal_pointer(&programs);
}

static gboolean
grant_capabilities(const char *group, GError **error)
{
	struct group *gr = getgrnam(group);
	g_autoptr(GPtrArray) programs = NULL;

	if (geteuid() != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    _("--capabilities changes the programs' owner and capabilities and "
			      "needs root: run it with sudo"));
		return FALSE;
	}
	if (gr == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    /* TRANSLATORS: %s is a group name */
			    _("there is no group “%s”: make it first (sudo groupadd --system %s)"),
			    group, group);
		return FALSE;
	}
	programs = capability_programs(error);
	if (programs == NULL)
		return FALSE;
	for (guint i = 0; i + 1 < programs->len; i += 2) {
		const char *path = g_ptr_array_index(programs, i);
		const char *caps = g_ptr_array_index(programs, i + 1);
		const char *argv[] = {"setcap", caps, path, NULL};

		/* Group first: only its members may run a program with these powers. */
		if (chown(path, 0, gr->gr_gid) != 0 || chmod(path, 0750) != 0) {
			int saved = errno;
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
				    _("cannot restrict %s to the group %s: %s"), path, group,
				    g_strerror(saved));
			return FALSE;
		}
		if (!run_setcap(argv, path, error))
			return FALSE;
		/* TRANSLATORS: %s are a program, its capabilities and a group */
		g_print(_("Capabilities: %s now has %s, runnable by root and the group %s\n"), path,
			caps, group);
	}
	/* TRANSLATORS: %s is a group name */
	g_print(_("Add the users who may capture to the group: sudo usermod -aG %s USER "
		  "(they must log in again).\n"),
		group);
	return TRUE;
}

static gboolean
revoke_capabilities(GError **error)
{
	g_autoptr(GPtrArray) programs = NULL;

	if (geteuid() != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    _("--capabilities changes the programs' owner and capabilities and "
			      "needs root: run it with sudo"));
		return FALSE;
	}
	programs = capability_programs(error);
	if (programs == NULL)
		return FALSE;
	for (guint i = 0; i < programs->len; i += 2) {
		const char *path = g_ptr_array_index(programs, i);
		const char *argv[] = {"setcap", "-r", path, NULL};
		g_autoptr(GError) local = NULL;

		/* "-r" fails when there is nothing to remove; that is the goal anyway. */
		if (!run_setcap(argv, path, &local))
			g_debug("%s", local->message);
		if (chown(path, 0, 0) != 0 || chmod(path, 0755) != 0) {
			int saved = errno;
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
				    _("cannot reset the owner and mode of %s: %s"), path,
				    g_strerror(saved));
			return FALSE;
		}
		/* TRANSLATORS: %s is a program */
		g_print(_("Capabilities: removed from %s\n"), path);
	}
	return TRUE;
}

int
pds_extcap_install_main(int argc, char **argv)
{
	g_autofree gchar *version_arg = NULL;
	g_autofree gchar *group = NULL;
	gboolean no_plugin = FALSE;
	const GOptionEntry entries[] = {
		{"wireshark-version", 0, 0, G_OPTION_ARG_STRING, &version_arg,
		 /* TRANSLATORS: help of --wireshark-version */
		 N_("Install for this Wireshark version (default: the installed one)"),
		 N_("MAJOR.MINOR")},
		{"capabilities", 0, 0, G_OPTION_ARG_STRING, &group,
		 /* TRANSLATORS: help of --capabilities */
		 N_("As root: give podscope and podscope-agent the capabilities podscope-local "
		    "needs, for the members of GROUP only"),
		 N_("GROUP")},
		{"no-plugin", 0, 0, G_OPTION_ARG_NONE, &no_plugin,
		 /* TRANSLATORS: help of --no-plugin */
		 N_("Install the extcap only"), NULL},
		{NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;
	PdsWiresharkVersion ws = {0};
	PdsWiresharkVersion pv = {0};
	g_autofree gchar *self = NULL;
	g_autofree gchar *extcap_dir = NULL;
	g_autofree gchar *plugin = NULL;

	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	g_option_context_set_summary(
		context,
		/* TRANSLATORS: summary of "podscope install-wireshark --help" */
		_("Put the PodScope extcap and dissector plugin in your personal Wireshark "
		  "folders, so Wireshark lists the PodScope interfaces and decodes PodScope "
		  "records."));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		pds_cli_print_usage_error("install-wireshark", error->message);
		return PDS_CLI_EXIT_USAGE;
	}
	if (version_arg != NULL ? !parse_version_arg(version_arg, &ws, &error)
				: !detect_wireshark_version(&ws, &error)) {
		pds_cli_print_error("install-wireshark", error->message);
		return version_arg != NULL ? PDS_CLI_EXIT_USAGE : PDS_CLI_EXIT_FAILURE;
	}
	self = g_file_read_link("/proc/self/exe", &error);
	if (self == NULL) {
		pds_cli_print_error("install-wireshark", error->message);
		return PDS_CLI_EXIT_FAILURE;
	}

	/* TRANSLATORS: %d.%d is a Wireshark version */
	g_print(_("Installing for Wireshark %d.%d:\n"), ws.major, ws.minor);
	extcap_dir = personal_extcap_dir(&ws);
	if (!install_extcap(extcap_dir, self, &error)) {
		pds_cli_print_error("install-wireshark", error->message);
		return PDS_CLI_EXIT_FAILURE;
	}

	if (!no_plugin) {
		plugin = find_plugin();
		if (plugin == NULL) {
			pds_cli_print_error(
				"install-wireshark",
				_("the dissector plugin podscope.so was not found (it is "
				  "built when wireshark-dev is installed); the extcap is "
				  "installed, records show as exported_pdu without it"));
			return PDS_CLI_EXIT_FAILURE;
		}
		if (!plugin_version(plugin, &pv, &error)) {
			pds_cli_print_error("install-wireshark", error->message);
			return PDS_CLI_EXIT_FAILURE;
		}
		if (pv.major != ws.major || pv.minor != ws.minor) {
			g_printerr(_("Note: the plugin was built for Wireshark %d.%d, so only "
				     "Wireshark %d.%d will load it.\n"),
				   pv.major, pv.minor, pv.major, pv.minor);
		}
		{
			g_autofree gchar *dir = personal_plugin_dir(pv.major, pv.minor);
			if (!install_plugin(dir, plugin, &error)) {
				pds_cli_print_error("install-wireshark", error->message);
				return PDS_CLI_EXIT_FAILURE;
			}
		}
	}

	if (group != NULL && !grant_capabilities(group, &error)) {
		pds_cli_print_error("install-wireshark", error->message);
		return PDS_CLI_EXIT_FAILURE;
	}
	if (geteuid() == 0)
		g_print("%s\n", _("Note: Wireshark run as root ignores personal folders; "
				  "“meson install” puts the extcap and plugin where every user's "
				  "Wireshark finds them."));
	g_print("%s\n", _("Restart Wireshark (or run “tshark -D”) to see the PodScope "
			  "interfaces."));
	return PDS_CLI_EXIT_OK;
}

/* Removes @path if it is ours: a link to a program called podscope, or our plugin. */
static gboolean
remove_ours(const char *path, gboolean is_link, GError **error)
{
	GStatBuf st;

	if (g_lstat(path, &st) != 0)
		return TRUE;
	if (is_link) {
		g_autofree gchar *target = g_file_read_link(path, NULL);
		g_autofree gchar *base = target != NULL ? g_path_get_basename(target) : NULL;

		if (target == NULL || g_strcmp0(base, "podscope") != 0) {
			/* TRANSLATORS: %s is a path */
			g_printerr(_("Left %s alone: it is not a link to podscope.\n"), path);
			return TRUE;
		}
	}
	if (g_unlink(path) != 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    _("cannot remove %s: %s"), path, g_strerror(saved));
		return FALSE;
	}
	/* TRANSLATORS: %s is a path */
	g_print(_("Removed %s\n"), path);
	return TRUE;
}

int
pds_extcap_uninstall_main(int argc, char **argv)
{
	gboolean capabilities = FALSE;
	const GOptionEntry entries[] = {
		{"capabilities", 0, 0, G_OPTION_ARG_NONE, &capabilities,
		 /* TRANSLATORS: help of uninstall-wireshark --capabilities */
		 N_("As root: also remove the capabilities from podscope and podscope-agent"),
		 NULL},
		{NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;
	PdsWiresharkVersion old = {4, 0};
	PdsWiresharkVersion current = {4, 2};
	g_autofree gchar *plugins =
		g_build_filename(g_get_home_dir(), ".local", "lib", "wireshark", "plugins", NULL);
	g_autoptr(GDir) dir = NULL;
	const char *ver;
	const PdsWiresharkVersion *versions[] = {&old, &current};

	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	g_option_context_set_summary(
		context,
		/* TRANSLATORS: summary of "podscope uninstall-wireshark --help" */
		_("Remove what “podscope install-wireshark” put in your personal Wireshark "
		  "folders."));
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		pds_cli_print_usage_error("uninstall-wireshark", error->message);
		return PDS_CLI_EXIT_USAGE;
	}

	/* Both extcap folders: the user may have upgraded Wireshark since. */
	for (guint i = 0; i < G_N_ELEMENTS(versions); i++) {
		g_autofree gchar *edir = personal_extcap_dir(versions[i]);
		g_autofree gchar *link = g_build_filename(edir, "podscope", NULL);
		if (!remove_ours(link, TRUE, &error)) {
			pds_cli_print_error("uninstall-wireshark", error->message);
			return PDS_CLI_EXIT_FAILURE;
		}
	}
	dir = g_dir_open(plugins, 0, NULL);
	while (dir != NULL && (ver = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *so = g_build_filename(plugins, ver, "epan", "podscope.so", NULL);
		if (!remove_ours(so, FALSE, &error)) {
			pds_cli_print_error("uninstall-wireshark", error->message);
			return PDS_CLI_EXIT_FAILURE;
		}
	}
	if (capabilities && !revoke_capabilities(&error)) {
		pds_cli_print_error("uninstall-wireshark", error->message);
		return PDS_CLI_EXIT_FAILURE;
	}
	return PDS_CLI_EXIT_OK;
}
