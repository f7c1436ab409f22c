/* Row kernels of the flash-attention online softmax on the CPU, vectorised for
 * the widest vectors the CPU has (chosen at load time). */
#ifndef VG_CPU_SOFTMAX_ROW_H
#define VG_CPU_SOFTMAX_ROW_H

#include <stdint.h>

/* max(init, s[0..n)) */
float vg_cpu_row_max(const float *s, int64_t n, float init);

/* s[j] <- exp(s[j] - mx) for j < n (mx >= every s[j], finite); returns the sum of
 * the new s[j]. exp is accurate to 2 ulp; results below 2^-126 flush to 0. */
float vg_cpu_row_exp_sum(float *s, int64_t n, float mx);

/* The same against a reference ref instead of the row's maximum, in one pass: s[j] <-
 * exp(s[j] - ref), returns their sum and sets *max_out to max(s[0..n)) (of the scores,
 * before the exp; -inf for n = 0). Exact to 2 ulp while every s[j] - ref <= 88; the
 * caller checks *max_out and redoes the row against its maximum when it is far
 * above ref. NaN scores make the sum NaN. */
float vg_cpu_row_exp_sum_ref(float *s, int64_t n, float ref, float *max_out);

#endif
