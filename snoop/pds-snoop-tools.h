/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Report tools: merge the reports of many replicas, diff two versions,
 * summarise by directory, and list the files of an image nobody touched.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* TRUE when @name is one of merge, diff, summary, unused. */
gboolean pds_snoop_tools_is_command(const char *name);
/* argv[0] is the command; returns the exit status. */
int pds_snoop_tools_main(int argc, char **argv);

JsonNode *pds_snoop_tools_load(const char *path, GError **error);
JsonNode *pds_snoop_tools_merge(GPtrArray *reports);
gchar *pds_snoop_tools_diff(JsonNode *a, JsonNode *b, const char *name_a, const char *name_b);
gchar *pds_snoop_tools_summary(JsonNode *report, guint depth);
/* Files under @root (a directory or a tar archive, optionally gzip) that no report touched. */
gchar *pds_snoop_tools_unused(const char *root, GPtrArray *reports, GError **error);

G_END_DECLS
