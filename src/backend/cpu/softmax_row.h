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

#endif
