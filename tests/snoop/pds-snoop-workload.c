/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The workload of the snoop integration tests: touches files through every
 * syscall snoop traces, each under a file name that says how it was reached,
 * so the test can check the report path by path.
 *
 *   pds-snoop-workload all DIR    every access kind below DIR (prepared by the test)
 *   pds-snoop-workload many DIR N stat() N distinct missing paths below DIR
 *   pds-snoop-workload opens PATH N  open and close PATH N times
 *
 * Built without PIE so its static buffers sit below 4 GiB, where a 32-bit
 * int $0x80 syscall can address them.
 */
#include "config.h"

/* struct statx */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char compat_path[8192];

static void
pds_fail(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
pds_close(long fd)
{
	if (fd >= 0)
		close((int)fd);
}

/* open(2) through the 32-bit ABI; ia32 open is syscall 5, arguments in ebx, ecx, edx. */
static long
pds_compat_open(const char *path)
{
	long ret;

	snprintf(compat_path, sizeof(compat_path), "%s", path);
	if ((uintptr_t)compat_path > 0xffffffffu) {
		errno = EFAULT;
		return -1;
	}
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(5L), "b"((long)(uintptr_t)compat_path), "c"((long)O_RDONLY), "d"(0L)
			 : "memory");
	if (ret >= 0)
		close((int)ret);
	return ret;
}

/* IORING_OP_OPENAT with raw syscalls: no liburing needed. */
static int
pds_uring_open(const char *path)
{
	struct io_uring_params p;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	unsigned *sq_tail, *sq_array, *sq_mask, *cq_head, *cq_tail, *cq_mask;
	size_t sq_len, cq_len;
	void *sq, *cq;
	int ring, res;
	unsigned idx;

	memset(&p, 0, sizeof(p));
	ring = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (ring < 0)
		return -errno;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
		  IORING_OFF_SQ_RING);
	cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
		  IORING_OFF_CQ_RING);
	sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		pds_fail("io_uring mmap");
	sq_tail = (unsigned *)((char *)sq + p.sq_off.tail);
	sq_mask = (unsigned *)((char *)sq + p.sq_off.ring_mask);
	sq_array = (unsigned *)((char *)sq + p.sq_off.array);
	cq_head = (unsigned *)((char *)cq + p.cq_off.head);
	cq_tail = (unsigned *)((char *)cq + p.cq_off.tail);
	cq_mask = (unsigned *)((char *)cq + p.cq_off.ring_mask);
	cqes = (struct io_uring_cqe *)((char *)cq + p.cq_off.cqes);

	idx = *sq_tail & *sq_mask;
	memset(&sqes[idx], 0, sizeof(sqes[idx]));
	sqes[idx].opcode = IORING_OP_OPENAT;
	sqes[idx].fd = AT_FDCWD;
	sqes[idx].addr = (uintptr_t)path;
	sqes[idx].open_flags = O_RDONLY;
	sq_array[idx] = idx;
	__atomic_store_n(sq_tail, *sq_tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		pds_fail("io_uring_enter");
	if (__atomic_load_n(cq_tail, __ATOMIC_ACQUIRE) == *cq_head)
		pds_fail("io_uring: no completion");
	res = cqes[*cq_head & *cq_mask].res;
	__atomic_store_n(cq_head, *cq_head + 1, __ATOMIC_RELEASE);
	pds_close(res);
	close(ring);
	return res;
}

static void
pds_run_child(const char *path, int dirfd, int use_execveat)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		pds_fail("fork");
	if (pid == 0) {
		char *argv[] = {(char *)path, NULL};
		char *envp[] = {NULL};

		if (use_execveat)
			syscall(__NR_execveat, dirfd, path, argv, envp, 0);
		else
			execve(path, argv, envp);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		pds_fail("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "workload: %s exited with %d\n", path, status);
		exit(1);
	}
}

