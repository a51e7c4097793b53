"""The scan's evaluation on Spark: the same compiled statement (`ejia/rules/sql.py`, dialect
"spark") over the same Parquet export, for a province that outgrows one machine.

Locally (tests, the bench) Spark runs in local mode; on a cluster the export folder is a shared
path (HDFS, object storage) with the files partitioned by `county_code`, and the session comes
from the cluster (`spark-submit`). The result is the same table the DuckDB run gives: one row per
household with `<code>__outcome` and `<code>__amount_fen` per programme.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import Any

TABLES = ("households", "members", "standards")


def local_session(*, threads: int = 2, memory: str = "1g", shuffle_partitions: int | None = None) -> Any:
    """A Spark session in local mode, quiet and bounded (no UI, `memory` for the driver, which in
    local mode is also the executor). Partition folders (`county_code=371602`) keep their value
    as a string, as the export's own column is."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{threads}]")
        .appName("ejia-discovery")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions or threads * 2))
        .config("spark.sql.session.timeZone", "Asia/Shanghai")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.driver.memory", memory)
        .getOrCreate()
    )


def result_frame(spark: Any, folder: Path, *, on: dt.date, engine: Any, amounts: Collection[str] | None = None) -> Any:
    """The compiled statement over the export in `folder` as a (lazy) Spark DataFrame. Each table
    is `<table>.parquet`: one file, or a folder of files partitioned by `county_code`. `amounts`
    as `Engine.compile_sql` takes it (the scan's leads need outcomes only: `()`)."""
    frames = {}
    for table in TABLES:
        frames[table] = spark.read.parquet(str(folder / f"{table}.parquet"))
        frames[table].createOrReplaceTempView(table)
    sql = engine.compile_sql(
        on=on,
        dialect="spark",
        household_columns=frames["households"].columns,
        member_columns=frames["members"].columns,
        amounts=amounts,
    )
    return spark.sql(sql)


def evaluate_on_spark(spark: Any, folder: Path, *, on: dt.date, engine: Any) -> list[dict]:
    """Every programme of `engine` over the export in `folder`; rows as dicts, by household
    (collected into the driver: for an area, not a city — write `result_frame` out instead)."""
    return [row.asDict() for row in result_frame(spark, folder, on=on, engine=engine).collect()]
