// SPDX-License-Identifier: GPL-2.0
/*
 * The longest section with interrupts off while a process with N present
 * CABA-descendants is released, and the cost of releasing a chain of K
 * creators above N descendants. Runs as root in a guest booted on a kernel
 * with the irqsoff tracer (scripts/build --trace), under -icount shift=0,
 * where a virtual nanosecond is one guest instruction (scripts/bench-irqsoff).
 *
 *   release_irqsoff release N...      one row per N
 *   release_irqsoff chain K N         K creators above N descendants
 *   release_irqsoff exit N            for comparison: the unpatched kernel's
 *                                     own walk, an exit reparenting N children
 *
 * release N: we are a subreaper; X (our child) makes N children with
 * CLONE_PARENT, so they are our children and X's CABA-descendants; they
 * exit at once and stay zombies (present). X exits with no child, so its
 * exit walks nothing. Then the tracer's maximum is reset, X is reaped
 * (release_task(X): the series hands the N zombies to us), and the
 * maximum is read back with the section's first and last functions.
 *
 * Output, one line per measurement:
 *   irqsoff <case> n=<N> k=<K> max_us=<tracer max> reap_ns=<time of the
 *           reap(s)> start=<symbol> end=<symbol>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TRACING "/sys/kernel/tracing/"
#define STACK_SIZE (64 * 1024)

static void die(const char *what)
{
	fprintf(stderr, "release_irqsoff: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		die(path);
	close(fd);
}

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		die(path);
	close(fd);
	return strtol(buf, NULL, 10);
}

/* The "=> started at:" and "=> ended at:" symbols of the irqsoff trace. */
static void section_ends(char *start, char *end, size_t len)
{
	char line[512];
	FILE *f = fopen(TRACING "trace", "r");

	snprintf(start, len, "?");
	snprintf(end, len, "?");
	if (!f)
		die(TRACING "trace");
	/* The header has "#  => started at: FUNC" and "#  => ended at:   FUNC". */
	while (fgets(line, sizeof(line), f)) {
		char *at = strstr(line, "=> started at:");

		if (at) {
			sscanf(at + strlen("=> started at:"), "%127s", start);
			continue;
		}
		at = strstr(line, "=> ended at:");
		if (at)
			sscanf(at + strlen("=> ended at:"), "%127s", end);
	}
	fclose(f);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void tracer_reset(void)
{
	write_file(TRACING "tracing_max_latency", "0");
}

static void report(const char *what, int n, int k, long long ns)
{
	char start[128], end[128];

	section_ends(start, end, sizeof(start));
	printf("irqsoff %s n=%d k=%d max_us=%ld reap_ns=%lld start=%s end=%s\n",
	       what, n, k, read_long(TRACING "tracing_max_latency"), ns, start, end);
	fflush(stdout);
}

static int child_exit(void *arg)
{
	(void)arg;
	_exit(0);
}

/*
 * n children that exit at once, each with @flags (CLONE_PARENT: they become
 * our parent's children). They share our memory (CLONE_VM) so that making
 * hundreds of thousands stays cheap; one stack serves them all, since each
 * only calls _exit().
 */
static void spawn_zombies(int n, int flags)
{
	static char *stack;
	int i;

	if (!stack && !(stack = malloc(STACK_SIZE)))
		die("malloc");
	for (i = 0; i < n; i++) {
		pid_t pid = clone(child_exit, stack + STACK_SIZE,
				  CLONE_VM | CLONE_VFORK | flags | SIGCHLD, NULL);

		if (pid < 0)
			die("clone");
	}
}

static void wait_zombie(pid_t pid)
{
	siginfo_t si;

	if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) < 0)
		die("waitid WNOWAIT");
}

static void reap(pid_t pid)
{
	if (waitpid(pid, NULL, 0) != pid)
		die("waitpid");
}

static void reap_all(void)
{
	while (waitpid(-1, NULL, 0) > 0)
		;
}

/* X makes n CLONE_PARENT zombies and exits; reap X alone. */
static void case_release(int n)
{
	long long t;
	pid_t x = fork();

	if (x < 0)
		die("fork");
	if (!x) {
		spawn_zombies(n, CLONE_PARENT);
		_exit(0);
	}
	wait_zombie(x);
	tracer_reset();
	t = now_ns();
	reap(x);
	t = now_ns() - t;
	report("release", n, 1, t);
	reap_all();
}

/*
 * C1 forks C2 ... forks Ck, each with CLONE_PARENT, so all are our
 * children; Ck makes n CLONE_PARENT zombies; all exit. Reaping Ck, then
 * Ck-1, ... hands the n zombies up the chain k times.
 */
static void case_chain(int k, int n)
{
	pid_t *chain = calloc(k, sizeof(*chain));
	int pipefd[2], i;
	long long t;
	pid_t pid;

	if (!chain || pipe(pipefd))
		die("setup");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		for (i = 0; ; i++) {
			pid_t me = getpid();

			if (write(pipefd[1], &me, sizeof(me)) != sizeof(me))
				die("write");
			if (i == k - 1) {
				spawn_zombies(n, CLONE_PARENT);
				_exit(0);
			}
			/* The next creator: our parent's child, our CABA-child. */
			pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
			if (pid < 0)
				die("clone CLONE_PARENT");
			if (pid)
				_exit(0);
		}
	}
	for (i = 0; i < k; i++)
		if (read(pipefd[0], &chain[i], sizeof(pid_t)) != sizeof(pid_t))
			die("read");
	/* Ck has exited: it made its zombies first (CLONE_VFORK). */
	for (i = 0; i < k; i++)
		wait_zombie(chain[i]);
	tracer_reset();
	t = now_ns();
	for (i = k - 1; i >= 0; i--)
		reap(chain[i]);
	t = now_ns() - t;
	report("chain", n, k, t);
	reap_all();
	free(chain);
}

/* The unpatched kernel's own walk: X's exit reparents its n zombies to us. */
static void case_exit(int n)
{
	int go[2], ready[2];
	long long t;
	char c;
	pid_t x;

	if (pipe(go) || pipe(ready))
		die("pipe");
	x = fork();
	if (x < 0)
		die("fork");
	if (!x) {
		spawn_zombies(n, 0);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			die("pipe");
		_exit(0);
	}
	if (read(ready[0], &c, 1) != 1)
		die("read");
	tracer_reset();
	t = now_ns();
	if (write(go[1], "x", 1) != 1)
		die("write");
	wait_zombie(x);
	t = now_ns() - t;
	report("exit", n, 1, t);
	reap_all();
	close(go[0]); close(go[1]); close(ready[0]); close(ready[1]);
}

int main(int argc, char **argv)
{
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s release N... | chain K N | exit N\n", argv[0]);
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		die("PR_SET_CHILD_SUBREAPER");
	write_file(TRACING "current_tracer", "irqsoff");
	write_file(TRACING "tracing_on", "1");
	if (!strcmp(argv[1], "release")) {
		for (i = 2; i < argc; i++)
			case_release(atoi(argv[i]));
	} else if (!strcmp(argv[1], "chain") && argc == 4) {
		case_chain(atoi(argv[2]), atoi(argv[3]));
	} else if (!strcmp(argv[1], "exit")) {
		for (i = 2; i < argc; i++)
			case_exit(atoi(argv[i]));
	} else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	write_file(TRACING "current_tracer", "nop");
	return 0;
}
