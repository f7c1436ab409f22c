/* vgen serve: the model loaded once and kept warm, jobs over HTTP (a local API in
 * the shape of RunPod's) or from RunPod's job queue (--runpod). docs/serving.md. */
#include <curl/curl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
#include "serve/runpod.h"
#include "serve/server.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: vgen serve --model DIR [options]\n"
        "\n"
        "Loads the model once, keeps it warm and runs text-to-video jobs one at a time:\n"
        "from a local HTTP API (POST /run, /runsync, GET /status/ID, ... docs/serving.md)\n"
        "with a durable job store, or as a RunPod Serverless worker (--runpod, or when\n"
        "RUNPOD_WEBHOOK_GET_JOB is set).\n"
        "\n"
        "  --model DIR             diffusers Wan2.1 folder\n"
        "  --host ADDR             address to listen on (default 127.0.0.1; 0.0.0.0: all)\n"
        "  --port N                port (default 8000; 0: any free port, printed)\n"
        "  --device SPEC           cpu (default), cuda[:N], cpu:<budget>, sim:<budget>\n"
        "  --vram-budget SIZE      plan every job within SIZE (e.g. 21.3GiB)\n"
        "  --activations DTYPE     f32 (default) or bf16: the transformer's activations for\n"
        "                          jobs that do not say (bf16 halves the denoise peak)\n"
        "  --cfg-batch MODE        auto (default), on, off: the guidance passes as one\n"
        "                          batch of two, for jobs that do not say\n"
        "  --threads N             compute threads (default: all cores)\n"
        "  --store FILE            SQLite job store (default jobs.db)\n"
        "  --outputs DIR           videos asked for as files, and those over the inline\n"
        "                          limit (default outputs)\n"
        "  --inline-limit SIZE     largest base64 video returned inline (default 10MB)\n"
        "  --api-key-file F        require this key (Authorization: Bearer KEY, or the raw\n"
        "                          key) on every route but /ping, /health and the page\n"
        "  --max-body SIZE         largest request body (default 1MiB; larger: 413)\n"
        "  --conn-timeout S        close connections idle for S seconds (default 30)\n"
        "  --max-conns N           connections at once (default 256)\n"
        "  --max-height N, --max-width N, --max-frames N, --max-steps N\n"
        "                          what one job may ask for (default 2048, 2048, 257, 1000)\n"
        "  --webhook-retry-ms N    between webhook attempts (default 10000; 3 attempts)\n"
        "  --keep-results S        drop the outputs of jobs completed S seconds ago\n"
        "                          (default 86400; 0: keep them)\n"
        "  --runpod                RunPod worker mode (reads the RUNPOD_* variables)\n"
        "  --quiet                 no log lines\n"
        "\n"
        "SIGINT / SIGTERM: stop taking jobs, finish the running one, exit; a second\n"
        "signal stops the running job too (it runs again after a restart).\n"
        "\n"
        "example:\n"
        "  vgen serve --model models/demo-wan --port 8000 &\n"
        "  curl -s localhost:8000/runsync -d '{\"input\": {\"prompt\": \"a red circle moving right\",\n"
        "       \"height\": 64, \"width\": 64, \"num_frames\": 17, \"num_inference_steps\": 20}}'\n");
}

static volatile sig_atomic_t g_signals;
static atomic_int *g_hard_stop;   /* the server's, set on a second signal */

static void on_signal(int sig) {
    (void)sig;
    g_signals++;
    if (g_signals >= 2 && g_hard_stop) atomic_store(g_hard_stop, 1);
}

/* SIGINT and SIGTERM taken by a waiting thread, as vgen generate takes them
 * (vg_cli_stop_signals_thread): in --runpod mode jobs compute on the main thread. */
static void *signal_waiter(void *set) {
    int sig;
    while (sigwait(set, &sig) == 0) on_signal(sig);
    return NULL;
}

/* before any other thread exists; without a waiting thread, a handler */
static void install_signals(void) {
    if (vg_cli_stop_signals_thread(signal_waiter)) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The API key: the first line of f, trimmed; refused when empty. */
static char *read_key(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); return NULL; }
    char buf[1024];
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!line) { fprintf(stderr, "vgen serve: --api-key-file %s: empty\n", path); return NULL; }
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) buf[--n] = 0;
    char *s = buf;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) { fprintf(stderr, "vgen serve: --api-key-file %s: empty\n", path); return NULL; }
    for (char *c = s; *c; c++)
        if ((unsigned char)*c < 0x21 || *c == 0x7f) {
            fprintf(stderr, "vgen serve: --api-key-file %s: the key has spaces or control characters\n", path);
            return NULL;
        }
    return strdup(s);
}

static const struct option g_opts[] = {
    {"model", required_argument, 0, 'm'}, {"host", required_argument, 0, 'H'},
    {"port", required_argument, 0, 'p'}, {"device", required_argument, 0, 'd'},
    {"vram-budget", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
    {"store", required_argument, 0, 's'}, {"outputs", required_argument, 0, 'o'},
    {"inline-limit", required_argument, 0, 'i'}, {"api-key-file", required_argument, 0, 'k'},
    {"max-body", required_argument, 0, 'B'}, {"conn-timeout", required_argument, 0, 'C'},
    {"max-conns", required_argument, 0, 'N'}, {"max-height", required_argument, 0, 1},
    {"max-width", required_argument, 0, 2}, {"max-frames", required_argument, 0, 3},
    {"max-steps", required_argument, 0, 4}, {"webhook-retry-ms", required_argument, 0, 5}, {"keep-results", required_argument, 0, 6},
    {"activations", required_argument, 0, 7}, {"cfg-batch", required_argument, 0, 8},
    {"runpod", no_argument, 0, 'r'}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

int vg_cmd_serve(int argc, char **argv) {
    vg_serve_config cfg = vg_serve_default_config();
    const char *key_file = NULL;
    bool runpod = getenv("RUNPOD_WEBHOOK_GET_JOB") != NULL;
    uint64_t size;
    int c, x;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", g_opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': cfg.exec.model = optarg; break;
        case 'H': cfg.host = optarg; break;
        case 'p': ok = vg_cli_int("serve", "port", optarg, 0, 65535, &cfg.port); break;
        case 'd': cfg.exec.device = optarg; break;
        case 'b': ok = vg_cli_size("serve", "vram-budget", optarg, &cfg.exec.vram_budget); break;
        case 't': ok = vg_cli_threads("serve", optarg, &cfg.exec.threads); break;
        case 's': cfg.store_path = optarg; break;
        case 'o': cfg.exec.outputs = optarg; break;
        case 'i': ok = vg_cli_size("serve", "inline-limit", optarg, &size); cfg.exec.inline_limit = (size_t)size; break;
        case 'k': key_file = optarg; break;
        case 'B':
            ok = vg_cli_size("serve", "max-body", optarg, &size) && size >= 1024 && size <= (1u << 30);
            if (!ok) fprintf(stderr, "vgen serve: --max-body: from 1KiB to 1GiB\n");
            cfg.max_body = (size_t)size;
            break;
        case 'C': ok = vg_cli_int("serve", "conn-timeout", optarg, 1, 3600, &cfg.conn_timeout_s); break;
        case 'N': ok = vg_cli_int("serve", "max-conns", optarg, 1, 100000, &cfg.max_conns); break;
        case 1: ok = vg_cli_int("serve", "max-height", optarg, 16, 8192, &cfg.limits.max_height); break;
        case 2: ok = vg_cli_int("serve", "max-width", optarg, 16, 8192, &cfg.limits.max_width); break;
        case 3: ok = vg_cli_int("serve", "max-frames", optarg, 1, 4093, &cfg.limits.max_frames); break;
        case 4: ok = vg_cli_int("serve", "max-steps", optarg, 1, 1000, &cfg.limits.max_steps); break;
        case 5: ok = vg_cli_int("serve", "webhook-retry-ms", optarg, 10, 3600000, &x); cfg.webhook_retry_ms = x; break;
        case 6: ok = vg_cli_int("serve", "keep-results", optarg, 0, 365 * 86400, &cfg.keep_results_s); break;
        case 7:
            ok = vg_activations_parse(optarg, &cfg.exec.activations) == VG_OK;
            if (!ok) fprintf(stderr, "vgen serve: --activations: %s\n", vg_err_msg());
            break;
        case 8:
            ok = vg_cfg_batch_parse(optarg, &cfg.exec.cfg_batch) == VG_OK;
            if (!ok) fprintf(stderr, "vgen serve: --cfg-batch: %s\n", vg_err_msg());
            break;
        case 'r': runpod = true; break;
        case 'q': cfg.quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) return 2;
    }
    if (optind < argc) { fprintf(stderr, "vgen serve: unexpected argument '%s'\n", argv[optind]); return 2; }
    if (!cfg.exec.model) { fprintf(stderr, "vgen serve: --model is required (vgen serve --help)\n"); return 2; }
    if (!vg_cli_utf8("serve", "--model", cfg.exec.model)) return 2;
    cfg.max_conns_per_ip = cfg.max_conns / 2 > 0 ? cfg.max_conns / 2 : 1;
    char *key = NULL;
    if (key_file && !(key = read_key(key_file))) return 2;
    cfg.api_key = key;

    signal(SIGPIPE, SIG_IGN);   /* a client that hangs up must not end the worker */
    install_signals();
    curl_global_init(CURL_GLOBAL_DEFAULT);

    int rc = 0;
    if (runpod) {
        rc = vg_runpod_main(&cfg, &g_signals);
    } else {
        static vg_server srv;
        char err[1024];
        if (!vg_server_start(&srv, &cfg, err, sizeof err)) {
            fprintf(stderr, "vgen serve: %s\n", err);
            g_hard_stop = &srv.hard_stop;
            vg_server_stop(&srv, true);
            rc = 1;
        } else {
            g_hard_stop = &srv.hard_stop;
            fprintf(stderr, "vgen serve: listening on http://%s:%d (store %s)\n", cfg.host, srv.port, cfg.store_path);
            while (!g_signals && !atomic_load(&srv.load_failed)) usleep(100 * 1000);
            if (atomic_load(&srv.load_failed)) {
                fprintf(stderr, "vgen serve: loading the model failed: %s\n", srv.load_error);
                rc = 1;
            } else if (!cfg.quiet) {
                fprintf(stderr, "vgen serve: stopping: finishing the running job (a second signal stops it)\n");
            }
            vg_server_stop(&srv, rc != 0);
        }
    }
    curl_global_cleanup();
    free(key);
    return rc;
}
