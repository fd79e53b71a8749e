// A guest program for the VM-level tests: its first argument says how it behaves.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "ok";
	char cwd[256];
	struct sigaction pipe_action;
	sigaction(SIGPIPE, NULL, &pipe_action);
	printf("mode=%s program=%s kmsg=%s cwd=%s sigpipe=%s\n", mode, getenv("KHARNESS_PROGRAM"), getenv("KHARNESS_KMSG"),
	       getcwd(cwd, sizeof(cwd)), pipe_action.sa_handler == SIG_IGN ? "ignored" : "default");
	fflush(stdout);
	if (!strcmp(mode, "skip"))
		return 4;
	if (!strcmp(mode, "fail"))
		return 1;
	if (!strcmp(mode, "segv"))
		raise(SIGSEGV);
	if (!strcmp(mode, "hang")) {
		/* A child in the same process group must die with it on timeout. */
		if (fork() == 0)
			for (;;)
				pause();
		for (;;)
			pause();
	}
	if (!strcmp(mode, "spew")) {
		static char line[1000];
		memset(line, 'x', sizeof(line) - 1);
		for (;;)
			puts(line);
	}
	if (!strcmp(mode, "panic")) {
		int fd = open("/proc/sysrq-trigger", O_WRONLY);
		if (fd < 0 || write(fd, "c", 1) != 1)
			perror("sysrq-trigger");
		return 1;
	}
	return 0;
}
