"""Entry point of `thelook-datagen` (and dispatcher of `thelook-datagen verify ...`): the only layer
that turns errors into lines and exit codes (console.py)."""
import signal
import sys
import time

from .console import EXIT_CANNOT_RUN, print_error
from .errors import Stopped, UserError


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "verify":
        from .verify.cli import main as verify_main  # loaded only when asked for
        return verify_main(argv[1:])
    from .options import GENERATOR
    try:
        return run(argv)
    except UserError as e:
        print_error("thelook-datagen", e, GENERATOR.flags())
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        return 130


def run(argv):
    from .metrics import start_metrics
    from .options import parse_settings
    from .stats import Log, Stats

    settings = parse_settings(argv)
    log = Log(settings.log_format, settings.quiet)
    if settings.seed is None:
        settings.seed = int.from_bytes(__import__("os").urandom(4), "big")
    stats = Stats(settings.avg_qps)
    # Until the run loop takes over, SIGTERM behaves like Ctrl-C: stop without a traceback.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    metrics = start_metrics(settings, stats, log)   # bound before anything is written: a port in use stops here
    try:
        if metrics is not None:
            log.info(f"Prometheus metrics on {metrics.url}")
            if metrics.control is not None:
                who = "loopback clients" + (f", others with the token in {settings.control_token_file}"
                                            if settings.control_token_file else " only")
                log.info(f"rate control on {metrics.control_url} ({who})")
        return _run(settings, log, stats, metrics)
    except KeyboardInterrupt:
        log.warn("interrupted before the run started")
        return 0
    finally:
        if metrics is not None:
            metrics.close()


def _run(settings, log, stats, metrics=None):
    import psycopg2

    from .db.setup import first_line, prepare_schema
    from .db.writer import describe_target, open_connection
    from .runner import StopFlag, build_runner
    from .sim.lifecycle import Delays
    from .topics import ensure_topics, topic_names

    conn = open_connection(settings.conn_kw)
    if settings.create_topic:
        names = topic_names(settings.topic_prefix, settings.schema)
        created, existing = ensure_topics(settings.bootstrap_servers, names, settings.topic_partitions,
                                          settings.topic_replication_factor, settings.topic_config,
                                          settings.kafka_config, settings.kafka_timeout)
        log.info(f"Kafka topics on {settings.bootstrap_servers}: {len(created)} created, "
                 f"{len(existing)} already there ({settings.topic_prefix}.{settings.schema}.*)")
    delays = Delays.for_scale(settings.time_scale)
    try:
        done = prepare_schema(conn, settings.schema, settings.if_exists, time.time(),
                              delays.initial_stock_age, log)
        if done["loaded"]:
            log.info("loaded " + ", ".join(f"{n} {t}" for t, n in done["loaded"].items()))
            if metrics is not None:
                metrics.collector.loaded("reference", done["loaded"])
        log.info(f"PostgreSQL {describe_target(settings.conn_kw)}, schema {settings.schema}, "
                 f"seed {settings.seed}")
        if settings.backfill_days:
            from .backfill import run_backfill
            history = run_backfill(conn, settings, log)
            if metrics is not None:
                metrics.collector.loaded("backfill", history["tables"])
        stop = StopFlag()
        stop.install()
        runner = build_runner(conn, settings, log, stop, stats=stats,
                              control=None if metrics is None else metrics.control)
    except psycopg2.errors.InsufficientPrivilege as e:
        raise UserError(f"missing privilege in database: {first_line(e)}") from None
    except psycopg2.OperationalError as e:
        raise UserError(f"PostgreSQL failed during setup: {first_line(e)}") from None
    target = "flat out" if not settings.avg_qps else f"{settings.avg_qps:g} visits/s"
    log.info(f"streaming visits at {target}" +
             ("" if settings.max_iter < 0 else f", {settings.max_iter} visits") +
             f"; lifecycle time scale {settings.time_scale:g}")
    try:
        summary = runner.run()
    except Stopped:
        summary = runner.stats.snapshot(final=True)
    except UserError:
        log.summary(runner.stats.snapshot(final=True))  # what was written before giving up
        if metrics is not None:
            metrics.run_finished()
        raise
    log.summary(summary)
    if metrics is not None:
        metrics.run_finished()
        if settings.metrics_linger:
            stop.stop = False                 # a signal now ends the linger, not the run (that is over)
            log.info(f"serving the final counts on {metrics.url} for {settings.metrics_linger:g} s")
            metrics.linger(settings.metrics_linger, stop)
    return 0
