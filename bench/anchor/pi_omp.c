// pi_omp is the C anchor pishm is measured against (bench/anchor/compare.sh): the series
//
//	S_n = sum_{k<n} 1/(2k+1)^2,  pi = sqrt(8 S_n)
//
// summed with `#pragma omp parallel for simd reduction(+:s)`, plain
// (uncompensated) forward summation, as a compiler gives it for free.
//
// Build and run (compare.sh does both):
//
//	gcc -O3 -march=native -fopenmp -o pi_omp pi_omp.c -lm
//	OMP_NUM_THREADS=2 ./pi_omp 1e9
//
// It prints n, threads, S, pi and the wall time of the sum in seconds.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	double nf = argc > 1 ? strtod(argv[1], NULL) : 1e9;
	if (!(nf >= 1 && nf <= 9e15)) {
		fprintf(stderr, "pi_omp: n must be in [1, 9e15], got %s\n", argv[1]);
		return 2;
	}
	long long n = (long long)nf;
	double t0 = omp_get_wtime();
	double s = 0;
#pragma omp parallel for simd reduction(+ : s)
	for (long long k = 0; k < n; k++) {
		double x = 2.0 * (double)k + 1.0;
		s += 1.0 / (x * x);
	}
	double t1 = omp_get_wtime();
	printf("n=%lld threads=%d S=%.17g pi=%.17g wall_s=%.6f\n", n, omp_get_max_threads(), s,
	       sqrt(8 * s), t1 - t0);
	return 0;
}
