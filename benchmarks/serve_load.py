"""Load test of `wrcor serve` (loopback only, bounded): many concurrent clients for a fixed time,
mixing small score requests and jobs, against the CLI's throughput on the same machine.

    python3 benchmarks/serve_load.py                       # 64 clients, 60 s (what the README quotes)
    python3 benchmarks/serve_load.py --clients 8 --seconds 10

It starts `bin/wrcor serve` on a free loopback port with a fresh data directory, runs the clients
(one in eight runs jobs and follows their rows, the others send score requests of one or two
architectures), then waits for what is under way (at most --drain seconds) and checks:
  errors        answers other than 2xx, and exceptions (none expected)
  lost results  a score answer without a row per asked architecture, in order, or a job whose
                streamed rows or status do not cover every architecture (none expected)
It prints p50/p99 latency of the score requests, the server's throughput, and the CLI's
(`bin/wrcor score --sample N`) measured just before with the same settings, and writes the figures
as JSON (--json). Exit status 1 when there were errors or lost results.
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from wrcor_client import Client, WrcorError  # noqa: E402

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def random_cell(rnd):
    e = [rnd.choice(OPS) for _ in range(6)]
    return "|%s~0|+|%s~0|%s~1|+|%s~0|%s~1|%s~2|" % tuple(e)


def percentile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def cli_throughput(n, settings, threads):
    """Architectures per second of `bin/wrcor score --sample n`: over the command's wall time (JVM start
    included), and steady (the rows' own seconds, the first one, with the JIT's warm-up, left out)."""
    args = [os.path.join(ROOT, "bin", "wrcor"), "score", "--sample", str(n), "--seed", "7", "--proxies", ",".join(settings["proxies"]),
            "--threads", str(threads), "--quiet"]
    for k in ("batch", "channels", "cells"):
        if k in settings:
            args += ["--" + k, str(settings[k])]
    t0 = time.time()
    r = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    wall = time.time() - t0
    if r.returncode != 0:
        raise SystemExit("the CLI baseline failed: " + r.stderr[-2000:])
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    if len(rows) != n:
        raise SystemExit("the CLI baseline printed %d rows for %d architectures" % (len(rows), n))
    steady = (n - 1) / sum(row["seconds"] for row in rows[1:]) if n > 1 else float("nan")
    return n / wall, wall, steady


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--drain", type=float, default=600, help="at most this long to wait for requests under way at the end")
    p.add_argument("--threads", type=int, default=2, help="the server's and the CLI's threads")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--cli-archs", type=int, default=30, help="architectures the CLI baseline scores")
    p.add_argument("--json", default=None, help="write the figures here")
    a = p.parse_args()
    if a.clients < 1 or a.seconds <= 0:
        raise SystemExit("--clients must be >= 1 and --seconds > 0")
    settings = {"proxies": ["wrcor"], "batch": a.batch}

    subprocess.run([os.path.join(ROOT, "bin", "wrcor"), "--version"], capture_output=True, timeout=1800)  # builds the jar if needed
    print("CLI baseline: bin/wrcor score --sample %d (batch %d, %d threads) ..." % (a.cli_archs, a.batch, a.threads), flush=True)
    cli_rate, cli_wall, cli_steady = cli_throughput(a.cli_archs, settings, a.threads)
    print("  %.2f arch/s over %.1f s wall, %.2f arch/s steady" % (cli_rate, cli_wall, cli_steady), flush=True)

    data = tempfile.mkdtemp(prefix="wrcor-load-")
    server = subprocess.Popen([os.path.join(ROOT, "bin", "wrcor"), "serve", "--port", "0", "--threads", str(a.threads), "--data-dir", data],
                              stderr=subprocess.PIPE, text=True)
    port = None
    t_start = time.time()
    while port is None and time.time() - t_start < 120:
        line = server.stderr.readline()
        if not line:
            break
        m = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
    if port is None:
        server.kill()
        raise SystemExit("the server did not start")
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()  # drain its stderr
    url = "http://127.0.0.1:%d" % port

    lock = threading.Lock()
    latencies, errors, lost = [], [], []
    counts = {"score_requests": 0, "score_archs": 0, "jobs": 0, "job_archs": 0}
    stop_at = time.time() + a.seconds

    def record_error(what):
        with lock:
            errors.append(what)

    def client_loop(i):
        rnd = random.Random(i)
        c = Client(url, client_id="client-%d" % i, timeout=a.drain + a.seconds + 60)
        jobs_client = i % 8 == 7
        while time.time() < stop_at:
            try:
                if jobs_client:
                    job = c.create_job("score", sample=4, seed=rnd.randrange(1 << 30), **settings)
                    rows = list(c.results(job["id"], follow=True))
                    st = c.job(job["id"])
                    with lock:
                        counts["jobs"] += 1
                        counts["job_archs"] += len(rows)
                    if st["state"] != "done" or len(rows) != st["total"] or len({r["arch"] for r in rows}) != st["total"]:
                        with lock:
                            lost.append("job %s: %s, %d rows of %d" % (job["id"], st["state"], len(rows), st["total"]))
                else:
                    archs = [random_cell(rnd) for _ in range(rnd.choice((1, 2)))]
                    t0 = time.time()
                    rows = c.score(archs, **settings)
                    dt = time.time() - t0
                    ok = len(rows) == len(archs) and all(r["scores"].get("wrcor") is not None for r in rows)
                    with lock:
                        latencies.append(dt)
                        counts["score_requests"] += 1
                        counts["score_archs"] += len(rows)
                        if not ok:
                            lost.append("score request of %d archs got %d rows" % (len(archs), len(rows)))
            except WrcorError as e:
                record_error("%d %s" % (e.status, e.message))
            except Exception as e:  # noqa: BLE001 - every failure counts
                record_error(repr(e))

    print("serve: %d clients for %.0f s on %s ..." % (a.clients, a.seconds, url), flush=True)
    t0 = time.time()
    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1, stop_at + a.drain - time.time()))
    wall = time.time() - t0
    hung = sum(t.is_alive() for t in threads)
    metrics = urllib.request.urlopen(url + "/v1/metrics", timeout=30).read().decode()
    scored = int(float(re.search(r"^wrcor_architectures_scored_total (\S+)", metrics, re.M).group(1)))
    server.terminate()
    try:
        rc = server.wait(timeout=120)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = "killed"

    shutil.rmtree(data, ignore_errors=True)
    served = counts["score_archs"] + counts["job_archs"]
    figures = {
        "clients": a.clients, "seconds": a.seconds, "wall_s": round(wall, 1), "threads": a.threads, "batch": a.batch,
        "score_requests": counts["score_requests"], "jobs": counts["jobs"], "architectures_answered": served, "server_scored": scored,
        "errors": len(errors), "lost_results": len(lost), "clients_still_waiting": hung,
        "latency_p50_s": round(percentile(latencies, 0.5), 2), "latency_p99_s": round(percentile(latencies, 0.99), 2),
        "latency_max_s": round(max(latencies), 2) if latencies else None,
        "server_arch_per_s": round(scored / wall, 3), "cli_arch_per_s_wall": round(cli_rate, 3), "cli_arch_per_s_steady": round(cli_steady, 3),
        "server_vs_cli_wall": round(scored / wall / cli_rate, 2), "server_vs_cli_steady": round(scored / wall / cli_steady, 2), "server_exit": rc,
    }
    print(json.dumps(figures, indent=1))
    for e in errors[:10]:
        print("error:", e)
    for e in lost[:10]:
        print("lost:", e)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 1 if errors or lost or hung or rc != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
