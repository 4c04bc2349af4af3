"""thelook-dashboard's command line: settings, the start-up line, uvicorn, one-line errors.

The socket is bound here, before uvicorn starts, so that a port in use is one error line and exit
status 2 (uvicorn would log it and exit 1).
"""
import errno
import os
import secrets
import signal
import socket
import sys

from thelook_datagen import console
from thelook_datagen.console import EXIT_CANNOT_RUN, EXIT_OK
from thelook_datagen.errors import UserError

from . import options

TOOL = "thelook-dashboard"


def bind(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} is already in use on {address}",
                            "choose another port with {opt:port} or THELOOK_DASHBOARD_PORT") from None
        raise UserError(f"cannot serve on {address}:{port}: {e.strerror or e}", "check {opt:address}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def write_token(path, token):
    """The token for the generator's --control-token-file (mode 600, replaced atomically)."""
    tmp = f"{path}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.replace(tmp, path)
    except OSError as e:
        raise UserError(f"cannot write the token file {path}: {e.strerror or e}", "check {opt:token_file}") from None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        s = options.parse_settings(argv)
        sock = bind(s.address, s.port)
        token = secrets.token_urlsafe(18)
        if s.token_file:
            write_token(s.token_file, token)
    except UserError as err:
        console.print_error(TOOL, err, options.DASHBOARD.flags())
        return EXIT_CANNOT_RUN

    import uvicorn

    from .app import create_app
    host = "127.0.0.1" if s.address in ("0.0.0.0", "::") else s.address
    shown = f"[{host}]" if ":" in host else host
    console.say(TOOL, f"serving http://{shown}:{s.port}/ (prefix {s.topic_prefix}, schema {s.schema}, "
                      f"controls {'on' if s.controls else 'off'})")
    if s.address not in ("127.0.0.1", "::1", "localhost"):
        console.say(TOOL, f"from other addresses: http://<this host>:{s.port}/?token={token} "
                          "(actions need the token; it changes at every start)")
    config = uvicorn.Config(create_app(s, token), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=3, lifespan="on")
    server = uvicorn.Server(config)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return EXIT_OK
