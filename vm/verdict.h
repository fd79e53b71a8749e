// verdict.h: init's decision from what it saw of one program to its KTAP result line and control event.
// Pure (no system calls), so vm/verdict-check.c tests every branch on the host (`make -C vm check`).
#ifndef KHARNESS_VERDICT_H
#define KHARNESS_VERDICT_H

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* What init saw of a program's end. */
struct program_end {
	int timed_out; /* init killed it at its timeout */
	int reaped;    /* waitpid gave a terminal status (an exit or a signal) for it */
	int status;    /* that status */
	/* Why init could not follow the program to its end (NULL: it could). Its outcome is then unknown. */
	const char *lost;
};

/* "SIGSEGV" for 11; the abbreviation comes from the caller (sigabbrev_np is not pure enough to fake). */
typedef const char *(*signame_fn)(int sig);

/*
 * Writes program n's result line (newline included) into line and the control event's `how` into how.
 * Only an exit status of 0 (ok) or 4 (ok # SKIP) is green; a timeout is TIMEOUT; a program whose end
 * init did not see, or whose status is neither an exit nor a signal, is ERROR with the reason.
 */
static inline void program_verdict(const struct program_end *e, int n, const char *name, int timeout_sec,
				   signame_fn signame, char *line, size_t len, char *how, size_t hlen)
{
	if (e->timed_out) {
		snprintf(line, len, "not ok %d %s # TIMEOUT %d seconds\n", n, name, timeout_sec);
		snprintf(how, hlen, "timeout");
	} else if (e->lost) {
		snprintf(line, len, "not ok %d %s # ERROR %s\n", n, name, e->lost);
		snprintf(how, hlen, "error");
	} else if (!e->reaped) {
		snprintf(line, len, "not ok %d %s # ERROR init did not see the program end\n", n, name);
		snprintf(how, hlen, "error");
	} else if (WIFSIGNALED(e->status)) {
		int sig = WTERMSIG(e->status);
		snprintf(line, len, "not ok %d %s # exit=%d killed by signal %d (%s)\n", n, name, 128 + sig, sig, signame(sig));
		snprintf(how, hlen, "signal=%d", sig);
	} else if (WIFEXITED(e->status)) {
		int code = WEXITSTATUS(e->status);
		if (code == 0)
			snprintf(line, len, "ok %d %s\n", n, name);
		else if (code == 4)
			snprintf(line, len, "ok %d %s # SKIP\n", n, name);
		else
			snprintf(line, len, "not ok %d %s # exit=%d\n", n, name, code);
		snprintf(how, hlen, "exit=%d", code);
	} else {
		snprintf(line, len, "not ok %d %s # ERROR wait status %#x is neither an exit nor a signal\n", n, name,
			 (unsigned int)e->status);
		snprintf(how, hlen, "error");
	}
}

#endif
