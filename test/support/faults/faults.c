// kharness fault suite: one static multi-call program, run in the guest with --program; what it does
// is chosen by the name it runs under (argv[0]'s basename), so one compile gives every fault.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_file(const char *path, const char *text) {
	int fd = open(path, O_WRONLY);
	if (fd < 0) {
		printf("# cannot open %s: %s\n", path, strerror(errno));
		fflush(stdout);
		return;
	}
	if (write(fd, text, strlen(text)) < 0)
		printf("# write %s to %s: %s\n", text, path, strerror(errno));
	close(fd);
	fflush(stdout);
}

/* KTAP first, then a real panic (sysrq 'c' dereferences NULL in the kernel): the host must make the
 * running test CRASH with the panic attached, and tests never started CRASH "not run". */
static int fault_panic(void) {
	printf("KTAP version 1\n1..3\nok 1 before_the_panic\n# panicking now\n");
	fflush(stdout);
	sleep(1); /* let init forward the lines above before the kernel dies */
	sync();
	write_file("/proc/sysrq-trigger", "c");
	printf("not ok 2 still_alive_after_sysrq\n");
	return 1;
}

/* Hangs with a child in its process group: the per-test timeout must kill both. */
static int fault_hang(void) {
	printf("# hanging, with a child in my process group\n");
	fflush(stdout);
	if (fork() == 0)
		for (;;)
			pause();
	for (;;)
		pause();
	return 0; /* not reached */
}

/* Reports whether any process of the hang fault is still alive (after its timeout kill). */
static int fault_check_hang_gone(void) {
	DIR *d = opendir("/proc");
	int left = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300], comm[64] = "", state = 0;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%*d (%63[^)]) %c", comm, &state) == 2 && strcmp(comm, "fault_hang") == 0 && state != 'Z') {
			printf("# still alive: pid %s (%s) state %c\n", e->d_name, comm, state);
			left++;
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return left ? 1 : 0;
}

static int fault_segv(void) {
	printf("# about to dereference NULL\n");
	fflush(stdout);
	volatile int *p = NULL;
	return *p;
}

static int fault_abort(void) {
	printf("# about to abort\n");
	fflush(stdout);
	abort();
}

/* Prints without end: mb megabytes of lines, then a last line and exit 1. */
static int fault_spew(long mb) {
	static char buf[1 << 16];
	const char *line = "spew spew spew spew spew spew spew spew spew spew spew spew spew spew spew\n";
	size_t ll = strlen(line), n = 0;
	while (n + ll <= sizeof(buf)) {
		memcpy(buf + n, line, ll);
		n += ll;
	}
	long long total = mb * 1024LL * 1024LL;
	for (long long done = 0; done < total; done += (long long)n) {
		if (write(1, buf, n) < 0)
			return 2;
	}
	printf("\nspew finished\n");
	return 1;
}

/* KTAP whose test names try path traversal, XML breaking, control characters and sheer length. */
static int fault_hostile(void) {
	char longname[5001];
	memset(longname, 'L', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	printf("KTAP version 1\n1..7\n");
	printf("ok 1 ../../../../tmp/kharness-escape\n");
	printf("ok 2 /etc/passwd\n");
	printf("not ok 3 a/b/../../c\n");
	printf("ok 4 <testcase name=\"x\"/>]]>&amp;&\n");
	printf("ok 5 ctl\x01\x07\x1b[31mred\x1b[0m\x7f\n");
	printf("ok 6 %s\n", longname);
	printf("ok 7 dots..and.dots\n");
	return 1;
}

static void mount_debugfs(void) {
	mkdir("/sys/kernel/debug", 0755);
	if (mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL) < 0 && errno != EBUSY)
		printf("# mount debugfs: %s\n", strerror(errno));
}

/* Silences the guest: RT throttling off, then a SCHED_FIFO 99 spin on the single vCPU, so init
 * (and with it the heartbeat) never runs again. Only the idle watchdog can end this run. Since 6.12
 * the fair deadline server still gives normal tasks 50 ms a second under an RT hog; its runtime is set
 * to 0 through debugfs too (absent on older kernels, where RT throttling was the only guard). */
static int fault_silent(void) {
	printf("# disabling RT throttling and the fair server, then spinning at SCHED_FIFO 99\n");
	fflush(stdout);
	write_file("/proc/sys/kernel/sched_rt_runtime_us", "-1");
	mount_debugfs();
	DIR *d = opendir("/sys/kernel/debug/sched/fair_server");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "cpu", 3))
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/sys/kernel/debug/sched/fair_server/%s/runtime", e->d_name);
		write_file(path, "0");
	}
	if (d)
		closedir(d);
	fflush(stdout);
	struct sched_param sp = { .sched_priority = 99 };
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
		printf("# sched_setscheduler: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
	}
}

/* As rdinit=: a PID 1 that never speaks the guest protocol, so the boot timeout must fire. */
static int fault_sleep_forever(void) {
	for (;;)
		sleep(3600);
	return 0; /* not reached */
}

