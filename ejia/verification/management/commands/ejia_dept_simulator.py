from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ejia.verification.simulator import Behaviour, DatabaseProvider, MemoryProvider, make_server, parse_pairs


class Command(BaseCommand):
    help = (
        "Run the department data simulator on loopback: answers the online adapter from the committed "
        "snapshots (or the demo city's department files) with configurable latency and failures."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="loopback only")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--latency-ms", type=int, default=50)
        parser.add_argument("--failure-rate", type=float, default=0.0, help="share of requests answered 503")
        parser.add_argument("--slow-sources", default="bank=2000", help="extra latency per source (prefix=ms,…)")
        parser.add_argument("--fail-first", default="", help="fail the first N requests of a source (code=N,…)")
        parser.add_argument("--city-dir", type=Path, help="serve the demo city's department files from this directory")
        parser.add_argument("--preload", action="store_true", help="load the committed snapshots into memory first")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, host, port, latency_ms, failure_rate, slow_sources, fail_first, city_dir, preload, seed, **options):  # fmt: skip
        if city_dir:
            provider = MemoryProvider.from_city_dir(city_dir)
        elif preload:
            provider = MemoryProvider.from_committed_snapshots()
        else:
            provider = DatabaseProvider()
        behaviour = Behaviour(
            latency_ms=latency_ms,
            failure_rate=failure_rate,
            slow=parse_pairs(slow_sources),
            fail_first=parse_pairs(fail_first),
            seed=seed,
        )
        try:
            server = make_server(provider, behaviour, host=host, port=port)
        except ValueError as exc:
            raise CommandError(f"模拟器只允许监听本机回环地址：{exc}") from None
        self.stdout.write(
            f"department simulator on http://{host}:{server.server_address[1]} "
            f"(sources: {len(server.known)}, latency {latency_ms} ms, failure rate {failure_rate}, slow {behaviour.slow})"
        )
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
