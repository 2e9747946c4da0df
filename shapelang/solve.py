"""What `solve` reports, read from an analysed graph: the input sizes' domains and exact sizes
(`checks.input_size_report`), solved by the closed-form arithmetic of `closedform`."""
from __future__ import annotations

from .checks import AxisReport, input_size_report, least_input_hint, unread_rows_hint
from .closedform import (
    Domain,
    describe_set,
    divisibility_condition,
    domains,
    equality_condition,
    least_value,
    pretty,
)

__all__ = ["AxisReport", "Domain", "describe_set", "divisibility_condition", "domains",
           "equality_condition", "input_size_report", "least_input_hint", "least_value",
           "pretty", "unread_rows_hint"]
