"""The scan's evaluation on Spark: the same compiled statement (`ejia/rules/sql.py`, dialect
"spark") over the same Parquet export, for a province that outgrows one machine.

Locally (tests, the bench) Spark runs in local mode; on a cluster the export folder is a shared
path (HDFS, object storage) with the files partitioned by `county_code`, and the session comes
from the cluster (`spark-submit`). The result is the same table the DuckDB run gives: one row per
household with `<code>__outcome` and `<code>__amount_fen` per programme.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

TABLES = ("households", "members", "standards")


def local_session(*, threads: int = 2) -> Any:
    """A Spark session in local mode, quiet and small (no UI, few shuffle partitions)."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{threads}]")
        .appName("ejia-discovery")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(threads * 2))
        .config("spark.sql.session.timeZone", "Asia/Shanghai")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )


def evaluate_on_spark(spark: Any, folder: Path, *, on: dt.date, engine: Any) -> list[dict]:
    """Every programme of `engine` over the export in `folder`; rows as dicts, by household."""
    frames = {}
    for table in TABLES:
        frames[table] = spark.read.parquet(str(folder / f"{table}.parquet"))
        frames[table].createOrReplaceTempView(table)
    sql = engine.compile_sql(
        on=on,
        dialect="spark",
        household_columns=frames["households"].columns,
        member_columns=frames["members"].columns,
    )
    return [row.asDict() for row in spark.sql(sql).collect()]
