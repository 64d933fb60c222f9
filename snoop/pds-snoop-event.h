/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the kernel side of podscope-snoop hands to the user side. Shared by
 * pds-snoop.bpf.c and the C code, so it holds only fixed-width types and no
 * pointers: the same bytes mean the same thing on both sides.
 */
#pragma once

/* Longest path the kernel side copies; longer ones are cut and flagged. */
#define PDS_SNOOP_PATH_MAX 4096
/* What is copied of an exec's name before the exec, as a fallback when the exit read faults. */
#define PDS_SNOOP_ENTRY_PATH_MAX 256
#define PDS_SNOOP_COMM_LEN	 16

/* Syscalls, normalised across the 64-bit and the 32-bit (compat) tables. */
enum pds_snoop_syscall {
	PDS_SNOOP_SC_OPEN = 1,
	PDS_SNOOP_SC_OPENAT = 2,
	PDS_SNOOP_SC_OPENAT2 = 3,
	PDS_SNOOP_SC_CREAT = 4,
	PDS_SNOOP_SC_EXECVE = 5,
	PDS_SNOOP_SC_EXECVEAT = 6,
	PDS_SNOOP_SC_STAT = 7,
	PDS_SNOOP_SC_LSTAT = 8,
	PDS_SNOOP_SC_NEWFSTATAT = 9,
	PDS_SNOOP_SC_STATX = 10,
	PDS_SNOOP_SC_ACCESS = 11,
	PDS_SNOOP_SC_FACCESSAT = 12,
	PDS_SNOOP_SC_FACCESSAT2 = 13,
	PDS_SNOOP_SC_READLINK = 14,
	PDS_SNOOP_SC_READLINKAT = 15,
	PDS_SNOOP_SC_STAT64 = 16,    /* compat only */
	PDS_SNOOP_SC_LSTAT64 = 17,   /* compat only */
	PDS_SNOOP_SC_FSTATAT64 = 18, /* compat only */
	PDS_SNOOP_SC_OLDSTAT = 19,   /* compat only */
	PDS_SNOOP_SC_OLDLSTAT = 20,  /* compat only */
	PDS_SNOOP_SC_IO_URING_OPENAT = 21,
	PDS_SNOOP_SC_IO_URING_OPENAT2 = 22,
	PDS_SNOOP_SC_EXEC_INTERP = 23, /* #! interpreter, loaded by exec */
	PDS_SNOOP_SC_EXEC_LOADER = 24, /* ELF PT_INTERP, loaded by exec */
	PDS_SNOOP_SC_MAX = 25,
};

/* Event status bits; the first four are PdsFilePathStatus of lib/pds-record.h. */
enum pds_snoop_status {
	PDS_SNOOP_ST_TRUNCATED = 1 << 0,
	PDS_SNOOP_ST_UNRESOLVED = 1 << 1,
	PDS_SNOOP_ST_FROM_ENTRY = 1 << 2,
	PDS_SNOOP_ST_INTERP = 1 << 3,
	PDS_SNOOP_ST_COMPAT = 1 << 8,	       /* made through the 32-bit ABI */
	PDS_SNOOP_ST_HAS_RESULT = 1 << 9,      /* result is the syscall's return value */
	PDS_SNOOP_ST_BASE_TRUNCATED = 1 << 10, /* cwd/dirfd path cut */
	PDS_SNOOP_ST_RESOLVED_TRUNCATED = 1 << 11,
	PDS_SNOOP_ST_HAS_BASE = 1 << 12,     /* base holds the cwd or dirfd directory */
	PDS_SNOOP_ST_HAS_RESOLVED = 1 << 13, /* resolved holds the kernel path of the fd */
};

/* Per-CPU counters (the "stats" array). */
enum pds_snoop_counter {
	PDS_SNOOP_CNT_EMITTED = 0,
	PDS_SNOOP_CNT_LOST = 1,	       /* ring buffer full */
	PDS_SNOOP_CNT_DEDUP_HITS = 2,  /* repeated accesses absorbed in the kernel */
	PDS_SNOOP_CNT_PATH_FAULTS = 3, /* path unreadable at exit and at entry */
	PDS_SNOOP_CNT_MAX = 4,
};

/*
 * One file access. Variable size: after the fixed part come path_len bytes of
 * the requested path, base_len bytes of the directory it is relative to and
 * resolved_len bytes of the kernel path of the returned fd, each ending in NUL
 * (lengths count the NUL; 0 when absent).
 */
struct pds_snoop_event {
	__u64 ts_boot_ns; /* CLOCK_BOOTTIME */
	__u64 cgroup_id;
	__u64 container_cgroup_id; /* the ancestor one level below the pod cgroup */
	__s64 result;
	__u32 pid;
	__u32 tgid;
	__u32 syscall; /* enum pds_snoop_syscall */
	__u32 status;  /* enum pds_snoop_status bits */
	__u32 flags;
	__u32 mode;
	__s32 dirfd;
	__u16 path_len;
	__u16 base_len;
	__u16 resolved_len;
	__u16 reserved;
	char comm[PDS_SNOOP_COMM_LEN];
	__u32 reserved2;
	char data[];
};

#define PDS_SNOOP_EVENT_DATA_MAX (3 * PDS_SNOOP_PATH_MAX)
