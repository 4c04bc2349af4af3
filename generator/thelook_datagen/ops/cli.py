"""The command-line layer of scripts/register-connector and scripts/submit-flink-jobs: options from
the command line and the environment (options.py), progress as `[tool] ...` lines on stdout, one
error line `tool: error: ...` on stderr (after the details worth seeing: a task's trace, the invalid
settings), and the project's exit statuses (console.py). The scripts pass the repository paths
they know (connectors/, flink/), which an installed package cannot compute.
"""
import json
import sys

from .. import console, options
from ..console import EXIT_OK, EXIT_WRONG
from ..errors import UserError
from . import connector, exit_status, flink_jobs

REGISTER = "register-connector"
SUBMIT = "submit-flink-jobs"
EXIT_INTERRUPTED = 130


def _report(tool, err, command):
    for detail in getattr(err, "details", ()):
        sys.stderr.write(str(detail).rstrip("\n") + "\n")
    console.print_error(tool, err, command.flags())
    return exit_status(err)


def _interrupted(tool):
    console.print_error(tool, "interrupted")
    return EXIT_INTERRUPTED


def register_connector(argv=None, default_file=None):
    """scripts/register-connector: create or update the connector (or --delete it, or
    --print-config); returns the exit status."""
    def say(message):
        console.say(REGISTER, message)

    try:
        s = options.parse_connector_settings(argv, default_file=default_file)
        doc = connector.load_document(s.file)
        name, config = connector.apply_overrides(doc, s.name, s.topic_prefix, s.schema, s.slot, s.publication)
        if s.print_config:
            print(json.dumps({"name": name, "config": connector.mask(config)}, indent=2), flush=True)
            return EXIT_OK
        connect = connector.client(s.connect_url)
        if s.delete:
            connector.delete(connect, name, config, reset=s.reset_offsets, timeout=s.timeout, say=say)
        else:
            connector.register(connect, name, config, timeout=s.timeout, settle=s.settle,
                               validate=not s.no_validate, snapshot=s.wait_snapshot, say=say)
        return EXIT_OK
    except UserError as err:
        return _report(REGISTER, err, options.REGISTER_CONNECTOR)
    except KeyboardInterrupt:
        return _interrupted(REGISTER)


def submit_flink_jobs(argv=None, default_sql_dir=None, root=None):
    """scripts/submit-flink-jobs: submit the jobs (or --cancel them, or --explain them); returns the
    exit status. `root`: SQL file paths in messages are shown relative to it."""
    def say(message):
        console.say(SUBMIT, message)

    try:
        s = options.parse_flink_jobs_settings(argv, default_sql_dir=default_sql_dir)
        flink_jobs.check_values(s.topic_prefix, s.schema, s.bootstrap_servers, s.top_products_window,
                                need_servers=not (s.cancel or s.explain))
        jobmanager = flink_jobs.jobmanager_client(s.flink_url)
        gateway = flink_jobs.gateway_client(s.sql_gateway_url)
        values = dict(topic_prefix=s.topic_prefix, schema=s.schema, bootstrap_servers=s.bootstrap_servers,
                      top_products_window=s.top_products_window, only=s.job, timeout=s.timeout, root=root)
        if s.cancel:
            jobmanager.wait_ready("/overview", s.wait, interval=2)
            flink_jobs.cancel_jobs(jobmanager, s.topic_prefix, s.wait, say)
            return EXIT_OK
        if s.explain:
            gateway.wait_ready("/v1/info", s.wait, interval=2)
            for plan in flink_jobs.plan_jobs(gateway, s.sql_dir, **values):
                print(plan.text, flush=True)
                say(f"{plan.name}: planned OK ({plan.statements} statements)")
            return EXIT_OK
        jobmanager.wait_ready("/overview", s.wait, interval=2)
        gateway.wait_ready("/v1/info", s.wait, interval=2)
        result = flink_jobs.submit_jobs(gateway, jobmanager, s.sql_dir, wait=s.wait, say=say, **values)
        lines = flink_jobs.job_lines(flink_jobs.running_jobs(jobmanager), s.ui_url or s.flink_url)
        print("\n".join(lines), flush=True)
        return EXIT_OK if result.ok else EXIT_WRONG
    except UserError as err:
        return _report(SUBMIT, err, options.SUBMIT_FLINK_JOBS)
    except KeyboardInterrupt:
        return _interrupted(SUBMIT)
