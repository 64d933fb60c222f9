/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsSnoop"

#include <linux/types.h>

#include "pds-snoop-event.h"
#include "pds-snoop-syscall.h"

static const char *const pds_snoop_syscall_names[PDS_SNOOP_SC_MAX] = {
	[PDS_SNOOP_SC_OPEN] = "open",
	[PDS_SNOOP_SC_OPENAT] = "openat",
	[PDS_SNOOP_SC_OPENAT2] = "openat2",
	[PDS_SNOOP_SC_CREAT] = "creat",
	[PDS_SNOOP_SC_EXECVE] = "execve",
	[PDS_SNOOP_SC_EXECVEAT] = "execveat",
	[PDS_SNOOP_SC_STAT] = "stat",
	[PDS_SNOOP_SC_LSTAT] = "lstat",
	[PDS_SNOOP_SC_NEWFSTATAT] = "newfstatat",
	[PDS_SNOOP_SC_STATX] = "statx",
	[PDS_SNOOP_SC_ACCESS] = "access",
	[PDS_SNOOP_SC_FACCESSAT] = "faccessat",
	[PDS_SNOOP_SC_FACCESSAT2] = "faccessat2",
	[PDS_SNOOP_SC_READLINK] = "readlink",
	[PDS_SNOOP_SC_READLINKAT] = "readlinkat",
	[PDS_SNOOP_SC_STAT64] = "stat64",
	[PDS_SNOOP_SC_LSTAT64] = "lstat64",
	[PDS_SNOOP_SC_FSTATAT64] = "fstatat64",
	[PDS_SNOOP_SC_OLDSTAT] = "oldstat",
	[PDS_SNOOP_SC_OLDLSTAT] = "oldlstat",
	[PDS_SNOOP_SC_IO_URING_OPENAT] = "io_uring_openat",
	[PDS_SNOOP_SC_IO_URING_OPENAT2] = "io_uring_openat2",
	[PDS_SNOOP_SC_EXEC_INTERP] = "exec_interp",
	[PDS_SNOOP_SC_EXEC_LOADER] = "exec_loader",
};

const char *
pds_snoop_syscall_to_string(guint32 syscall)
{
	if (syscall >= PDS_SNOOP_SC_MAX)
		return NULL;
	return pds_snoop_syscall_names[syscall];
}

guint32
pds_snoop_syscall_from_string(const char *name)
{
	for (guint32 i = 1; i < PDS_SNOOP_SC_MAX; i++) {
		if (g_strcmp0(pds_snoop_syscall_names[i], name) == 0)
			return i;
	}
	return 0;
}

guint32
pds_snoop_syscall_max(void)
{
	return PDS_SNOOP_SC_MAX;
}
