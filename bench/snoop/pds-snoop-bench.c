/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Load generator of the snoop benchmark.
 *
 *   pds-snoop-bench latency PATH N     open+close PATH N times; prints the p50,
 *                                      p99 and mean nanoseconds of each openat
 *   pds-snoop-bench distinct DIR N     openat N distinct (missing) paths below DIR
 *                                      as fast as possible; prints opens/s
 *   pds-snoop-bench paced DIR RATE SECS  RATE distinct opens per second for SECS
 *   pds-snoop-bench nop N              N getppid() calls, a syscall snoop does not
 *                                      trace; prints the mean nanoseconds of one
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long
pds_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
pds_cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static int
pds_latency(const char *path, long n)
{
	long long *t = malloc(sizeof(long long) * n);
	long long sum = 0;

	if (t == NULL)
		return 1;
	for (long i = 0; i < n; i++) {
		long long t0 = pds_now_ns();
		int fd = openat(AT_FDCWD, path, O_RDONLY);
		long long t1 = pds_now_ns();

		if (fd < 0) {
			perror(path);
			return 1;
		}
		close(fd);
		t[i] = t1 - t0;
		sum += t[i];
	}
	qsort(t, n, sizeof(long long), pds_cmp);
	printf("{\"p50_ns\":%lld,\"p99_ns\":%lld,\"mean_ns\":%.1f}\n", t[n / 2], t[n * 99 / 100],
	       (double)sum / n);
	free(t);
	return 0;
}

static int
pds_distinct(const char *dir, long n)
{
	char path[4096];
	long long t0 = pds_now_ns(), t1;

	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/d%ld", dir, i);
		openat(AT_FDCWD, path, O_RDONLY);
	}
	t1 = pds_now_ns();
	printf("{\"opens\":%ld,\"seconds\":%.3f,\"per_second\":%.0f}\n", n, (t1 - t0) / 1e9,
	       n / ((t1 - t0) / 1e9));
	return 0;
}

static int
pds_paced(const char *dir, long rate, long secs)
{
	char path[4096];
	struct timespec gap = {0, 1000000000L / rate};

	for (long i = 0; i < rate * secs; i++) {
		snprintf(path, sizeof(path), "%s/p%ld", dir, i);
		openat(AT_FDCWD, path, O_RDONLY);
		nanosleep(&gap, NULL);
	}
	return 0;
}

/* What every other syscall of the machine pays while the probes are attached. */
static int
pds_nop(long n)
{
	long long t0 = pds_now_ns(), t1;

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	t1 = pds_now_ns();
	printf("{\"mean_ns\":%.1f}\n", (double)(t1 - t0) / n);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "latency") == 0)
		return pds_latency(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "distinct") == 0)
		return pds_distinct(argv[2], atol(argv[3]));
	if (argc == 5 && strcmp(argv[1], "paced") == 0)
		return pds_paced(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 3 && strcmp(argv[1], "nop") == 0)
		return pds_nop(atol(argv[2]));
	fprintf(stderr, "usage: %s latency PATH N | distinct DIR N | paced DIR RATE SECS | nop N\n",
		argv[0]);
	return 2;
}
