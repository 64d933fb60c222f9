/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every podscope subcommand shares: gettext set-up, exit codes, where
 * the program runs from (build tree or installed), and user-facing output.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Exit codes of every subcommand. */
enum {
	PDS_CLI_EXIT_OK = 0,
	PDS_CLI_EXIT_FAILURE = 1, /* the command ran and failed */
	PDS_CLI_EXIT_USAGE = 2,	  /* bad options or arguments */
};

/*
 * setlocale(), bindtextdomain() and textdomain(). Catalogues come from
 * $PODSCOPE_LOCALEDIR, else the build tree's po/ when the program runs from
 * the build tree, else LOCALEDIR.
 */
void pds_cli_init_i18n(void);
/* TRUE when /proc/self/exe lies inside PDS_BUILD_ROOT. */
gboolean pds_cli_running_from_build_tree(void);
/*
 * Where a sibling program lives: $@env_var, else PDS_BUILD_ROOT/@build_subdir/@name
 * when running from the build tree, else PDS_BINDIR/@name, else $PATH.
 */
gchar *pds_cli_find_program(const char *name,
			    const char *env_var,
			    const char *build_subdir,
			    GError **error);

/* "podscope tap: <message>" on stderr, and for usage errors a hint to --help. */
void pds_cli_print_error(const char *command, const char *message);
void pds_cli_print_usage_error(const char *command, const char *message);

G_END_DECLS
