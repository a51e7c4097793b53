"""The population the catalogue editor's live count runs over, for the demo city.

The catalogue asks the module named by `settings.EJIA_COUNT_POPULATION` for two things:
`cache_key()` (changes when the data changes) and `load()` → (description, households, members)
as Arrow tables. Until the registry exports its households to the bulk tables, the demo city is
the only provider: the Parquet files written by `manage.py ejia_city` if present, else the same
city generated in memory (about a second). Keeping it here means no production app imports the
synthetic city.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def city_folder() -> Path:
    return Path(settings.VAR_DIR) / "city" / "demo"


def _files() -> tuple[Path, Path]:
    folder = city_folder()
    return folder / "households.parquet", folder / "members.parquet"


def cache_key() -> str:
    files = _files()
    if all(f.exists() for f in files):
        return "parquet:" + ":".join(str(f.stat().st_mtime_ns) for f in files)
    return "memory"


def load() -> tuple[str, object, object]:
    files = _files()
    if not all(f.exists() for f in files):
        from ejia.demo.city import build_city

        city = build_city("demo")
        return (
            "合成演示城市（系统按需生成的虚构人口，与真实居民无关）",
            city["households"].to_arrow(),
            city["members"].to_arrow(),
        )
    import pyarrow.parquet as pq

    folder = city_folder()
    try:
        shown = folder.relative_to(settings.BASE_DIR)
    except ValueError:
        shown = folder
    return (
        f"合成演示城市（{shown} 中的虚构人口，与真实居民无关）",
        pq.read_table(files[0]),
        pq.read_table(files[1]),
    )
