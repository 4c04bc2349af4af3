"""Tests of observability/: the Grafana provisioning and dashboard (no service), and every PromQL expression
of the dashboard and the alert rules against the stack's Prometheus (test_promql.py, stack tier).

The expression helpers are promql_exprs.py in this folder; it is registered here as the module
`promql_exprs`, so the test files import it by that name (this folder is not on the import path).
"""
import importlib.util
import sys
from pathlib import Path

if "promql_exprs" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("promql_exprs", Path(__file__).with_name("promql_exprs.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["promql_exprs"] = _module
    _spec.loader.exec_module(_module)
