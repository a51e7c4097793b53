"""Benchmark: every hostile workbook of the generator, and a legitimate big one, through the scan.

Usage:
  .venv/bin/python bench/bench_hostile_xlsx.py [--rows 200000] [--only KIND ...]

Each file is opened in a fresh process (so the peak resident memory is that file's alone) with
`open_table` — the scan of every zip member, then the reader — and the rows are read to the
end if the file is accepted. Prints per file: the refusal code, seconds and peak RSS (the bare
process with Django loaded is printed first as the baseline). Targets: every hostile file
refused within 10 s and 512 MB. Then a valid workbook of --rows rows (inline strings, the
婚姻及死亡登记 layout): its size, the scan alone, and scan + read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def measure_one(path: str, mode: str) -> None:
    import django

    django.setup()
    from ejia.verification.files import FileRefused, open_table
    from ejia.verification.xlsx import scan_xlsx

    start = time.perf_counter()
    code, rows = "accepted", 0
    try:
        if mode == "scan":
            with open(path, "rb") as fh:
                scan_xlsx(fh)
        elif mode == "open":
            table = open_table(Path(path))
            rows = sum(1 for _ in table.rows)
    except FileRefused as exc:
        code = exc.code
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent that forked us.
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    print(json.dumps({"code": code, "seconds": seconds, "peak_mb": peak, "rows": rows}))


def run_child(path: Path | str, mode: str = "open") -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), mode], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def big_workbook(directory: Path, rows: int) -> Path:
    from ejia.verification.tests.hostile_xlsx import HEADER, ROW, package, sheet_xml, write

    cells = "".join(f'<c r="{chr(65 + c)}{{r}}" t="inlineStr"><is><t>{v}</t></is></c>' for c, v in enumerate(ROW))
    body = ['<row r="1">' + "".join(f'<c r="{chr(65 + c)}1" t="inlineStr"><is><t>{v}</t></is></c>' for c, v in enumerate(HEADER)) + "</row>"]  # fmt: skip
    body += [f'<row r="{r}">' + cells.replace("{r}", str(r)) + "</row>" for r in range(2, rows + 2)]
    return write(directory / "big.xlsx", package(sheet_xml("".join(body))))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        measure_one(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()

    import django

    django.setup()
    from ejia.verification.tests.hostile_xlsx import KINDS

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        base = run_child("/dev/null", "none")
        print(f"baseline process (Django loaded): peak {base['peak_mb']:.0f} MB")
        print(f"{'kind':26} {'refused as':18} {'size':>10} {'seconds':>8} {'peak MB':>8}")
        worst_s = worst_mb = 0.0
        failures = []
        for kind, (build, expected) in sorted(KINDS.items()):
            if args.only and kind not in args.only:
                continue
            path = build(directory)
            result = run_child(path)
            worst_s, worst_mb = max(worst_s, result["seconds"]), max(worst_mb, result["peak_mb"])
            ok = result["code"] == expected and result["seconds"] <= 10 and result["peak_mb"] <= 512
            if not ok:
                failures.append(kind)
            print(
                f"{kind:26} {result['code']:18} {path.stat().st_size:>10,} {result['seconds']:>8.3f} "
                f"{result['peak_mb']:>8.0f}{'' if ok else '  FAIL'}"
            )
            path.unlink()
        print(
            f"hostile files: {len(KINDS)}; slowest {worst_s:.3f} s, highest peak {worst_mb:.0f} MB; failures: {failures or 'none'}"
        )

        if args.rows and not args.only:
            path = big_workbook(directory, args.rows)
            scan = run_child(path, "scan")
            full = run_child(path, "open")
            print(
                f"legit workbook: {args.rows:,} rows, {path.stat().st_size / 1048576:.1f} MB; "
                f"scan {scan['seconds']:.2f} s (peak {scan['peak_mb']:.0f} MB, {scan['code']}); "
                f"scan + read {full['seconds']:.2f} s (peak {full['peak_mb']:.0f} MB, {full['rows']:,} rows)"
            )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
