"""A load generator for vgen serve (standard library asyncio, HTTP/1.1 keep-alive):
N requests over C connections, a tenth of them malformed, the rest job
submissions with their own ids, status reads, health, ping and metrics.
Prints one JSON line: counts per answer code and kind, the accepted ids' count,
the time taken, requests per second.
usage: load.py URL N CONCURRENCY IDS_OUT [API_KEY]"""
import asyncio
import json
import random
import sys
import time

url, total, conc, ids_out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
key = sys.argv[5] if len(sys.argv) > 5 else None
host, port = url.split("//")[1].split(":")
port = int(port)
rng = random.Random(99)

MALFORMED = [
    ("POST", "/run", b'{"input": '),
    ("POST", "/run", b'{"input": {"prompt": "x", "height": 100}}'),
    ("POST", "/run", b'{"input": {"prompt": "x", "frobnicate": 1}}'),
    ("POST", "/run", b'[]'),
    ("POST", "/run", b'\xff\xfe\x00garbage'),
    ("POST", "/run", b'{"input": {"prompt": "x", "num_frames": 6, "seed": -3}}'),
    ("POST", "/runsync?wait=5", b'{"input": {"prompt": "x"}}'),
    ("GET", "/run", b""),
    ("POST", "/status/../../etc/passwd", b""),
    ("POST", "/cancel/%00", b""),
]


def plan():
    """The requests: 10 % malformed, 20 % submissions, the rest reads."""
    kinds = ["bad"] * (total // 10) + ["run"] * (total // 5)
    kinds += [rng.choice(["status", "health", "ping", "metrics"]) for _ in range(total - len(kinds))]
    rng.shuffle(kinds)
    return kinds


async def one(reader, writer, method, path, body):
    head = "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (method, path, host, len(body))
    if key:
        head += "Authorization: Bearer %s\r\n" % key
    writer.write(head.encode() + b"Content-Type: application/json\r\n\r\n" + body)
    await writer.drain()
    status = await reader.readline()
    code = int(status.split()[1])
    length, chunked, close = 0, False, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "transfer-encoding" and "chunked" in v:
            chunked = True
        elif k == "connection" and "close" in v.lower():
            close = True
    data = b""
    if chunked:
        while True:
            n = int((await reader.readline()).strip(), 16)
            data += await reader.readexactly(n + 2)
            if n == 0:
                break
    else:
        data = await reader.readexactly(length)
    return code, data, close


async def worker(queue, stats, accepted, known):
    reader = writer = None
    while True:
        try:
            i, kind = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        if kind == "bad":
            method, path, body = MALFORMED[i % len(MALFORMED)]
        elif kind == "run":
            jid = "load-%05d" % i
            method, path = "POST", "/run"
            body = json.dumps({"id": jid, "input": {"prompt": "load %d" % i, "height": 32, "width": 32,
                                                    "num_frames": 1, "num_inference_steps": 1, "seed": i}}).encode()
        elif kind == "status":
            method, path, body = "GET", "/status/" + (rng.choice(known) if known else "load-none"), b""
        else:
            method, path, body = "GET", "/" + kind, b""
        for attempt in range(3):
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                code, data, close = await asyncio.wait_for(one(reader, writer, method, path, body), 30)
                break
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as e:
                if writer:
                    writer.close()
                reader = writer = None
                code, data, close = "error:" + type(e).__name__, b"", True
        stats[kind + " " + str(code)] = stats.get(kind + " " + str(code), 0) + 1
        if kind == "run" and code == 200:
            accepted.append(jid)
            known.append(jid)
        if close and writer:
            writer.close()
            reader = writer = None
    if writer:
        writer.close()


async def main():
    queue = asyncio.Queue()
    for i, k in enumerate(plan()):
        queue.put_nowait((i, k))
    stats, accepted, known = {}, [], []
    t0 = time.time()
    await asyncio.gather(*[worker(queue, stats, accepted, known) for _ in range(conc)])
    dt = time.time() - t0
    with open(ids_out, "w") as f:
        f.write("\n".join(accepted))
    print(json.dumps({"requests": sum(stats.values()), "seconds": round(dt, 2),
                      "per_second": round(sum(stats.values()) / dt, 1), "accepted": len(accepted),
                      "codes": dict(sorted(stats.items()))}))


asyncio.run(main())
