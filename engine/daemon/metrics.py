"""Prometheus metrics of a daemon: claimed, sent, failed, retried, unknown, fallbacks, lag."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from engine.daemon.outcome import Outcome

_LAG_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, float("inf"))


class Metrics:
    """The daemon's counters, in their own registry (so tests and several daemons in one
    process never collide); `serve(port)` exposes them at http://host:port/metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.claimed = Counter("payjourney_steps_claimed", "Due steps claimed", registry=r)
        self.outcomes = Counter(
            "payjourney_steps", "Claimed steps by outcome", ["outcome"], registry=r
        )
        self.unknown = Counter(
            "payjourney_messages_unknown", "Sends whose outcome is unknown", registry=r
        )
        self.fallbacks = Counter(
            "payjourney_fallbacks", "Sends moved to the next channel", registry=r
        )
        self.lag = Histogram(
            "payjourney_due_step_lag_seconds",
            "Seconds between a step's send time and its claim",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.rules_reloads = Counter(
            "payjourney_rules_reloads", "Rule reloads by result", ["result"], registry=r
        )
        self.statement_files = Counter(
            "payjourney_statement_files",
            "Statement files taken from the watched folder, by result (imported, failed, retried)",
            ["result"],
            registry=r,
        )
        self.statement_files_failed = Gauge(
            "payjourney_statement_files_failed",
            "Statement files in the folder's failed/, waiting for a person",
            registry=r,
        )
        self.last_tick = Gauge(
            "payjourney_last_dispatch_timestamp", "When the last dispatch pass ended", registry=r
        )

    def count(self, outcome: Outcome) -> None:
        self.outcomes.labels(outcome=outcome.value).inc()
        if outcome is Outcome.UNKNOWN:
            self.unknown.inc()

    def value(self, outcome: Outcome) -> float:
        value = self.registry.get_sample_value("payjourney_steps_total", {"outcome": outcome.value})
        return float(value or 0.0)

    def serve(self, port: int, addr: str = "127.0.0.1") -> Callable[[], None]:
        """Serve /metrics on a thread; returns the function that stops it."""
        server, thread = start_http_server(port, addr=addr, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop
