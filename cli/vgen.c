/* vgen: subcommand dispatch only; each subcommand lives in its own cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "vgen.h"

#define VG_CMD_DECL(name, help) int vg_cmd_##name(int argc, char **argv) __attribute__((weak));
VG_COMMANDS(VG_CMD_DECL)

typedef struct { const char *name; int (*fn)(int, char **); const char *help; } command;
#define VG_CMD_ENTRY(name, help) {#name, vg_cmd_##name, help},

static void usage(FILE *f, const command *cmds, int n) {
    fprintf(f, "usage: vgen <command> [options]   (vgen <command> --help for its options)\n"
               "       vgen --version             (version, devices, the CPU GEMM chosen for this machine, GPUs found)\n\ncommands:\n");
    for (int i = 0; i < n; i++)
        if (cmds[i].fn) fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv) {
    command cmds[] = {VG_COMMANDS(VG_CMD_ENTRY)};
    int n = (int)(sizeof cmds / sizeof cmds[0]);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout, cmds, n);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vgen %s (devices: %s)\n%s\n%s\n", vg_version(), vg_devices(), vg_cpu_gemm_info(), vg_devices_info());
        return 0;
    }
    /* the commands that run models: OpenMP's idle threads must not spin (omp_wait.c) */
    if (strcmp(argv[1], "generate") == 0 || strcmp(argv[1], "serve") == 0) vg_cli_omp_wait_default(argv);
    for (int i = 0; i < n; i++)
        if (cmds[i].fn && strcmp(argv[1], cmds[i].name) == 0) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "vgen: unknown command '%s'\n", argv[1]);
    usage(stderr, cmds, n);
    return 2;
}
