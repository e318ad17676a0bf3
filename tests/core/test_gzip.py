"""Bounded gzip: what fits comes out whole, what does not is refused without being held."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import qaas_core as q
from qaas_core._gzip import compress, decompress_limited, maybe_decompress


@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=4))
def test_one_or_more_members_come_out_as_gzip_reads_them(parts: list[bytes]) -> None:
    data = b"".join(compress(part) for part in parts)
    assert decompress_limited(data, sum(map(len, parts)), "doc") == gzip.decompress(data) == b"".join(parts)


def test_a_bomb_is_refused_holding_one_chunk_not_the_limit() -> None:
    limit = 64 << 20
    wrapper, zeros = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), bytes(1 << 20)
    bomb = b"".join(wrapper.compress(zeros) for _ in range(256)) + wrapper.flush()  # ~260 KB -> 256 MiB
    tracemalloc.start()
    try:
        with pytest.raises(q.PayloadError, match="expands beyond the limit"):
            decompress_limited(bomb, limit, "the request")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak / 2**20:.1f} MiB held while refusing (limit {limit >> 20} MiB)"


def test_exactly_the_limit_passes_and_one_byte_more_does_not() -> None:
    data = compress(b"x" * 1000)
    assert maybe_decompress(data, 1000, "doc") == b"x" * 1000
    with pytest.raises(q.PayloadError, match="expands beyond the limit of 999 bytes"):
        maybe_decompress(data, 999, "doc")
    with pytest.raises(q.PayloadError, match="larger than the limit"):
        maybe_decompress(b"y" * 1001, 1000, "doc")


@pytest.mark.parametrize("cut", [5, 20, -3])
def test_damaged_gzip_is_a_payload_error(cut: int) -> None:
    data = compress(b"hello world" * 100)
    with pytest.raises(q.PayloadError, match="not valid gzip"):
        decompress_limited(data[:cut], 10_000, "doc")
