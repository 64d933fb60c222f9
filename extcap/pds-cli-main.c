/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podscope: dispatch to a subcommand. Each subcommand is one entry of the
 * table below; its function gets argv with argv[0] = "podscope <name>".
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsCli"

#include <glib/gi18n.h>
#include <signal.h>
#include <string.h>

#include "pds-cli.h"
#include "pds-cli-analyze.h"
#include "pds-cli-demo.h"
#include "pds-cli-kube.h"
#include "pds-cli-tap.h"
#include "pds-extcap.h"
#include "pds-extcap-install.h"

typedef struct {
	/*
	 * A subcommand name matched against argv[1], or an option prefix
	 * starting with "--" matched against every argument (a mode such as
	 * Wireshark's extcap calls, which has no subcommand word).
	 */
	const char *name;
	/* One line for "podscope --help"; NULL hides the entry. */
	const char *summary;
	int (*main)(int argc, char **argv);
} PdsCliCommand;

static const PdsCliCommand commands[] = {
	/* TRANSLATORS: summary of "podscope tap" in "podscope --help" */
	{"tap", N_("Capture Kubernetes pods (-n/-l) or local network namespaces into pcapng"),
	 pds_cli_kube_tap_dispatch},
	/* TRANSLATORS: summary of "podscope clean" in "podscope --help" */
	{"clean", N_("Remove Kubernetes sessions whose controller is gone"),
	 pds_cli_kube_clean_main},
	/* DESIGN.md's name for clean */
	{"cleanup", NULL, pds_cli_kube_clean_main},
	/* TRANSLATORS: summary of "podscope demo" in "podscope --help" */
	{"demo", N_("Two namespaces, real HTTP, a tap and what tshark sees of it"),
	 pds_cli_demo_main},
	/* TRANSLATORS: summary of "podscope analyze" in "podscope --help" */
	{"analyze", N_("Print the HTTP, TLS and TCP flow records of a capture file"),
	 pds_cli_analyze_main},
	/* TRANSLATORS: summary of "podscope install-wireshark" in "podscope --help" */
	{"install-wireshark", N_("Put the extcap and dissector in your personal Wireshark folders"),
	 pds_extcap_install_main},
	/* TRANSLATORS: summary of "podscope uninstall-wireshark" in "podscope --help" */
	{"uninstall-wireshark", N_("Remove what install-wireshark installed"),
	 pds_extcap_uninstall_main},
	/* Wireshark's extcap calls: --extcap-interfaces, --extcap-interface=…, --capture */
	{"--extcap", NULL, pds_extcap_main},
};

static void
print_help(void)
{
	int width = 0;

	/* TRANSLATORS: the first line of "podscope --help"; keep COMMAND and OPTION in capitals */
	g_print(_("Usage:\n  podscope COMMAND [OPTION…]\n\n"));
	g_print("%s\n\n", _("PodScope taps network namespaces and streams what it sees as pcapng "
			    "for Wireshark and tshark."));
	g_print("%s\n", _("Commands:"));
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (commands[i].summary != NULL)
			width = MAX(width, (int)strlen(commands[i].name));
	}
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (commands[i].summary == NULL)
			continue;
		g_print("  %-*s  %s\n", width, commands[i].name, _(commands[i].summary));
	}
	g_print("\n");
	/* TRANSLATORS: do not translate "podscope COMMAND --help" */
	g_print("%s\n", _("Run “podscope COMMAND --help” for the options of a command."));
}

static int
run_command(const PdsCliCommand *command, int argc, char **argv)
{
	g_autofree gchar *argv0 = g_strdup_printf("podscope %s", command->name);
	g_autofree char **sub_argv = g_new0(char *, argc + 1);

	/* argv[0] names the subcommand so GOptionContext's usage line says "podscope tap". */
	sub_argv[0] = argv0;
	for (int i = 2; i < argc; i++)
		sub_argv[i - 1] = argv[i];
	return command->main(argc - 1, sub_argv);
}

int
main(int argc, char **argv)
{
	pds_cli_init_i18n();
	/* Our stdout may be the pcapng stream: every log line goes to stderr. */
	g_log_writer_default_set_use_stderr(TRUE);
	/* A closed pipe (tshark quit) must be a write error we handle, not a silent death. */
	signal(SIGPIPE, SIG_IGN);

	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (!g_str_has_prefix(commands[i].name, "--"))
			continue;
		for (int a = 1; a < argc; a++) {
			if (g_str_has_prefix(argv[a], commands[i].name))
				return commands[i].main(argc, argv);
		}
	}

	if (argc < 2 || g_strcmp0(argv[1], "--help") == 0 || g_strcmp0(argv[1], "-h") == 0 ||
	    g_strcmp0(argv[1], "help") == 0) {
		print_help();
		return argc < 2 ? PDS_CLI_EXIT_USAGE : PDS_CLI_EXIT_OK;
	}
	if (g_strcmp0(argv[1], "--version") == 0) {
		g_print("podscope %s\n", PACKAGE_VERSION);
		return PDS_CLI_EXIT_OK;
	}
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(commands[i].name, argv[1]) == 0)
			return run_command(&commands[i], argc, argv);
	}

	{
		/* TRANSLATORS: %s is what the user typed as the command */
		g_autofree gchar *msg = g_strdup_printf(_("unknown command “%s”"), argv[1]);
		pds_cli_print_usage_error(NULL, msg);
	}
	return PDS_CLI_EXIT_USAGE;
}
