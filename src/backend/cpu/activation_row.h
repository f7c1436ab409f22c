/* Activation row kernels on the CPU, vectorised for the CPU's widest vectors. */
#ifndef VG_CPU_ACTIVATION_ROW_H
#define VG_CPU_ACTIVATION_ROW_H

#include <stdint.h>

/* y[j] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) for contiguous rows (y may
 * be x); within a few ulp of the formula evaluated in float64. */
void vg_cpu_gelu_tanh_row(float *y, const float *x, int64_t n);

#endif
