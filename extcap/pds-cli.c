/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsCli"

#include <glib/gi18n.h>
#include <gio/gio.h>
#include <locale.h>
#include <unistd.h>

#include "pds-cli.h"

gboolean
pds_cli_running_from_build_tree(void)
{
	g_autofree gchar *exe = g_file_read_link("/proc/self/exe", NULL);
	if (exe == NULL)
		return FALSE;
	return g_str_has_prefix(exe, PDS_BUILD_ROOT "/");
}

void
pds_cli_init_i18n(void)
{
	const char *localedir = g_getenv("PODSCOPE_LOCALEDIR");
	g_autofree gchar *build_po = NULL;

	const char *language = g_getenv("LANGUAGE");
	const char *messages;

	setlocale(LC_ALL, "");
	/*
	 * glibc ignores LANGUAGE while the messages locale is "C"/"POSIX" (LANG
	 * unset or LANG=C). Someone who sets LANGUAGE=de wants German, so move
	 * messages and the character set to C.UTF-8, where LANGUAGE applies.
	 */
	messages = setlocale(LC_MESSAGES, NULL);
	if (language != NULL && language[0] != '\0' &&
	    (g_strcmp0(messages, "C") == 0 || g_strcmp0(messages, "POSIX") == 0) &&
	    setlocale(LC_MESSAGES, "C.UTF-8") != NULL)
		setlocale(LC_CTYPE, "C.UTF-8");
	if (localedir == NULL || localedir[0] == '\0') {
		/* Uninstalled: meson builds po/<lang>/LC_MESSAGES/podscope.mo there. */
		if (pds_cli_running_from_build_tree()) {
			build_po = g_build_filename(PDS_BUILD_ROOT, "po", NULL);
			localedir = build_po;
		} else {
			localedir = LOCALEDIR;
		}
	}
	bindtextdomain(GETTEXT_PACKAGE, localedir);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
}

gchar *
pds_cli_find_program(const char *name,
		     const char *env_var,
		     const char *build_subdir,
		     GError **error)
{
	const char *env = env_var != NULL ? g_getenv(env_var) : NULL;
	g_autofree gchar *path = NULL;

	g_return_val_if_fail(name != NULL, NULL);

	if (env != NULL && env[0] != '\0') {
		if (!g_file_test(env, G_FILE_TEST_IS_EXECUTABLE)) {
			g_set_error(
				error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				/* TRANSLATORS: %s are an environment variable and a path */
				_("%s points to “%s”, which is not an executable program; fix or "
				  "unset it"),
				env_var, env);
			return NULL;
		}
		return g_strdup(env);
	}
	if (build_subdir != NULL && pds_cli_running_from_build_tree()) {
		path = g_build_filename(PDS_BUILD_ROOT, build_subdir, name, NULL);
		if (g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
			return g_steal_pointer(&path);
		g_set_error(
			error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			/* TRANSLATORS: %s are a path, a program name and an environment variable */
			_("%s was not found in the build tree (build it: meson compile %s), or set "
			  "%s"),
			path, name, env_var != NULL ? env_var : "PATH");
		return NULL;
	}
	path = g_build_filename(PDS_BINDIR, name, NULL);
	if (g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
		return g_steal_pointer(&path);
	g_clear_pointer(&path, g_free);
	path = g_find_program_in_path(name);
	if (path != NULL)
		return g_steal_pointer(&path);
	g_set_error(
		error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		/* TRANSLATORS: %s are a program name, a directory and an environment variable */
		_("%s was found neither in %s nor in PATH; install it or set %s"), name, PDS_BINDIR,
		env_var != NULL ? env_var : "PATH");
	return NULL;
}

void
pds_cli_print_error(const char *command, const char *message)
{
	if (command != NULL)
		g_printerr("podscope %s: %s\n", command, message);
	else
		g_printerr("podscope: %s\n", message);
}

void
pds_cli_print_usage_error(const char *command, const char *message)
{
	g_autofree gchar *help = command != NULL ? g_strdup_printf("podscope %s --help", command)
						 : g_strdup("podscope --help");

	pds_cli_print_error(command, message);
	/* TRANSLATORS: %s is a command line such as "podscope tap --help" */
	g_printerr(_("Try “%s” for more information.\n"), help);
}
