"""uvicorn's HTTP protocol with JSON answers for the requests it refuses before the application sees them.

uvicorn answers a request it cannot parse (a request target over 65,535 bytes, which httptools' URL parser
cannot hold; garbage; with h11, a header block over its limit) itself, with a text/plain 400. These
subclasses keep its parsing and write the project's error body instead. `netzatlas serve` uses them.
"""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

# httptools keeps URL offsets in 16 bits: a longer request target is a parser error, not a request.
MAX_TARGET = 65_535
# Header names and values of one request together; httptools itself sets no limit (h11: its own 16 KiB limit).
MAX_HEADER_BYTES = 64 * 1024


class HeadersTooLarge(Exception):
    pass


def _response(status: int, reason: str, code: str, description: str) -> bytes:
    body = orjson.dumps({"code": code, "description": description})
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def protocol_error(target_length: int, header_bytes: int = 0) -> bytes:
    if header_bytes > MAX_HEADER_BYTES:
        return _response(
            431,
            "Request Header Fields Too Large",
            "RequestHeaderFieldsTooLarge",
            f"the request headers are more than {MAX_HEADER_BYTES:,} bytes",
        )
    if target_length > MAX_TARGET:
        return _response(
            414,
            "URI Too Long",
            "URITooLong",
            f"the request target is {target_length:,} bytes, more than {MAX_TARGET:,}; "
            "send long filters as cql2-json in fewer bytes or narrow the query",
        )
    return _response(400, "Bad Request", "BadRequest", "invalid HTTP request (malformed request line or headers)")


class JsonH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(protocol_error(0))
        self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools missing: uvicorn's "auto" falls back to h11 as well
    JsonHttpProtocol: type = JsonH11Protocol
else:

    class JsonHttpToolsProtocol(HttpToolsProtocol):
        _header_bytes = 0

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_bytes = 0

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_bytes += len(name) + len(value)
            if self._header_bytes > MAX_HEADER_BYTES:
                raise HeadersTooLarge  # httptools turns it into a parser error: send_400_response answers
            super().on_header(name, value)

        def send_400_response(self, msg: str) -> None:
            self.transport.write(protocol_error(len(getattr(self, "url", b"")), self._header_bytes))
            self.transport.close()

    JsonHttpProtocol = JsonHttpToolsProtocol
