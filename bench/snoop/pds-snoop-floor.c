/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loads and attaches the empty programs of pds-snoop-floor.bpf.o, prints
 * "ready" and holds them until SIGTERM.
 *
 *   pds-snoop-floor OBJECT exit|enter   sys_exit only, or sys_enter and sys_exit
 */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t pds_stop;

static void
pds_on_signal(int sig)
{
	pds_stop = 1;
}

int
main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	int enter;

	if (argc != 3 || (strcmp(argv[2], "exit") != 0 && strcmp(argv[2], "enter") != 0)) {
		fprintf(stderr, "usage: %s OBJECT exit|enter\n", argv[0]);
		return 2;
	}
	enter = strcmp(argv[2], "enter") == 0;
	obj = bpf_object__open_file(argv[1], NULL);
	if (obj == NULL) {
		perror(argv[1]);
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "pds_floor_sys_enter");
	if (prog != NULL && !enter)
		bpf_program__set_autoload(prog, 0);
	if (bpf_object__load(obj) != 0) {
		fprintf(stderr, "%s: cannot load the programs\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(prog, obj)
	{
		if (bpf_program__autoload(prog) && bpf_program__attach(prog) == NULL) {
			fprintf(stderr, "%s: cannot attach %s\n", argv[1], bpf_program__name(prog));
			return 1;
		}
	}
	signal(SIGTERM, pds_on_signal);
	signal(SIGINT, pds_on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!pds_stop)
		pause();
	bpf_object__close(obj);
	return 0;
}
