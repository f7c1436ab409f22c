/* The subcommands. Each is `int vg_cmd_<name>(int argc, char **argv)` in cli/cmd_<name>.c,
 * with argv[0] = the subcommand name; returns the process exit code (0 ok, 1 failure,
 * 2 usage error). */
#ifndef VG_CLI_COMMANDS_H
#define VG_CLI_COMMANDS_H

#define VG_COMMANDS(X)                                                        \
    X(generate, "text-to-video: prompt in, MP4 / PNG frames out")             \
    X(plan, "predict peak memory per phase for each offload policy")          \
    X(mem, "device memory: total, reserved, allocated, free")                 \
    X(inspect, "list tensors, parameters and detected architecture")          \
    X(quantize, "write a checkpoint as GGUF with block-quantized matrices")   \
    X(tokenize, "print token ids and pieces for a text")                     \
    X(serve, "serve text-to-video jobs: local HTTP API or RunPod worker")

#endif
