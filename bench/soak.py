#!/usr/bin/env python3
"""Soak and service-load benchmark of `dec serve` (loopback only, bounded in time and count).

  python3 bench/soak.py [--minutes 10] [--stored 1000] [--clients 50] [--streams 24]

1. A server holding --stored experiments (copies of a real results document written into its
   database) pages through them: GET /api/experiments?limit=100&offset=k, timed against
   GET /api/health on the same server (the reference: the same HTTP path with no store work).
   Goal: every page < 50 ms.
2. One full-rate Redis experiment (workload.rate 0) runs for --minutes while dec's process (and
   its load agents, if any) is sampled every 5 s: RSS, open file descriptors, threads. Goal: RSS
   < 200 MB and flat (< 16 MB more in the last minute than in the first), no descriptor or
   thread growth between the first and the last minute.
3. During the run, --clients threads poll GET /api/experiments/{id} and --streams clients hold
   event streams open (from a process of their own, at nice 10: they stand for remote clients),
   while this process times GET /api/health.
   Goal: health < 100 ms (p99 and max).

Prints each figure with its goal and exits 1 if a goal is missed. Needs build/dec (BUILD_DIR)
and redis-server; root for hosts is not needed (the spec uses the local provider without hosts).
"""
import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEC = os.path.join(os.environ.get("BUILD_DIR", os.path.join(ROOT, "build")), "dec")
SEED_RESULTS = os.path.join(ROOT, "fuzz", "corpus", "results", "redis-two-systems.json")


def get(base, path, timeout=10.0):
    started = time.perf_counter()
    with urllib.request.urlopen(base + path, timeout=timeout) as response:
        body = response.read()
    return time.perf_counter() - started, body


