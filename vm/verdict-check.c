// verdict-check.c: checks program_verdict (verdict.h) on the host, one line per way a program can end;
// `make -C vm check` builds and runs it (exit 0 when every line is what init must print).
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "verdict.h"

static const char *names(int sig) {
	return sig == SIGSEGV ? "SIGSEGV" : sig == SIGKILL ? "SIGKILL" : sig == SIGILL ? "SIGILL" : "SIG?";
}

/* Wait statuses as the kernel encodes them (x86 and the generic layout). */
#define EXITED(code) ((code) << 8)
#define SIGNALED(sig) (sig)
#define STOPPED(sig) (((sig) << 8) | 0x7f)

static int failures;

static void check(const char *what, struct program_end e, const char *want_line, const char *want_how) {
	char line[512], how[32];
	program_verdict(&e, 3, "prog", 45, names, line, sizeof(line), how, sizeof(how));
	if (strcmp(line, want_line) || strcmp(how, want_how)) {
		printf("FAIL %s:\n  got  %s  how %s\n  want %s  how %s\n", what, line, how, want_line, want_how);
		failures++;
	} else
		printf("ok   %s", line);
}

int main(void) {
	check("exit 0", (struct program_end){ .reaped = 1, .status = EXITED(0) }, "ok 3 prog\n", "exit=0");
	check("exit 4", (struct program_end){ .reaped = 1, .status = EXITED(4) }, "ok 3 prog # SKIP\n", "exit=4");
	check("exit 1", (struct program_end){ .reaped = 1, .status = EXITED(1) }, "not ok 3 prog # exit=1\n", "exit=1");
	check("signal", (struct program_end){ .reaped = 1, .status = SIGNALED(SIGSEGV) },
	      "not ok 3 prog # exit=139 killed by signal 11 (SIGSEGV)\n", "signal=11");
	check("timeout", (struct program_end){ .timed_out = 1, .reaped = 1, .status = SIGNALED(SIGKILL) },
	      "not ok 3 prog # TIMEOUT 45 seconds\n", "timeout");
	/* The old init printed `ok` here: status 0 because nothing was ever reaped. */
	check("poll failed, nothing reaped", (struct program_end){ .lost = "init lost track of the program: poll failed: Invalid argument" },
	      "not ok 3 prog # ERROR init lost track of the program: poll failed: Invalid argument\n", "error");
	check("poll failed after a clean exit", (struct program_end){ .reaped = 1, .status = EXITED(0), .lost = "poll failed" },
	      "not ok 3 prog # ERROR poll failed\n", "error");
	check("never reaped", (struct program_end){ 0 }, "not ok 3 prog # ERROR init did not see the program end\n", "error");
	/* The old init read a ptrace stop by SIGILL as exit code 4: `ok # SKIP`. */
	check("ptrace stop as status", (struct program_end){ .reaped = 1, .status = STOPPED(SIGILL) },
	      "not ok 3 prog # ERROR wait status 0x47f is neither an exit nor a signal\n", "error");
	return failures ? 1 : 0;
}
