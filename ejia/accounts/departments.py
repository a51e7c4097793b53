"""The 17 units of the model catalogue (shared/domain/DOMAIN.md §6)."""

from __future__ import annotations

# (code, name, short name, kind, public phone placeholder shown on programme pages)
DEPARTMENTS: list[tuple[str, str, str, str]] = [
    ("mz", "民政局", "民政", "government"),
    ("jy", "教育局", "教育", "government"),
    ("rs", "人力资源和社会保障局", "人社", "government"),
    ("zj", "住房和城乡建设局", "住建", "government"),
    ("yb", "医疗保障局", "医保", "government"),
    ("wj", "卫生健康委员会", "卫健", "government"),
    ("cl", "残疾人联合会", "残联", "mass"),
    ("yj", "应急管理局", "应急", "government"),
    ("tyjr", "退役军人事务局", "退役军人", "government"),
    ("sf", "司法局", "司法", "government"),
    ("nync", "农业农村局", "农业农村", "government"),
    ("zzb", "市委组织部", "组织部", "party"),
    ("zgh", "市总工会", "总工会", "mass"),
    ("tw", "共青团市委", "团市委", "mass"),
    ("fl", "市妇女联合会", "妇联", "mass"),
    ("csh", "市慈善总会", "慈善总会", "social"),
    ("hsh", "市红十字会", "红十字会", "social"),
]
