/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib.h>

#include "pds-snoop-path.h"

static void
test_normalize(void)
{
	const struct {
		const char *base;
		const char *path;
		const char *want;
	} cases[] = {
		{NULL, "/etc/hostname", "/etc/hostname"},
		{NULL, "//etc///hostname/", "/etc/hostname"},
		{NULL, "/etc/./hostname", "/etc/hostname"},
		{NULL, "/lib/../etc/hostname", "/etc/hostname"},
		{NULL, "/../../etc", "/etc"},
		{NULL, "/", "/"},
		{NULL, "/..", "/"},
		{"/etc", "hostname", "/etc/hostname"},
		{"/etc", "./hostname", "/etc/hostname"},
		{"/usr/lib", "../../etc/hostname", "/etc/hostname"},
		{"/", "etc", "/etc"},
		{"/a/b", "..", "/a"},
		{"/a/b", "", "/a/b"},
		{"/a/b", "/abs", "/abs"},
		{NULL, "relative", NULL},
		{"not-absolute", "x", NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *got = pds_snoop_path_normalize(cases[i].base, cases[i].path);

		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

static void
test_prefix(void)
{
	const char *excl[] = {"/proc", "/sys/", "/dev", NULL};

	g_assert_true(pds_snoop_path_has_prefix("/proc", "/proc"));
	g_assert_true(pds_snoop_path_has_prefix("/proc/self/status", "/proc"));
	g_assert_false(pds_snoop_path_has_prefix("/processes", "/proc"));
	g_assert_true(pds_snoop_path_has_prefix("/anything", "/"));
	g_assert_true(pds_snoop_path_is_excluded("/sys/kernel", excl));
	g_assert_true(pds_snoop_path_is_excluded("/dev/null", excl));
	g_assert_false(pds_snoop_path_is_excluded("/device", excl));
	g_assert_false(pds_snoop_path_is_excluded("/etc/passwd", excl));
	g_assert_false(pds_snoop_path_is_excluded("/etc/passwd", NULL));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/snoop/path/normalize", test_normalize);
	g_test_add_func("/snoop/path/prefix", test_prefix);
	return g_test_run();
}
