/* kh_test.c: the runner behind kh_test.h: case selection, forking, timeouts, KTAP, kmsg markers, exit codes. */
#define _GNU_SOURCE
#include "kh_test.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KH_DEFAULT_TIMEOUT_S 10
#define KH_REASON_MAX 512

/* KH_ERROR: the runner could not tell how the case ended (lost, stopped, never started); never a pass. */
enum kh_status { KH_PASS, KH_FAIL, KH_SKIP, KH_ERROR };

/* Shared between the runner and the case process (and anything the case forks). */
struct kh_outcome {
	int status;
	char reason[KH_REASON_MAX];
};

static struct kh_fixture *fixtures, **fixtures_tail = &fixtures;
static struct kh_outcome *outcome; /* MAP_SHARED, reset per case */
static pid_t case_pid;             /* the case process; 0 in the runner */
static sigjmp_buf case_jmp;

void kh_register_fixture(struct kh_fixture *f)
{
	*fixtures_tail = f;
	fixtures_tail = &f->next;
}

/* Appends, so names and order follow the source. */
void kh_register_variant(struct kh_fixture *f, struct kh_variant *v)
{
	struct kh_variant **p = &f->variants;

	while (*p)
		p = &(*p)->next;
	*p = v;
}

void kh_register_test(struct kh_test *t)
{
	struct kh_test **p = &t->fixture->tests;

	while (*p)
		p = &(*p)->next;
	*p = t;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void vprint(const char *prefix, const char *fmt, va_list ap)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf), "%s", prefix);

	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	write_all(STDOUT_FILENO, buf, (size_t)n);
}

void kh_print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint("", fmt, ap);
	va_end(ap);
}

void kh_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint("# ", fmt, ap);
	va_end(ap);
}

/* Leaves the case: back to the runner's setjmp in the case process, plain exit in its children. */
static __attribute__((noreturn)) void leave_case(void)
{
	if (case_pid && getpid() == case_pid)
		siglongjmp(case_jmp, 1);
	_exit(outcome && outcome->status == KH_FAIL ? 1 : 0);
}

void kh_fail_at(const char *file, int line, int fatal, const char *fmt, ...)
{
	const char *slash = strrchr(file, '/');
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The file's name alone: the same diagnostics whatever directory the build ran from. */
	kh_diag("%s:%d: %s", slash ? slash + 1 : file, line, msg);
	if (outcome)
		outcome->status = KH_FAIL;
	if (fatal)
		leave_case();
}

void kh_skip(const char *fmt, ...)
{
	va_list ap;

	if (outcome && outcome->status != KH_FAIL) {
		outcome->status = KH_SKIP;
		va_start(ap, fmt);
		vsnprintf(outcome->reason, sizeof(outcome->reason), fmt, ap);
		va_end(ap);
		/* The reason ends the KTAP line: keep it on one line. */
		for (char *c = outcome->reason; *c; c++)
			if (*c == '\n' || *c == '#')
				*c = ' ';
	}
	leave_case();
}

#define NAME(x) [x] = #x
static const char *const errno_names[] = {
	NAME(EPERM), NAME(ENOENT), NAME(ESRCH), NAME(EINTR), NAME(EIO),
	NAME(ENXIO), NAME(E2BIG), NAME(ENOEXEC), NAME(EBADF), NAME(ECHILD),
	NAME(EAGAIN), NAME(ENOMEM), NAME(EACCES), NAME(EFAULT), NAME(EBUSY),
	NAME(EEXIST), NAME(ENODEV), NAME(ENOTDIR), NAME(EISDIR), NAME(EINVAL),
	NAME(ENFILE), NAME(EMFILE), NAME(ENOTTY), NAME(ENOSPC), NAME(ESPIPE),
	NAME(EROFS), NAME(EPIPE), NAME(ERANGE), NAME(ENOSYS), NAME(ENOMSG),
	NAME(EBADFD), NAME(EBADMSG), NAME(ENOTSOCK), NAME(EDESTADDRREQ),
	NAME(EPROTOTYPE), NAME(ENOPROTOOPT), NAME(EPROTONOSUPPORT),
	NAME(ESOCKTNOSUPPORT), NAME(EOPNOTSUPP), NAME(EPFNOSUPPORT),
	NAME(EAFNOSUPPORT), NAME(EADDRINUSE), NAME(EADDRNOTAVAIL),
	NAME(ENETDOWN), NAME(ENETUNREACH), NAME(ECONNABORTED),
	NAME(ECONNRESET), NAME(EISCONN), NAME(ENOTCONN), NAME(ETIMEDOUT),
	NAME(ECONNREFUSED), NAME(EHOSTUNREACH), NAME(EALREADY),
	NAME(EINPROGRESS), NAME(EOVERFLOW),
};

