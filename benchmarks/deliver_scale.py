"""Benchmark: delivery workers sharing the outbox on PostgreSQL, against a target that answers slowly.

The same changes are delivered by 1, 2, 4 and 8 workers (`hub deliver --workers N`) through the
webhook target to a local HTTP receiver that answers each request after a fixed delay (20 ms by
default, as a real ENT does). The receiver is cheap (a thread per request that sleeps), so on a
small machine the workers mostly wait on the network, as they would in production. It counts
every request, so a change sent twice or lost fails the benchmark. Two changes per entity, far
apart in the outbox, keep the per-entity ordering rule in play.

    python benchmarks/deliver_scale.py --changes 100000
    python benchmarks/deliver_scale.py --changes 100000 --workers 1   # or in parts: the runs are merged

Needs PostgreSQL (``--database-url``; a schema of its own is created and dropped). Writes
benchmarks/results/deliver_scale_<changes>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, text

HERE = Path(__file__).parent
HUB = str(Path(sys.executable).with_name("hub"))
sys.path[:0] = [str(HERE)]

from measure import measured  # noqa: E402

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Receiver(ThreadingHTTPServer):
    """A target system that takes each change after ``delay`` seconds, and notes every one it got."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, delay: float):
        super().__init__(("127.0.0.1", 0), _Answer)
        self.delay, self.keys, self.lock = delay, [], threading.Lock()
        self.first = self.last = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"

    def took(self, key: str) -> None:
        with self.lock:
            self.keys.append(key)
            self.first = self.first or time.perf_counter()
            self.last = time.perf_counter()


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the webhook target reuses one connection per worker
    disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart (delayed ACK)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.server.delay)
        self.server.took(self.headers.get("Idempotency-Key", ""))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def queue_changes(db_url: str, changes: int, label: str) -> None:
    """``changes`` pending rows for the webhook target, two per person, the second far behind the first."""
    people = max(1, changes // 2)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("delete from outbox"))
        conn.execute(
            text("""
            insert into outbox (target, entity, op, key, idempotency_key, status, attempts, next_attempt_at,
                                created_at)
            select 'webhook', 'person', 'update', 'bench:' || (g % :people), :label || ':' || g, 'pending', 0,
                   now() at time zone 'utc', now() at time zone 'utc'
            from generate_series(1, :changes) as g"""),
            {"people": people, "label": label, "changes": changes},
        )
    engine.dispose()


def pending(db_url: str) -> int:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        count = conn.execute(text("select count(*) from outbox where status <> 'delivered'")).scalar()
    engine.dispose()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--delay", type=float, default=0.02, help="the receiver's answer time, seconds")
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts to measure, comma-separated")
    parser.add_argument("--claim-batch", type=int, default=50, help="[delivery] batch_size: rows per claim")
    parser.add_argument("--database-url", default=os.environ.get("HUB_TEST_POSTGRES", POSTGRES))
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"create schema {schema}"))
    db_url = f"{args.database_url}?options=-csearch_path%3D{schema}"
    receiver = Receiver(args.delay)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="hub-bench-deliver-scale-"))
    (work / "hub.toml").write_text(
        textwrap.dedent(f"""\
        [plugins]
        enabled = ["webhook"]
        [plugins.webhook]
        url = "{receiver.url}"
        [delivery]
        batch_size = {args.claim_batch}
        """)
    )
    env = {"HUB_CONFIG": str(work / "hub.toml"), "HUB_DATABASE_URL": db_url}
    runs = []
    try:
        measured([HUB, "db", "upgrade"], env)
        for workers in counts:
            queue_changes(db_url, args.changes, f"w{workers}")
            receiver.keys, receiver.first, receiver.last = [], 0.0, 0.0
            step = measured([HUB, "deliver", "--workers", str(workers)], env)
            sent = receiver.keys
            if len(sent) != args.changes or len(set(sent)) != args.changes or pending(db_url):
                raise SystemExit(
                    f"{workers} workers: {len(sent)} requests for {len(set(sent))} distinct changes "
                    f"of {args.changes}, {pending(db_url)} left undelivered"
                )
            run = {
                "workers": workers,
                "seconds": step["seconds"],
                "peak_rss_mib": step["peak_rss_mib"],
                "changes_per_second": round(args.changes / step["seconds"], 1),
                "receiving_seconds": round(receiver.last - receiver.first, 2),
                "load_average_1m": round(os.getloadavg()[0], 1),  # other work on the machine skews the numbers
            }
            runs.append(run)
            print(json.dumps(run), flush=True)
    finally:
        receiver.shutdown()
        with admin.connect() as conn:
            conn.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()
    ideal = round(1 / args.delay, 1)
    out = HERE / "results" / f"deliver_scale_{args.changes}.json"
    runs = _with_earlier_runs(out, args, runs)
    result = {
        "benchmark": "deliver_scale",
        "changes": args.changes,
        "receiver_delay_seconds": args.delay,
        "claim_batch": args.claim_batch,
        "one_worker_ceiling_changes_per_second": ideal,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "runs": runs,
        "note": "seconds: the whole `hub deliver --workers N` command, process start-up included; "
        "receiving_seconds: first to last request at the receiver",
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


def _with_earlier_runs(out: Path, args, runs: list[dict]) -> list[dict]:
    """These runs, and those of other worker counts that an earlier invocation with the same settings wrote
    (``--workers 1`` then ``--workers 2,4,8``: a long benchmark in parts); speed-ups against one worker."""
    earlier = json.loads(out.read_text()) if out.exists() else {}
    same = all(earlier.get(k) == v for k, v in (("receiver_delay_seconds", args.delay),
                                                ("claim_batch", args.claim_batch)))
    merged = {run["workers"]: run for run in (earlier.get("runs", []) if same else []) + runs}
    one = merged.get(1)
    for run in merged.values():
        run["speed_up"] = round(one["seconds"] / run["seconds"], 2) if one else None
    return [merged[n] for n in sorted(merged)]


if __name__ == "__main__":
    main()
