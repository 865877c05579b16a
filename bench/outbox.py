"""Outbound messages at saturation: `message.send` tasks through the outbox to a loopback Slack that
speaks chat.postMessage. Messages delivered per second and queued → delivered latency (the outbox row's
created_at → sent_at), and whether each arrived exactly once (the loopback Slack counts them)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from bench.tasks import FINAL, EmmaClient, _stats_ms, _wait, percentile

CHANNEL = "C0BENCH"


class Slack:
    """chat.postMessage on loopback: answers ok with a fresh ts, and counts every text it is sent."""

    def __init__(self):
        received = self.received = Counter()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    fields = json.loads(raw or "{}")
                else:
                    fields = {key: values[0] for key, values in parse_qs(raw).items()}
                with lock:
                    received[fields.get("text", "")] += 1
                body = json.dumps({"ok": True, "channel": fields.get("channel", CHANNEL),
                                   "ts": f"{time.time():.6f}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def environment(self) -> dict:
        return {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": self.url,
                "INTEGRATIONS_SLACK_RATE_PER_SEC": "100000"}

    def stop(self):
        self.server.shutdown()


def run(report: dict, emma: EmmaClient, slack: Slack, *, messages: int, alive=None) -> None:
    tag = f"bench-{uuid.uuid4().hex[:8]}-outbox"
    with emma.http() as client:
        for first in range(0, messages, 100):
            response = client.post("/api/tasks/batch", json={"tasks": [
                {"task_type": "message.send", "description": tag,
                 "parameters": {"channel": "slack", "to": CHANNEL, "text": f"{tag} {first + n}"}}
                for n in range(min(100, messages - first))]})
            if response.status_code != 202 or {t["decision"] for t in response.json()["tasks"]} != {"allow"}:
                raise RuntimeError(f"message.send was not allowed: {response.text[:300]}")
    done, _ = _wait(lambda: sum(emma.counts(tag).get(s, 0) for s in FINAL) >= messages, timeout=600,
                    interval=0.2, alive=alive)
    rows = emma.db.execute(
        """SELECT extract(epoch FROM m.sent_at - m.created_at) * 1000, extract(epoch FROM m.sent_at),
                  extract(epoch FROM m.created_at)
           FROM integrations_outboundmessage m JOIN emma_agenttask t ON t.id = m.task_id
           WHERE t.description = %s AND m.status = 'sent'""", [tag]).fetchall()
    latency = [float(row[0]) for row in rows]
    span = (max(float(r[1]) for r in rows) - min(float(r[2]) for r in rows)) if rows else 0
    arrived = {text: count for text, count in slack.received.items() if text.startswith(tag)}
    stats = _stats_ms(latency)
    stats["p99_ms"] = None if not latency else round(percentile(latency, 99), 1)
    report["outbox"] = {
        "messages": messages, "sent": len(rows), "all_final": bool(done), "per_second": round(len(rows) / span, 1)
        if span else None, "queued_to_sent": stats, "arrived": sum(arrived.values()), "distinct": len(arrived),
        "duplicates": sum(count - 1 for count in arrived.values() if count > 1), "statuses": emma.counts(tag),
    }
