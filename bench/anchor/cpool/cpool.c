// cpool: the C anchor for engine.Pool's per-call cost. W forked workers
// and the caller meet on words of one shared mapping; each call bumps a
// generation word, the workers sum their share of the n terms of
// 1/(2k+1)^2 and count themselves done.
//
//   cpool N REPS passive   workers and caller sleep on the futex (FUTEX_WAIT)
//                          as soon as they wait: two workers, the caller idle
//   cpool N REPS spin      the caller sums one share itself and one worker
//                          spins on the generation word (an OpenMP team of 2
//                          with OMP_WAIT_POLICY=active)
//
// It prints one line: "cpool MODE n=N: median X ns/call", the median of
// REPS timed calls after REPS/10 untimed ones.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct hdr {
	_Atomic unsigned gen;
	char p1[60];
	_Atomic unsigned done;
	char p2[60];
	_Atomic unsigned quit;
	char p3[60];
	unsigned long n;
	int workers, spin, self;
	double part[4][8];
};

static void fx(_Atomic unsigned *a, int op, unsigned v) { syscall(SYS_futex, a, op, v, NULL, NULL, 0); }

static double sum(unsigned long lo, unsigned long hi) {
	double s = 0;
	for (unsigned long k = hi; k > lo; k--) {
		double x = 2.0 * (k - 1) + 1;
		s += 1 / (x * x);
	}
	return s;
}

static long long now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
	long long x = *(long long *)a, y = *(long long *)b;
	return x < y ? -1 : x > y;
}

// share is participant i's part of n terms among p participants.
static void share(struct hdr *h, int i, int p) { h->part[i][0] = sum(h->n * i / p, h->n * (i + 1) / p); }

int main(int argc, char **argv) {
	if (argc != 4 || (strcmp(argv[3], "passive") && strcmp(argv[3], "spin"))) {
		fprintf(stderr, "usage: cpool N REPS passive|spin\n");
		return 2;
	}
	int reps = atoi(argv[2]);
	struct hdr *h = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	h->n = strtoul(argv[1], NULL, 10);
	h->spin = !strcmp(argv[3], "spin");
	h->workers = h->spin ? 1 : 2; // spin: the caller is the other participant
	int parts = 2; // passive: two workers; spin: the caller and one worker
	for (int w = 0; w < h->workers; w++)
		if (fork() == 0) {
			int i = h->spin ? 1 : w;
			unsigned seen = 0;
			for (;;) {
				unsigned g = atomic_load(&h->gen);
				if (g == seen) {
					if (!h->spin) fx(&h->gen, FUTEX_WAIT, seen);
					continue;
				}
				seen = g;
				if (atomic_load(&h->quit)) _exit(0);
				share(h, i, parts);
				if (atomic_fetch_add(&h->done, 1) + 1 == (unsigned)h->workers && !h->spin) fx(&h->done, FUTEX_WAKE, 1);
			}
		}
	int warm = reps / 10 + 1;
	long long *d = malloc(reps * sizeof *d);
	for (int r = -warm; r < reps; r++) {
		long long t = now();
		atomic_store(&h->done, 0);
		atomic_fetch_add(&h->gen, 1);
		if (h->spin) {
			share(h, 0, parts);
			while (atomic_load(&h->done) < 1) {}
		} else {
			fx(&h->gen, FUTEX_WAKE, 1 << 30);
			unsigned v;
			while ((v = atomic_load(&h->done)) < 2) fx(&h->done, FUTEX_WAIT, v);
		}
		if (r >= 0) d[r] = now() - t;
	}
	atomic_store(&h->quit, 1);
	atomic_fetch_add(&h->gen, 1);
	fx(&h->gen, FUTEX_WAKE, 1 << 30);
	while (wait(NULL) > 0) {}
	qsort(d, reps, sizeof *d, cmp);
	printf("cpool %s n=%lu: median %lld ns/call\n", argv[3], h->n, d[reps / 2]);
	return 0;
}
