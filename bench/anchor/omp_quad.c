// omp_quad is the second C anchor (bench/anchor/compare.sh): a C programmer's
// best hand-written version of pishm's algebra, on OpenMP threads. Each
// thread sums [n*t/p, n*(t+1)/p) of
//
//	S_n = sum_{k<n} 1/(2k+1)^2
//
// four terms over one common denominator, so one division per four terms:
// 1/a^2 + 1/b^2 + 1/c^2 + 1/d^2 = ((A+B)CD + (C+D)AB) / (ABCD) with A = a^2,
// ..., summed in four independent accumulators and reduced by OpenMP. With
// AVX-512 (gcc -march=native on such a CPU) the lanes are zmm registers,
// as in pishm's avx512 kernel; elsewhere the same algebra is a plain loop
// that gcc vectorizes for what the CPU has. No compensation: its S is off
// by about 1e-10 at n = 1e9, where pishm's is exact to the last bit.
//
// Build and run (compare.sh does both):
//
//	gcc -O3 -march=native -fopenmp -o omp_quad omp_quad.c -lm
//	OMP_NUM_THREADS=2 ./omp_quad 1e9
//
// It prints n, threads, S, pi and the wall time of the sum in seconds.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

// quad4 is 1/a^2 + 1/b^2 + 1/c^2 + 1/d^2 with one division.
static inline double quad4(double a, double b, double c, double d) {
	double A = a * a, B = b * b, C = c * c, D = d * d, ab = A * B, cd = C * D;
	return ((A + B) * cd + (C + D) * ab) / (ab * cd);
}

// tail adds the terms k in [lo, hi) to s, one division each, smallest
// first.
static double tail(double s, long long lo, long long hi) {
	for (long long k = hi - 1; k >= lo; k--) {
		double x = 2.0 * (double)k + 1.0;
		s += 1.0 / (x * x);
	}
	return s;
}

#ifdef __AVX512F__
// quad sums [lo, hi): 128 terms per step, four zmm accumulators of eight
// lanes; lane j of accumulator u takes x = 2k+1 for k = lo+32u+j and the
// terms 8, 16 and 24 further on over the same denominator.
static double quad(long long lo, long long hi) {
	__m512d step = _mm512_set1_pd(64.0 * 4), o16 = _mm512_set1_pd(16.0), o32 = _mm512_set1_pd(32.0),
		o48 = _mm512_set1_pd(48.0), x[4], acc[4];
	for (int u = 0; u < 4; u++) {
		x[u] = _mm512_add_pd(_mm512_setr_pd(1, 3, 5, 7, 9, 11, 13, 15), _mm512_set1_pd(64.0 * u + 2.0 * (double)lo));
		acc[u] = _mm512_setzero_pd();
	}
	long long m = lo + (hi - lo) / 128 * 128;
	for (long long k = lo; k < m; k += 128)
		for (int u = 0; u < 4; u++) {
			__m512d b = _mm512_add_pd(x[u], o16), c = _mm512_add_pd(x[u], o32), d = _mm512_add_pd(x[u], o48);
			__m512d A = _mm512_mul_pd(x[u], x[u]), B = _mm512_mul_pd(b, b), C = _mm512_mul_pd(c, c),
				D = _mm512_mul_pd(d, d);
			__m512d ab = _mm512_mul_pd(A, B), cd = _mm512_mul_pd(C, D);
			__m512d num = _mm512_fmadd_pd(_mm512_add_pd(A, B), cd, _mm512_mul_pd(_mm512_add_pd(C, D), ab));
			acc[u] = _mm512_add_pd(acc[u], _mm512_div_pd(num, _mm512_mul_pd(ab, cd)));
			x[u] = _mm512_add_pd(x[u], step);
		}
	for (int u = 1; u < 4; u++)
		acc[0] = _mm512_add_pd(acc[0], acc[u]);
	return tail(_mm512_reduce_add_pd(acc[0]), m, hi);
}
#else
// quad sums [lo, hi) in blocks of 32 terms, as above on whatever vectors
// gcc picks for this CPU: lane j of a block at b takes the terms b+j, and
// 8, 16 and 24 further on, over one denominator.
static double quad(long long lo, long long hi) {
	long long m = lo + (hi - lo) / 32 * 32;
	double acc[8] = {0};
	for (long long b = lo; b < m; b += 32)
		for (int j = 0; j < 8; j++) {
			double a = 2.0 * (double)(b + j) + 1.0;
			acc[j] += quad4(a, a + 16, a + 32, a + 48);
		}
	double s = 0;
	for (int j = 0; j < 8; j++)
		s += acc[j];
	return tail(s, m, hi);
}
#endif

int main(int argc, char **argv) {
	double nf = argc > 1 ? strtod(argv[1], NULL) : 1e9;
	if (!(nf >= 1 && nf <= 9e15)) {
		fprintf(stderr, "omp_quad: n must be in [1, 9e15], got %s\n", argv[1]);
		return 2;
	}
	long long n = (long long)nf;
	double t0 = omp_get_wtime();
	double s = 0;
	int threads = 1;
#pragma omp parallel reduction(+ : s)
	{
		long long t = omp_get_thread_num(), p = omp_get_num_threads();
		if (t == 0)
			threads = (int)p;
		s += quad(n * t / p, n * (t + 1) / p);
	}
	double t1 = omp_get_wtime();
	printf("n=%lld threads=%d S=%.17g pi=%.17g wall_s=%.6f\n", n, threads, s, sqrt(8 * s), t1 - t0);
	return 0;
}
