/* A test program that fails at random, half of the time: one KTAP case, "coin", whose verdict is a coin toss.
 * Built static by nightly.vm.test.ts and run with --program, so that --repeat shows a flaky test. */
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

int main(void)
{
	unsigned char b = 0;
	struct timespec ts;

	/* GRND_INSECURE: never wait for the guest's entropy pool; the clock is mixed in should the call fail. */
	if (getrandom(&b, 1, GRND_INSECURE) != 1) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		b = (unsigned char)(ts.tv_nsec ^ (ts.tv_nsec >> 8));
	}
	printf("TAP version 13\n1..1\n");
	if (b & 1) {
		printf("# the coin came up tails\nnot ok 1 coin\n");
		return 1;
	}
	printf("ok 1 coin\n");
	return 0;
}
