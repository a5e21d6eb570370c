"""Private servers' ports stay below the ephemeral range, where no outgoing connection goes."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.ports import RESERVED, candidates, ephemeral_range, free_port, is_free


def test_the_range_is_read_from_the_kernel_file(tmp_path: Path) -> None:
    f = tmp_path / "range"
    f.write_text("40000\t50000\n")
    assert ephemeral_range(f) == (40000, 50000)
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)


def test_candidates_lie_outside_the_range_and_spare_the_shared_servers() -> None:
    below = candidates(32768, 60999)
    assert max(below) == 32767 and not RESERVED & set(below)
    above = candidates(1024, 50000)  # nothing below: above the range instead
    assert min(above) == 50001 and max(above) == 65535


def test_free_port_is_below_the_range_free_and_never_given_twice() -> None:
    low, _ = ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50 and all(p < low for p in ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[0]))
        s.listen()
        assert not is_free(ports[0])
