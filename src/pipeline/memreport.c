/* Device memory summaries. */
#include "pipeline/memreport.h"

#include <string.h>
#include <sys/sysinfo.h>

#include "residency/planner.h"

vg_mem_summary vg_mem_summarize(const vg_backend *dev, uint64_t warn_at, double warn_frac) {
    vg_mem_summary s;
    memset(&s, 0, sizeof s);
    snprintf(s.device, sizeof s.device, "%s", dev->name);
    vg_pool_stats st = vg_pool_get_stats(dev->pool);
    s.total = st.capacity;
    if (s.total == VG_POOL_UNLIMITED) {
        struct sysinfo si;
        s.total = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit : 0;
    }
    s.allocated = st.current;
    s.reserved = st.current + st.n_allocs * VG_POOL_ALIGN;   /* each allocation carries one aligned header */
    s.peak = st.peak;
    s.free = s.total > s.reserved ? s.total - s.reserved : 0;
    if (warn_at) s.warn_at = warn_at;
    else if (warn_frac > 0 && warn_frac <= 1) s.warn_at = (uint64_t)(warn_frac * (double)s.total);
    else s.warn_at = (uint64_t)((double)s.total * 22.0 / 24.0);
    s.warn = s.peak > s.warn_at;
    if (dev->iface->device_memory &&
        dev->iface->device_memory((vg_backend *)dev, &s.device_free, &s.device_total) != VG_OK)
        s.device_free = s.device_total = 0;
    return s;
}

void vg_mem_print(FILE *f, const vg_mem_summary *s) {
    char t[32], r[32], a[32], p[32], fr[32], w[32];
    fprintf(f, "+-----------------------------------------------------------------------------+\n");
    fprintf(f, "| device %-22s total %-12s warn at %-22s|\n", s->device, vg_fmt_bytes(s->total, t, 32),
            vg_fmt_bytes(s->warn_at, w, 32));
    fprintf(f, "| reserved %-12s allocated %-12s peak %-12s free %-12s|\n", vg_fmt_bytes(s->reserved, r, 32),
            vg_fmt_bytes(s->allocated, a, 32), vg_fmt_bytes(s->peak, p, 32), vg_fmt_bytes(s->free, fr, 32));
    if (s->device_total) {
        char dt[32], df[32];
        fprintf(f, "| on the device itself: total %-12s free %-12s (the pool is the budget) |\n",
                vg_fmt_bytes(s->device_total, dt, 32), vg_fmt_bytes(s->device_free, df, 32));
    }
    fprintf(f, "+-----------------------------------------------------------------------------+\n");
    if (s->warn)
        fprintf(f, "warning: peak %s passed the danger threshold %s of %s\n", p, w, t);
}

json_t *vg_mem_json(const vg_mem_summary *s) {
    json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "device", s->device, "total_bytes",
                          (json_int_t)s->total, "reserved_bytes", (json_int_t)s->reserved, "allocated_bytes",
                          (json_int_t)s->allocated, "peak_bytes", (json_int_t)s->peak, "free_bytes", (json_int_t)s->free,
                          "warn_at_bytes", (json_int_t)s->warn_at, "warning", s->warn);
    if (j && s->device_total) {
        json_object_set_new(j, "device_total_bytes", json_integer((json_int_t)s->device_total));
        json_object_set_new(j, "device_free_bytes", json_integer((json_int_t)s->device_free));
    }
    return j;
}