/* LKDTM: provoke a real kernel WARNING / BUG / EXCEPTION (Oops) through debugfs, then report. */
static int fault_lkdtm(const char *what) {
	mount_debugfs();
	printf("KTAP version 1\n1..1\n# provoking %s\n", what);
	fflush(stdout);
	write_file("/sys/kernel/debug/provoke-crash/DIRECT", what);
	printf("ok 1 survived_%s\n", what);
	return 0;
}

/* Lowers init's (PID 1's) open-file limit to 1, then exits 0. Init's next poll(2) of its two fds fails
 * (EINVAL: more fds than RLIMIT_NOFILE), so init loses track of this program: ERROR, never the `ok` its
 * exit 0 would give. Init cannot make pipes afterwards either, so the programs after it are ERROR too. */
static int fault_init_poll_error(void) {
	struct rlimit lim;
	if (prlimit(1, RLIMIT_NOFILE, NULL, &lim) < 0) {
		printf("# prlimit(1) read: %s\n", strerror(errno));
		return 1;
	}
	lim.rlim_cur = 1;
	if (prlimit(1, RLIMIT_NOFILE, &lim, NULL) < 0) {
		printf("# prlimit(1) set: %s\n", strerror(errno));
		return 1;
	}
	printf("# init's RLIMIT_NOFILE is now 1\n");
	/* Stay alive past init's next poll: that line (or at the latest the next 2 s heartbeat) wakes init while
	 * the program still runs, so init must poll again, and that poll fails. Exiting at once could let init see
	 * the pipe close and the exit in one wake-up and never poll again (seen once in a CI run). */
	fflush(stdout);
	sleep(3);
	return 0;
}

/* Makes init its tracer and stops with SIGILL (4): a stop is not an end, and init never resumes it, so
 * ERROR; an init reading the stop as an exit status would see 4, the code for "all skipped". */
static int fault_traced_stop(void) {
	printf("# stopping under ptrace\n");
	fflush(stdout);
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
		printf("# ptrace(TRACEME): %s\n", strerror(errno));
		return 1;
	}
	raise(SIGILL);
	printf("# resumed: init must never resume a stopped program\n");
	return 1;
}

static void panic_on_sigterm(int sig) {
	(void)sig;
	int fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd >= 0 && write(fd, "c", 1) < 0)
		_exit(2);
	_exit(1);
}

/* Passes, leaving a daemon behind in its own session (so the kill of the program's process group misses
 * it) that panics the kernel on SIGTERM. Init sends that only at shutdown, after the last result line:
 * a kernel crash outside any test, at a moment fixed by init, not by a timer. */
static int fault_panic_at_shutdown(void) {
	int ready[2];
	char c;
	printf("KTAP version 1\n1..1\nok 1 daemon_armed\n");
	fflush(stdout);
	if (pipe(ready) < 0)
		return 1;
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(ready[0]);
		setsid();
		signal(SIGTERM, panic_on_sigterm);
		/* Its copy of the output pipe would keep init draining it: the daemon keeps nothing of ours. */
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (write(ready[1], "r", 1) < 0)
			_exit(1);
		close(ready[1]);
		for (;;)
			pause();
	}
	close(ready[1]);
	/* Exit only once the daemon has left the group and armed its handler. */
	if (read(ready[0], &c, 1) != 1) {
		printf("# the daemon did not arm\n");
		return 1;
	}
	return 0;
}

static int fault_ok(void) {
	printf("# fine\n");
	return 0;
}

int main(int argc, char **argv) {
	(void)argc;
	const char *n = strrchr(argv[0], '/');
	n = n ? n + 1 : argv[0];
	if (!strcmp(n, "fault_panic"))
		return fault_panic();
	if (!strcmp(n, "fault_hang"))
		return fault_hang();
	if (!strcmp(n, "fault_check_hang_gone"))
		return fault_check_hang_gone();
	if (!strcmp(n, "fault_segv"))
		return fault_segv();
	if (!strcmp(n, "fault_abort"))
		return fault_abort();
	if (!strcmp(n, "fault_spew"))
		return fault_spew(200); /* far past init's 16 MiB cap per program */
	if (!strcmp(n, "fault_spew_4mb"))
		return fault_spew(4);
	if (!strcmp(n, "fault_hostile"))
		return fault_hostile();
	if (!strcmp(n, "fault_silent"))
		return fault_silent();
	if (!strcmp(n, "fault_sleep_forever"))
		return fault_sleep_forever();
	if (!strcmp(n, "fault_lkdtm_warning"))
		return fault_lkdtm("WARNING");
	if (!strcmp(n, "fault_lkdtm_bug"))
		return fault_lkdtm("BUG");
	if (!strcmp(n, "fault_lkdtm_exception"))
		return fault_lkdtm("EXCEPTION");
	if (!strcmp(n, "fault_init_poll_error"))
		return fault_init_poll_error();
	if (!strcmp(n, "fault_traced_stop"))
		return fault_traced_stop();
	if (!strcmp(n, "fault_panic_at_shutdown"))
		return fault_panic_at_shutdown();
	if (!strncmp(n, "fault_ok", 8))
		return fault_ok();
	fprintf(stderr, "faults: unknown name %s\n", n);
	return 127;
}