static int
pds_all(const char *dir)
{
	char path[8192], buf[256];
	struct open_how how;
	struct statx stx;
	struct stat st;
	int dfd;
	pid_t pid;
	int status;

	if (chdir(dir) != 0)
		pds_fail("chdir");
	dfd = open("sub", O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		pds_fail("open sub");

	snprintf(path, sizeof(path), "%s/open.txt", dir);
	pds_close(syscall(__NR_open, path, O_RDONLY, 0));
	pds_close(syscall(__NR_openat, AT_FDCWD, "rel.txt", O_RDONLY, 0));
	pds_close(syscall(__NR_openat, dfd, "dirfd.txt", O_RDONLY, 0));
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY;
	snprintf(path, sizeof(path), "%s/openat2.txt", dir);
	pds_close(syscall(__NR_openat2, AT_FDCWD, path, &how, sizeof(how)));
	snprintf(path, sizeof(path), "%s/created.txt", dir);
	pds_close(syscall(__NR_creat, path, 0644));
	snprintf(path, sizeof(path), "%s/stat.txt", dir);
	syscall(__NR_stat, path, &st);
	snprintf(path, sizeof(path), "%s/lstat-link", dir);
	syscall(__NR_lstat, path, &st);
	syscall(__NR_newfstatat, dfd, "newfstatat.txt", &st, 0);
	syscall(__NR_statx, AT_FDCWD, "statx.txt", 0, STATX_BASIC_STATS, &stx);
	snprintf(path, sizeof(path), "%s/access.txt", dir);
	syscall(__NR_access, path, R_OK);
	syscall(__NR_faccessat, dfd, "faccessat.txt", R_OK);
	syscall(__NR_faccessat2, dfd, "faccessat2.txt", R_OK, AT_EACCESS);
	snprintf(path, sizeof(path), "%s/readlink-link", dir);
	syscall(__NR_readlink, path, buf, sizeof(buf));
	syscall(__NR_readlinkat, dfd, "readlinkat-link", buf, sizeof(buf));
	pds_close(syscall(__NR_openat, AT_FDCWD, "sub/../dotdot.txt", O_RDONLY, 0));
	snprintf(path, sizeof(path), "%s/symlink", dir);
	pds_close(syscall(__NR_openat, AT_FDCWD, path, O_RDONLY, 0));
	snprintf(path, sizeof(path), "%s/missing.txt", dir);
	pds_close(syscall(__NR_openat, AT_FDCWD, path, O_RDONLY, 0));
	snprintf(path, sizeof(path), "%s/compat.txt", dir);
	if (pds_compat_open(path) < 0)
		pds_fail("int $0x80 open");
	snprintf(path, sizeof(path), "%s/uring.txt", dir);
	if (pds_uring_open(path) < 0)
		fprintf(stderr, "workload: io_uring open failed\n");
	/* A failed io_uring open: reported with its error, not as a success. */
	snprintf(path, sizeof(path), "%s/uring-missing.txt", dir);
	if (pds_uring_open(path) != -ENOENT)
		fprintf(stderr, "workload: io_uring open of a missing file did not fail\n");
	/* A path longer than 256 bytes (the test made the directories). */
	snprintf(path, sizeof(path), "%s/long/%0100d/%0100d/%0100d/long.txt", dir, 1, 2, 3);
	pds_close(syscall(__NR_openat, AT_FDCWD, path, O_RDONLY, 0));

	/* #! script: the kernel loads its interpreter without an open syscall. */
	snprintf(path, sizeof(path), "%s/script.sh", dir);
	pds_run_child(path, -1, 0);
	pds_run_child("true-copy", dfd, 1);

	/* Gone at once after chdir + open: /proc/PID/cwd is of no use here. */
	pid = fork();
	if (pid == 0) {
		if (chdir("sub") != 0)
			_exit(1);
		syscall(__NR_openat, AT_FDCWD, "quick.txt", O_RDONLY, 0);
		_exit(0);
	}
	waitpid(pid, &status, 0);

	/* Excluded prefixes. */
	pds_close(syscall(__NR_openat, AT_FDCWD, "/proc/self/status", O_RDONLY, 0));
	pds_close(syscall(__NR_openat, AT_FDCWD, "/dev/null", O_RDONLY, 0));
	close(dfd);
	return 0;
}

static int
pds_many(const char *dir, long n)
{
	char path[4096];
	struct stat st;

	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/m%ld", dir, i);
		stat(path, &st);
	}
	return 0;
}

static int
pds_opens(const char *path, long n)
{
	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);

		if (fd < 0)
			pds_fail(path);
		close(fd);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "all") == 0)
		return pds_all(argv[2]);
	if (argc == 4 && strcmp(argv[1], "many") == 0)
		return pds_many(argv[2], strtol(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "opens") == 0)
		return pds_opens(argv[2], strtol(argv[3], NULL, 10));
	fprintf(stderr, "usage: %s all DIR | many DIR N | opens PATH N\n", argv[0]);
	return 2;
}
