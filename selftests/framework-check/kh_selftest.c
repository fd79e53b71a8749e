/* kh_selftest.c: cases with known outcomes (pass, fail, skip, signal, timeout, child failure, lost or stopped case) that check.sh compares with expected.ktap. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kh_test.h"

FIXTURE(f) { int x; };
FIXTURE_VARIANT(f) { int v; };
FIXTURE_VARIANT_ADD(f, a) { .v = 1 };
FIXTURE_VARIANT_ADD(f, b) { .v = 2 };
SETUP(f) { self->x = variant->v; }
TEARDOWN(f) { TH_LOG("teardown x=%d", self->x); }

TEST_F(f, pass) { ASSERT_EQ(variant->v, self->x); }

TEST_F(f, expect_then_assert)
{
	EXPECT_EQ(3, self->x);
	EXPECT_ERRNO(EACCES, open("/nonexistent", O_RDONLY));
	ASSERT_SYS_OK(open("/nonexistent", O_RDONLY));
	TH_LOG("not reached");
}

TEST_F(f, skip) { SKIP("needs %d", 42); }

TEST_F(f, skip_after_failed_expect)
{
	EXPECT_TRUE(0);
	SKIP("too late: already failed");
}

TEST_F(f, segv) { raise(SIGSEGV); }

/* Only variant a hangs, and a child it forked hangs too: both must go. */
TEST_F(f, hang)
{
	if (variant->v == 2)
		return;
	if (fork() == 0)
		pause();
	pause();
}

TEST_F(f, failure_in_child)
{
	pid_t p = fork();
	int st;

	if (p == 0)
		ASSERT_EQ(1, 2);
	waitpid(p, &st, 0);
	TH_LOG("child exit %d", WEXITSTATUS(st));
}

TEST_F(f, exit_status)
{
	if (variant->v == 1)
		_exit(3);
}

FIXTURE(novariant) {};
SETUP(novariant) {}
TEARDOWN(novariant) {}
TEST_F(novariant, named_without_variant) {}

/* Makes the runner its tracer and stops: the runner sees a stop, not an end, so the outcome is unknown (ERROR). */
FIXTURE(traced) {};
SETUP(traced) {}
TEARDOWN(traced) {}
TEST_F(traced, stops_under_ptrace)
{
	ASSERT_SYS_OK(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
	raise(SIGSTOP);
	TH_LOG("not reached: the runner kills a stopped case");
}

/* Passes; check.sh runs it once more with KH_CHECK_LOSE_CASE set, so that the runner loses it (ERROR). */
FIXTURE(lost) {};
SETUP(lost) {}
TEARDOWN(lost) {}
TEST_F(lost, passes) {}

/*
 * KH_CHECK_IGNORE_SIGCHLD=1: the program starts with SIGCHLD ignored, as when a parent that ignores it
 * execs the program (an ignored disposition survives exec). The runner must still see every exit.
 */
__attribute__((constructor)) static void ignore_sigchld_if_asked(void)
{
	const char *v = getenv("KH_CHECK_IGNORE_SIGCHLD");

	if (v && strcmp(v, "1") == 0)
		signal(SIGCHLD, SIG_IGN);
}
