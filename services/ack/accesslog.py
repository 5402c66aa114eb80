"""The ack HTTP server's logs, which never write acknowledgement tokens or callback
secrets: an access log without their query strings, and aiohttp's bad-request errors
without the raw request line."""

from __future__ import annotations

import logging
import posixpath
import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import BaseRequest, StreamResponse

# Query strings under these paths carry credentials: /ack?t=… lets anyone acknowledge for
# the recipient, provider callbacks carry ?token=…. Matched as prefixes of the path with
# case, repeated slashes and dot segments folded, so /ACK, //ack/ or /./ack (404s that
# still carry a token) stay out of the log too; hiding a harmless query costs nothing.
PRIVATE_QUERY_PREFIXES = ("/ack", "/callbacks")
_SLASHES = re.compile(r"/+")


def loggable_target(request: BaseRequest) -> str:
    """The request's path, with its query string only where it holds no credentials."""
    path, query = request.rel_url.raw_path, request.rel_url.raw_query_string
    folded = posixpath.normpath(_SLASHES.sub("/", request.path.lower()))
    if not query or folded.startswith(PRIVATE_QUERY_PREFIXES):
        return path
    return f"{path}?{query}"


class TokenlessAccessLogger(AbstractAccessLogger):
    """Method, target (see loggable_target), status, body size and time of each request;
    no client address, referrer or user agent."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '"%s %s" %d %d %.3fs',
            request.method,
            loggable_target(request),
            response.status,
            response.body_length,
            time,
        )

    @property
    def enabled(self) -> bool:
        """Whether the logger writes INFO records at all (aiohttp skips the call if not)."""
        return self.logger.isEnabledFor(logging.INFO)


class BadRequestWithoutDetail(logging.Filter):
    """aiohttp logs a request it cannot parse as an ERROR with the parser's exception, whose
    message quotes the raw request line, token included. Such a record keeps its text and
    the exception's name, loses the detail, and is at most a WARNING: the client erred."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = f"{record.getMessage()}: unparsable request ({type(error).__name__})"
            record.args = None
            record.exc_info = record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def server_logger(name: str = "duban.ack.http") -> logging.Logger:
    """The logger for aiohttp's server errors, with BadRequestWithoutDetail on it."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, BadRequestWithoutDetail) for f in logger.filters):
        logger.addFilter(BadRequestWithoutDetail())
    return logger
