import logging

from ejia.core.logging import MaskIdNumbersFilter


def test_log_lines_mask_id_numbers():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "lookup %s", ("37160219800101001X",), None)
    MaskIdNumbersFilter().filter(record)
    assert record.getMessage() == "lookup 371602********001X"
