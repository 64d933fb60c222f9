/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lexical path normalisation for file-access reports: "." and ".." and
 * repeated slashes go, relative paths are joined to their base directory.
 * Symbolic links are not followed: the kernel-resolved path of an opened fd
 * is recorded separately, so both views survive.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The absolute, normalised form of @path. A relative @path is taken relative
 * to @base (an absolute directory); with no @base it cannot be resolved and
 * NULL is returned.
 */
gchar *pds_snoop_path_normalize(const char *base, const char *path);
/*
 * The same into @out of @size bytes (at least 2); returns the length, or -1
 * when @path cannot be resolved or its normalised form does not fit.
 */
gssize pds_snoop_path_normalize_to(const char *base, const char *path, char *out, gsize size);
/* TRUE when @path is @prefix or lies below it (component-wise). */
gboolean pds_snoop_path_has_prefix(const char *path, const char *prefix);
/* TRUE when @path lies under any of @prefixes (NULL-terminated, may be NULL). */
gboolean pds_snoop_path_is_excluded(const char *path, const char *const *prefixes);

G_END_DECLS
