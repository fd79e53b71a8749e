/* seccomp-errno.c: ERRNO PROGRAM [ARG...]: runs PROGRAM with landlock_create_ruleset answering ERRNO (a seccomp filter), so check.sh sees how the tests treat an ABI query the kernel did not answer. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../landlock_uapi.h"

int main(int argc, char **argv)
{
	/* No architecture check: the Landlock syscalls have the same number everywhere, and this only runs tests. */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_landlock_create_ruleset, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	int err;

	if (argc < 3 || (err = atoi(argv[1])) <= 0 || err > 4095) {
		fprintf(stderr, "usage: %s ERRNO PROGRAM [ARG...]\n", argv[0]);
		return 2;
	}
	code[2].k = SECCOMP_RET_ERRNO | (unsigned int)err;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		fprintf(stderr, "%s: cannot install the seccomp filter: %s\n", argv[0], strerror(errno));
		return 3;
	}
	execv(argv[2], argv + 2);
	fprintf(stderr, "%s: cannot execute %s: %s\n", argv[0], argv[2], strerror(errno));
	return 127;
}
