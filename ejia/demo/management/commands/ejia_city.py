"""Generate the synthetic city to Parquet + department files (no database needed)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ejia.demo.city import generate_city


def format_summary(summary: dict) -> list[str]:
    lines = [
        f"城市规模 {summary['scale']}（seed {summary['seed']}）→ {summary['out_dir']}",
        f"  persons {summary['persons']:,}  households {summary['households']:,}  "
        f"villages with households {summary['villages_with_households']:,}",
        "  shares:",
    ]
    for key, value in summary["shares"].items():
        if isinstance(value, float) and value < 1:
            lines.append(f"    {key:<36} {value:8.3%}")
        else:
            lines.append(f"    {key:<36} {value:>8}")
    lines.append("  department files (rows):")
    for source, rows in summary["departments"].items():
        lines.append(f"    {source:<20} {rows:>12,}")
    lines.append(f"  cpu seconds (all threads): {summary.get('cpu_seconds')}")
    lines.append("  timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in summary["timings"].items()))
    return lines


class Command(BaseCommand):
    help = "Generate the deterministic synthetic city (persons, households, members, department exports)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", default="demo", help="demo (~20,000 persons), full (~3.9 M) or a number")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--out", default=None, help="output directory (default var/city/<scale>/)")
        parser.add_argument("--no-xlsx", action="store_true", help="skip the XLSX copies of department files")
        parser.add_argument("--no-csv", action="store_true", help="skip the department CSV files")

    def handle(self, *args, **options):
        scale = options["scale"]
        try:
            summary = generate_city(
                int(scale) if str(scale).isdigit() else scale,
                options["seed"],
                options["out"],
                xlsx=False if options["no_xlsx"] else None,
                csv=not options["no_csv"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for line in format_summary(summary):
            self.stdout.write(line)
