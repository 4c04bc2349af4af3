"""What every Kafka client of the package shares: librdkafka's own log kept off stderr, and its
errors reduced to one line.

librdkafka prints every failed connection attempt (`%3|...|FAIL|rdkafka#consumer-1| ...`) to
stderr by default; our commands report the outcome once, in their own words, instead.
"""
import logging


def quiet_logger():
    """A logger for the client's `logger` setting that drops librdkafka's log lines."""
    logger = logging.getLogger("thelook_datagen.kafka")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def reason(exc):
    """One line from a KafkaException (or any exception)."""
    err = exc.args[0] if getattr(exc, "args", None) else exc
    text = err.str() if hasattr(err, "str") else str(err)
    return " ".join(text.split())