def timed_health(host, port):
    """GET /api/health on a new connection: (seconds to connect, seconds in all)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.connect()
        connected = time.perf_counter()
        connection.request("GET", "/api/health")
        connection.getresponse().read()
        return connected - started, time.perf_counter() - started
    finally:
        connection.close()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def proc_figures(pid):
    """RSS (MB), open fds and threads of a process and its descendants that are dec itself."""
    rss_kb = fds = threads = 0
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids += [int(line.split()[0]) for line in out.splitlines() if line.split()[1:] == ["dec"]]
    except (OSError, IndexError, ValueError):
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        rss_kb += int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
    return rss_kb / 1024.0, fds, threads


def load_clients(base, experiment_id, clients, streams, seconds, stop, polls, stream_bytes):
    """--clients threads polling the experiment's status, --streams holding its event stream.

    They stand for clients on other machines: at nice 10 their own CPU use (74 Python threads)
    yields to the server and the run on this 2-core machine instead of being charged to them."""
    os.nice(10)
    def poller():
        while not stop.is_set():
            try:
                get(base, f"/api/experiments/{experiment_id}", 10)
                with polls.get_lock():
                    polls.value += 1
            except OSError:
                pass
            stop.wait(0.2)

    def streamer():
        try:
            with urllib.request.urlopen(base + f"/api/experiments/{experiment_id}/events", timeout=seconds + 60) as r:
                while not stop.is_set():
                    chunk = r.read1(4096) if hasattr(r, "read1") else r.read(1)
                    if not chunk:
                        break
                    with stream_bytes.get_lock():
                        stream_bytes.value += len(chunk)
        except OSError:
            pass

    threads = [threading.Thread(target=poller, daemon=True) for _ in range(clients)]
    threads += [threading.Thread(target=streamer, daemon=True) for _ in range(streams)]
    for t in threads:
        t.start()
    stop.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--streams", type=int, default=24)
    parser.add_argument("--port", type=int, default=18931)
    args = parser.parse_args()
    if not os.access(DEC, os.X_OK):
        sys.exit(f"no {DEC}: run scripts/build first")
    if args.minutes <= 0 or args.minutes > 120 or not 0 < args.stored <= 100000:
        sys.exit("--minutes must be in (0, 120] and --stored in 1..100000")
    work = tempfile.mkdtemp(prefix="dec-soak-")
    data = os.path.join(work, "data")
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([DEC, "serve", "--listen", f"127.0.0.1:{args.port}", "--data-dir", data],
                              stdout=open(os.path.join(work, "serve.log"), "w"), stderr=subprocess.STDOUT)
    failures = []

    def goal(label, ok, text):
        print(f"  {'ok  ' if ok else 'MISS'} {label}: {text}")
        if not ok:
            failures.append(label)

    try:
        for _ in range(100):
            try:
                get(base, "/api/health", 1.0)
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("dec serve did not answer within 10 s; see " + os.path.join(work, "serve.log"))

        # 1. A store of --stored experiments, written straight into the database.
        with open(SEED_RESULTS) as f:
            results = f.read()
        db = sqlite3.connect(os.path.join(data, "dec.db"), timeout=30)
        spec = json.dumps({"name": "stored", "systems": [{"name": "r", "driver": "redis"}]})
        db.executemany(
            "INSERT INTO experiments (id, name, state, spec_json, results_json, created_at, started_at, finished_at)"
            " VALUES (?, ?, 'succeeded', ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z')",
            [(f"20260101-000000-{i:04x}", f"stored-{i}", spec, results) for i in range(args.stored)])
        db.commit()
        db.close()
        print(f"Store: {args.stored} experiments of {len(results) // 1024} KiB results each")
        # The first pass computes and stores the summaries these rows lack (rows written by dec
        # itself have theirs from the start); it is reported apart from the steady state.
        backfill = [get(base, f"/api/experiments?limit=100&offset={offset}", 60)[0]
                    for offset in range(0, args.stored, 100)]
        pages, health = [], []
        for round_ in range(3):
            for offset in range(0, args.stored, 100):
                pages.append(get(base, f"/api/experiments?limit=100&offset={offset}")[0])
                health.append(get(base, "/api/health")[0])
        print(f"  first pass (summaries computed for rows without one): {max(backfill) * 1000:.1f} ms per page at most")
        p50, worst, ref = statistics.median(pages) * 1000, max(pages) * 1000, statistics.median(health) * 1000
        goal("list paging < 50 ms", worst < 50,
             f"p50 {p50:.1f} ms, max {worst:.1f} ms over {len(pages)} pages of 100; "
             f"health {ref:.2f} ms on the same server ({p50 / ref:.1f}x)")

        # 2. A full-rate experiment for --minutes, sampled every 5 s.
        seconds = int(args.minutes * 60)
        experiment = {"name": "soak", "workload": {"rate": 0, "warmup": "2s", "duration": f"{seconds}s",
                                                   "producers": 2, "consumers": 2, "message_size": "1KiB"},
                      # Streams trimmed to ~1M entries (~1 GiB of 1 KiB messages): at full rate for 10
                      # minutes an untrimmed stream outgrows the machine's memory, and Redis then
                      # refuses writes (counted as send errors) while the machine swaps.
                      "systems": [{"name": "redis", "driver": "redis",
                                   "config": {"pipeline": 32, "maxlen": 1000000}}]}
        request = urllib.request.Request(base + "/api/experiments", data=json.dumps(experiment).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            experiment_id = json.load(response)["id"]
        print(f"Soak: {experiment_id}, full rate for {seconds} s")
        while json.loads(get(base, f"/api/experiments/{experiment_id}")[1]).get("state") in ("queued", "provisioning", "deploying"):
            time.sleep(0.5)

        # The load clients run in a process of their own: in this one, 74 Python threads would
        # hold the interpreter lock while the health request below waits for it, and the figure
        # would be the client's queueing, not the server's answer.
        stop = multiprocessing.Event()
        polls = multiprocessing.Value("q", 0)
        stream_bytes = multiprocessing.Value("q", 0)
        load = multiprocessing.Process(target=load_clients, daemon=True,
                                       args=(base, experiment_id, args.clients, args.streams, seconds,
                                             stop, polls, stream_bytes))
        load.start()
        # Sampling starts once the clients are connected (their sockets are part of the figures).
        for _ in range(100):
            if stream_bytes.value > 0 and polls.value > args.clients:
                break
            time.sleep(0.1)
        samples, health, connects = [], [], []
        deadline = time.monotonic() + seconds + 120
        next_sample = 0.0
        while time.monotonic() < deadline:
            state = json.loads(get(base, f"/api/experiments/{experiment_id}")[1]).get("state")
            if state in ("succeeded", "failed", "cancelled"):
                break
            connect_s, total_s = timed_health("127.0.0.1", args.port)
            health.append(total_s)
            connects.append(connect_s)
            if time.monotonic() >= next_sample:
                samples.append((time.monotonic(),) + proc_figures(server.pid))
                next_sample = time.monotonic() + 5
            time.sleep(0.1)
        stop.set()
        load.join(timeout=30)
        final = json.loads(get(base, f"/api/experiments/{experiment_id}")[1])
        print(f"  experiment {final.get('state')}; {polls.value} status polls by {args.clients} clients, "
              f"{stream_bytes.value // 1024} KiB read by {args.streams} event streams")
        if final.get("results"):
            run = final["results"]["runs"][0]
            print(f"  {run['throughput']['consumed_msgs_per_s']:.0f} msg/s consumed, delivery "
                  f"{run['delivery']['sent']} sent / {run['delivery']['acked']} acked / "
                  f"{run['delivery']['received']} received / {run['delivery']['send_errors']} send errors / "
                  f"{run['delivery']['lost']} lost")
        goal("experiment succeeded", final.get("state") == "succeeded", str(final.get("error") or final.get("state")))
        if len(samples) >= 2:
            rss = [s[1] for s in samples]
            fds = [s[2] for s in samples]
            thr = [s[3] for s in samples]
            minute = max(1, int(60 / 5))
            # Floors, not peaks: a leaked descriptor raises the lowest count of a minute, while the
            # clients' connections in flight only raise its peak.
            growth_fd = min(fds[-minute:]) - min(fds[:minute])
            growth_thr = max(thr[-minute:]) - max(thr[:minute])
            per_minute = ", ".join(f"{rss[i]:.0f}" for i in range(0, len(rss), minute))
            print(f"  dec RSS by minute (MB): {per_minute}")
            goal("dec RSS < 200 MB", max(rss) < 200,
                 f"start {rss[0]:.1f} MB, peak {max(rss):.1f} MB, end {rss[-1]:.1f} MB ({len(samples)} samples)")
            growth_rss = max(rss[-minute:]) - max(rss[:minute])
            goal("dec RSS flat", growth_rss < 16,
                 f"last minute vs first: {growth_rss:+.1f} MB (goal < 16 MB)")
            goal("no descriptor growth", growth_fd <= 2,
                 f"fds start {fds[0]}, peak {max(fds)}, end {fds[-1]} "
                 f"(lowest of the last minute vs the first: {growth_fd:+d})")
            goal("no thread growth", growth_thr <= 2,
                 f"threads start {thr[0]}, peak {max(thr)}, end {thr[-1]} (last minute vs first: {growth_thr:+d})")
        if health:
            goal("health < 100 ms under load", max(health) < 0.1,
                 f"p50 {statistics.median(health) * 1000:.1f} ms, p99 {percentile(health, 99) * 1000:.1f} ms, "
                 f"max {max(health) * 1000:.1f} ms over {len(health)} requests")
            slowest = sorted(zip(health, connects), reverse=True)[:5]
            print("  slowest health requests (all / of which connecting, ms): " +
                  ", ".join(f"{t * 1000:.0f} / {c * 1000:.0f}" for t, c in slowest))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        subprocess.run([DEC, "reconcile", "--data-dir", data], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