static const char *const signal_names[] = {
	NAME(SIGHUP), NAME(SIGINT), NAME(SIGQUIT), NAME(SIGILL), NAME(SIGTRAP),
	NAME(SIGABRT), NAME(SIGBUS), NAME(SIGFPE), NAME(SIGKILL),
	NAME(SIGUSR1), NAME(SIGSEGV), NAME(SIGUSR2), NAME(SIGPIPE),
	NAME(SIGALRM), NAME(SIGTERM), NAME(SIGCHLD), NAME(SIGCONT),
	NAME(SIGSTOP), NAME(SIGTSTP), NAME(SIGXCPU), NAME(SIGXFSZ),
	NAME(SIGSYS),
};
#undef NAME

const char *kh_errno_name(int err)
{
	static __thread char buf[32];

	if (err >= 0 && (size_t)err < sizeof(errno_names) / sizeof(errno_names[0]) &&
	    errno_names[err])
		return errno_names[err];
	if (err == 0)
		return "no error";
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

const char *kh_signal_name(int sig)
{
	if (sig > 0 && (size_t)sig < sizeof(signal_names) / sizeof(signal_names[0]) &&
	    signal_names[sig])
		return signal_names[sig];
	return "unknown";
}

/* ---- the runner ---- */

struct kh_case {
	struct kh_test *test;
	const struct kh_variant *variant; /* NULL when the fixture has none */
	char name[256];
};

static const char *program_name(const char *argv0)
{
	const char *env = getenv("KHARNESS_PROGRAM");
	const char *slash;

	if (env && *env)
		return env;
	slash = strrchr(argv0, '/');
	return slash ? slash + 1 : argv0;
}

static void kmsg_mark(const char *what, const char *prog, const char *name)
{
	char buf[512];
	const char *env = getenv("KHARNESS_KMSG");
	int fd, n;

	if (!env || strcmp(env, "1") != 0)
		return;
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* KERN_NOTICE, like init's markers: shown at the loglevel the host sets, not a warning. */
	n = snprintf(buf, sizeof(buf), "<5>kharness: %s %s.%s\n", what, prog, name);
	if (n > 0 && n < (int)sizeof(buf))
		write_all(fd, buf, (size_t)n);
	close(fd);
}

static unsigned int default_timeout(void)
{
	const char *env = getenv("KHARNESS_CASE_TIMEOUT");
	char *end;
	unsigned long v;

	if (!env || !*env)
		return KH_DEFAULT_TIMEOUT_S;
	v = strtoul(env, &end, 10);
	if (*end || v == 0 || v > 86400)
		return KH_DEFAULT_TIMEOUT_S;
	return (unsigned int)v;
}

/* Kills whatever the case left in its process group and reaps it (orphans come to us: subreaper). */
static void reap_group(pid_t pgid)
{
	kill(-pgid, SIGKILL);
	for (int i = 0; i < 100; i++) {
		pid_t r = waitpid(-pgid, NULL, WNOHANG);

		if (r < 0)
			break; /* none left */
		if (r == 0)
			usleep(10000);
	}
}

/* The case process: setup, body, teardown; the outcome goes through shared memory. */
static __attribute__((noreturn)) void run_case_child(const struct kh_case *c)
{
	/* static: these must survive the siglongjmp from a failed assertion. */
	static struct kh_test *t;
	static const void *vdata;
	static void *self;
	static volatile int setup_done, teardown_started;

	t = c->test;
	vdata = c->variant ? c->variant->data : NULL;
	self = calloc(1, t->self_size ? t->self_size : 1);

	case_pid = getpid();
	/* Its own group, so a timeout kills whatever the case forked too. */
	setpgid(0, 0);
	signal(SIGCHLD, SIG_DFL);
	if (!self) {
		kh_diag("out of memory for the fixture");
		_exit(1);
	}
	if (sigsetjmp(case_jmp, 0) == 0) {
		t->setup(self, vdata);
		setup_done = 1;
		t->body(self, vdata);
	}
	if (setup_done && !teardown_started) {
		teardown_started = 1;
		if (sigsetjmp(case_jmp, 0) == 0)
			t->teardown(self, vdata);
	}
	_exit(0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum kh_wait { KH_WAIT_ENDED, KH_WAIT_TIMEOUT, KH_WAIT_LOST };

/*
 * Waits for pid up to timeout_s. KH_WAIT_ENDED sets *status; KH_WAIT_LOST sets *err when waitpid
 * cannot report the case any more (someone else reaped it), so its outcome is unknown.
 */
static enum kh_wait wait_with_timeout(pid_t pid, unsigned int timeout_s, int *status, int *err)
{
	double deadline = now_s() + timeout_s;
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		double left;
		struct timespec ts;

		if (r == pid)
			return KH_WAIT_ENDED;
		if (r < 0 && errno != EINTR) {
			*err = errno;
			return KH_WAIT_LOST;
		}
		left = deadline - now_s();
		if (left <= 0)
			return KH_WAIT_TIMEOUT;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		/* SIGCHLD is blocked in the runner, so this wakes on the child's exit. */
		sigtimedwait(&chld, NULL, &ts);
	}
}

#ifdef KH_FRAMEWORK_CHECK
/*
 * Only in the framework check's build (framework-check/, never the bundled programs): for the cases
 * matching $KH_CHECK_LOSE_CASE, the runner reaps the case process itself as soon as it is forked, as
 * a foreign wait(2) or an inherited SIGCHLD=SIG_IGN would, so that the lost-case path really runs.
 */
static void check_lose_case(const char *name, pid_t pid)
{
	const char *glob = getenv("KH_CHECK_LOSE_CASE");

	if (glob && fnmatch(glob, name, 0) == 0)
		waitpid(pid, NULL, 0);
}
#endif

/* Ends a case whose outcome the runner could not obtain: `not ok` with an ERROR reason, never a pass. */
static enum kh_status case_error(int number, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum kh_status case_error(int number, const char *name, const char *fmt, ...)
{
	char reason[KH_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	kh_print("not ok %d %s # ERROR %s", number, name, reason);
	return KH_ERROR;
}

static enum kh_status run_case(const struct kh_case *c, int number, const char *prog)
{
	unsigned int timeout = default_timeout();
	enum kh_status st;
	int status = 0, err = 0;
	pid_t pid;

	if (c->test->timeout_s > timeout)
		timeout = c->test->timeout_s;
	memset(outcome, 0, sizeof(*outcome));
	outcome->status = KH_PASS;
	kmsg_mark("start", prog, c->name);
	pid = fork();
	if (pid < 0) {
		st = case_error(number, c->name, "cannot start the case: fork: %s", kh_errno_name(errno));
		kmsg_mark("end", prog, c->name);
		return st;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		run_case_child(c);
	}
	setpgid(pid, pid); /* also from this side: no race with the child's own call */
#ifdef KH_FRAMEWORK_CHECK
	check_lose_case(c->name, pid);
#endif
	switch (wait_with_timeout(pid, timeout, &status, &err)) {
	case KH_WAIT_TIMEOUT:
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		reap_group(pid);
		kh_diag("timed out after %u s, killed (KHARNESS_CASE_TIMEOUT=S sets the default)", timeout);
		kh_print("not ok %d %s # TIMEOUT %u seconds", number, c->name, timeout);
		kmsg_mark("end", prog, c->name);
		return KH_FAIL;
	case KH_WAIT_LOST:
		reap_group(pid);
		st = case_error(number, c->name, "lost the case process (waitpid: %s), its outcome is unknown",
				kh_errno_name(err));
		kmsg_mark("end", prog, c->name);
		return st;
	case KH_WAIT_ENDED:
		break;
	}
	reap_group(pid);

	st = (enum kh_status)outcome->status;
	if (WIFSIGNALED(status)) {
		kh_diag("killed by signal %d (%s)", WTERMSIG(status), kh_signal_name(WTERMSIG(status)));
		st = KH_FAIL;
	} else if (WIFEXITED(status)) {
		if (WEXITSTATUS(status) != 0 && st != KH_FAIL) {
			kh_diag("case process exited with status %d", WEXITSTATUS(status));
			st = KH_FAIL;
		}
	} else {
		/* A stop under ptrace (the case made the runner its tracer): the case never ended by itself. */
		if (WIFSTOPPED(status))
			st = case_error(number, c->name,
					"the case process stopped under ptrace (signal %d, %s) instead of ending, its outcome is unknown",
					WSTOPSIG(status), kh_signal_name(WSTOPSIG(status)));
		else
			st = case_error(number, c->name,
					"waitpid reported status %#x, neither an exit nor a signal: its outcome is unknown",
					(unsigned int)status);
		kmsg_mark("end", prog, c->name);
		return st;
	}
	switch (st) {
	case KH_PASS:
		kh_print("ok %d %s", number, c->name);
		break;
	case KH_SKIP:
		kh_print("ok %d %s # SKIP %s", number, c->name, outcome->reason);
		break;
	case KH_FAIL:
		kh_print("not ok %d %s", number, c->name);
		break;
	default:
		/* Shared memory the case process could scribble on: anything but the three outcomes is not one. */
		st = case_error(number, c->name, "the case left an unknown outcome (%d) in shared memory",
				outcome->status);
	}
	kmsg_mark("end", prog, c->name);
	return st;
}

static int selected(const char *name, const char *prog, int nglobs, char **globs)
{
	char full[512];

	if (nglobs == 0)
		return 1;
	snprintf(full, sizeof(full), "%s.%s", prog, name);
	for (int i = 0; i < nglobs; i++)
		if (fnmatch(globs[i], name, 0) == 0 || fnmatch(globs[i], full, 0) == 0)
			return 1;
	return 0;
}

static void usage(const char *prog)
{
	printf("usage: %s [--list] [GLOB...]\n"
	       "Runs the cases whose name (fixture.variant.case, or with the program name in\n"
	       "front) matches any GLOB (fnmatch), or all cases. Output is KTAP.\n"
	       "  --list  print the case names, one per line, and exit\n"
	       "Environment: KHARNESS_CASE_TIMEOUT=S per-case timeout (default %d),\n"
	       "KHARNESS_KMSG=1 write start/end markers to /dev/kmsg, KHARNESS_PROGRAM=NAME.\n"
	       "Exit: 0 passed (skips allowed), 1 a case failed or its outcome is unknown (ERROR),\n"
	       "4 all skipped, 2 bad usage.\n",
	       prog, KH_DEFAULT_TIMEOUT_S);
}

int main(int argc, char **argv)
{
	const char *prog = program_name(argv[0]);
	struct kh_case *cases = NULL;
	int ncases = 0, cap = 0, list = 0, nglobs = 0;
	int pass = 0, fail = 0, skip = 0, error = 0;
	char **globs = calloc((size_t)argc, sizeof(*globs));
	sigset_t chld;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--list") == 0 || strcmp(argv[i], "-l") == 0) {
			list = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(prog);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "%s: unknown option %s (try --help)\n", prog, argv[i]);
			return 2;
		} else {
			globs[nglobs++] = argv[i];
		}
	}

	for (struct kh_fixture *f = fixtures; f; f = f->next) {
		const struct kh_variant *v = f->variants;

		do {
			for (struct kh_test *t = f->tests; t; t = t->next) {
				struct kh_case c = { .test = t, .variant = v };

				if (v)
					snprintf(c.name, sizeof(c.name), "%s.%s.%s", f->name, v->name, t->name);
				else
					snprintf(c.name, sizeof(c.name), "%s.%s", f->name, t->name);
				if (!selected(c.name, prog, nglobs, globs))
					continue;
				if (ncases == cap) {
					cap = cap ? cap * 2 : 64;
					cases = realloc(cases, (size_t)cap * sizeof(*cases));
					if (!cases) {
						perror("realloc");
						return 1;
					}
				}
				cases[ncases++] = c;
			}
		} while (v && (v = v->next));
	}

	if (list) {
		for (int i = 0; i < ncases; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (ncases == 0) {
		fprintf(stderr, "%s: no case matches the given names (try --list)\n", prog);
		return 2;
	}

	outcome = mmap(NULL, sizeof(*outcome), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (outcome == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/*
	 * An ignored SIGCHLD survives exec: with it, the kernel reaps every case process itself and no
	 * exit status is ever seen. The runner needs the default disposition, whatever it inherited.
	 */
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	/* Orphans of a case come back to us, so they can be killed and reaped with their case. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	/* Inherited by the cases: a write to a closed socket returns EPIPE instead of killing the case. */
	signal(SIGPIPE, SIG_IGN);

	kh_print("KTAP version 1");
	kh_print("1..%d", ncases);
	for (int i = 0; i < ncases; i++) {
		switch (run_case(&cases[i], i + 1, prog)) {
		case KH_PASS:
			pass++;
			break;
		case KH_SKIP:
			skip++;
			break;
		case KH_FAIL:
			fail++;
			break;
		default:
			error++;
		}
	}
	kh_print("# %s: %d cases: %d pass, %d fail, %d skip, %d error", prog, ncases, pass, fail, skip,
		 error);
	if (fail || error)
		return 1;
	return pass ? 0 : 4;
}
