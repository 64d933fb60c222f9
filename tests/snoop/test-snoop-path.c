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

/* The in-place form the event loop uses: exact lengths, and no overflow of a short buffer. */
static void
test_normalize_to(void)
{
	char out[16];
	char big[64];

	g_assert_cmpint(pds_snoop_path_normalize_to(NULL, "/a//b/./c/../d", out, sizeof(out)), ==,
			6);
	g_assert_cmpstr(out, ==, "/a/b/d");
	g_assert_cmpint(pds_snoop_path_normalize_to("/x/y", "../z", out, sizeof(out)), ==, 4);
	g_assert_cmpstr(out, ==, "/x/z");
	g_assert_cmpint(pds_snoop_path_normalize_to(NULL, "/..", out, sizeof(out)), ==, 1);
	g_assert_cmpstr(out, ==, "/");
	/* 15 bytes and the NUL fill the buffer; one more byte does not fit. */
	g_assert_cmpint(pds_snoop_path_normalize_to(NULL, "/abcdefghijklmn", out, sizeof(out)), ==,
			15);
	g_assert_cmpstr(out, ==, "/abcdefghijklmn");
	g_assert_cmpint(pds_snoop_path_normalize_to(NULL, "/abcdefghijklmno", out, sizeof(out)), ==,
			-1);
	/* What ".." takes back frees room again. */
	g_assert_cmpint(pds_snoop_path_normalize_to("/abcdefghij", "../k", out, sizeof(out)), ==,
			2);
	g_assert_cmpstr(out, ==, "/k");
	g_assert_cmpint(pds_snoop_path_normalize_to(NULL, "rel", big, sizeof(big)), ==, -1);
	g_assert_cmpint(pds_snoop_path_normalize_to("rel", "x", big, sizeof(big)), ==, -1);
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
	g_test_add_func("/snoop/path/normalize-to", test_normalize_to);
	g_test_add_func("/snoop/path/prefix", test_prefix);
	return g_test_run();
}
