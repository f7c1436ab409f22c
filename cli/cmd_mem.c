/* vgen mem: device memory summary (total, reserved, allocated, free). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "pipeline/memreport.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vgen mem [--device SPEC] [--warn-at SIZE|FRACTION] [--json]\n"
            "\n"
            "Prints the device's total, reserved, allocated and free memory, and warns when\n"
            "usage passes a danger threshold.\n"
            "\n"
            "  --device SPEC     cpu (default), cpu:<budget>, sim:<budget> (e.g. sim:24GiB),\n"
            "                    cuda[:N][:<budget>] (an NVIDIA GPU, in builds with CUDA)\n"
            "  --warn-at X       a size (22GiB) or a fraction of the total (0.9);\n"
            "                    default 22/24 of the total (22 GiB on a 24 GiB card)\n"
            "  --json            print JSON instead of the table\n"
            "\n"
            "example: vgen mem --device sim:24GiB --warn-at 22GiB\n");
}

int vg_cmd_mem(int argc, char **argv) {
    const char *device = "cpu", *warn = NULL;
    int json = 0;
    static const struct option opts[] = {
        {"device", required_argument, 0, 'd'}, {"warn-at", required_argument, 0, 'w'},
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'w': warn = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "vgen mem: unexpected argument '%s'\n", argv[optind]); return 2; }
    uint64_t warn_at = 0;
    double frac = 0;
    if (warn) {
        char *end;
        double v = strtod(warn, &end);
        if (*end == 0 && v > 0 && v <= 1) frac = v;
        else if (vg_parse_size(warn, &warn_at) != VG_OK) { fprintf(stderr, "vgen mem: --warn-at: %s\n", vg_err_msg()); return 2; }
        else if (warn_at == 0) { fprintf(stderr, "vgen mem: --warn-at '%s': use a size above zero or a fraction in (0, 1]\n", warn); return 2; }
    }
    vg_backend *dev;
    if (vg_backend_from_spec(device, &dev) != VG_OK) { fprintf(stderr, "vgen mem: --device: %s\n", vg_err_msg()); return 2; }
    vg_mem_summary s = vg_mem_summarize(dev, warn_at, frac);
    if (json) {
        json_t *j = vg_mem_json(&s);
        char *txt = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", txt);
        free(txt);
        json_decref(j);
    } else {
        vg_mem_print(stdout, &s);
    }
    vg_backend_free(dev);
    return 0;
}
