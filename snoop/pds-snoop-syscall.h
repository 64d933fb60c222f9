/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names of the traced syscalls, as reports, metrics and records spell them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "openat", "execve", "io_uring_openat", ...; NULL for an unknown number. */
const char *pds_snoop_syscall_to_string(guint32 syscall);
/* The number for a name, or 0. */
guint32 pds_snoop_syscall_from_string(const char *name);
/* One past the largest syscall number. */
guint32 pds_snoop_syscall_max(void);

G_END_DECLS
