"""gzip for wire documents: deterministic compression, and decompression that never outgrows a limit.

Every document qaas reads may come from someone else (a request uploaded by a user, a result file on the cluster, an
answer of a hostile server), so decompression is streamed and stops as soon as the output passes the caller's
limit. The expanded size is measured first, keeping nothing, so a 3 MB gzip bomb is refused holding one 1 MiB chunk
(never ``limit`` bytes, let alone its 4 GB expansion): a long-running service fed bombs does not grow.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import Final

from qaas_core._errors import PayloadError

__all__ = ["GZIP_MAGIC", "compress", "decompress_limited", "is_gzip", "maybe_decompress"]

GZIP_MAGIC: Final = b"\x1f\x8b"
_CHUNK: Final = 1 << 20


def is_gzip(data: bytes) -> bool:
    """True when ``data`` starts with the gzip magic bytes."""
    return data[:2] == GZIP_MAGIC


def compress(data: bytes) -> bytes:
    """gzip ``data`` reproducibly (level 6, no timestamp): the same document always gives the same bytes."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def decompress_limited(data: bytes, limit: int, what: str) -> bytes:
    """Decompress gzip ``data`` (one or more members), refusing to produce more than ``limit`` bytes.

    Two passes: the first checks the stream and counts its expanded size keeping nothing, the second keeps the
    output, so what is refused never costs more than one chunk of memory. The extra inflation costs about 4 ms per MB
    of output on the 2-core test machine (a 40 MB document: 0.38 s instead of 0.17 s).

    Raises:
        PayloadError: the data is not valid gzip, or it expands beyond ``limit`` bytes (the message names ``what``
            and the limit).
    """
    for _ in _inflate(data, limit, what):
        pass
    return b"".join(_inflate(data, limit, what))


def _inflate(data: bytes, limit: int, what: str) -> Iterator[bytes]:
    """The decompressed chunks of ``data`` (at most 1 MiB each), checked as they come (see decompress_limited)."""
    total = 0
    pending = data
    try:
        while pending:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while pending:
                chunk = inflater.decompress(pending, min(_CHUNK, limit - total + 1))
                total += len(chunk)
                if total > limit:
                    raise PayloadError(f"{what} expands beyond the limit of {limit} bytes when decompressed")
                yield chunk
                pending = inflater.unconsumed_tail
                if inflater.eof:
                    break
                if not chunk and not pending:
                    raise PayloadError(f"{what} is not valid gzip: the data ends before the gzip stream does")
            if not inflater.eof:
                raise PayloadError(f"{what} is not valid gzip: the data ends before the gzip stream does")
            pending = inflater.unused_data
    except zlib.error as exc:
        raise PayloadError(f"{what} is not valid gzip: {exc}") from exc


def maybe_decompress(data: bytes, limit: int, what: str) -> bytes:
    """``data`` itself when it is plain (and within ``limit``), else its bounded decompression.

    Raises:
        PayloadError: larger than ``limit`` (plain or expanded), or damaged gzip.
    """
    if is_gzip(data):
        return decompress_limited(data, limit, what)
    if len(data) > limit:
        raise PayloadError(f"{what} is larger than the limit of {limit} bytes")
    return data
