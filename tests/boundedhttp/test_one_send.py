"""_OneSendPerStep, the transport wrapper that sends an answer's head and body together, on a recording
transport (the live suites send every answer through it)."""

from __future__ import annotations

import asyncio

from boundedhttp.protocol import _OneSendPerStep


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sends: list[bytes] = []
        self.closed = False

    def writelines(self, data) -> None:  # type: ignore[no-untyped-def]
        assert not self.closed
        self.sends.append(b"".join(data))

    def write(self, data) -> None:  # type: ignore[no-untyped-def]
        self.writelines([data])

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


async def test_writes_of_one_step_leave_in_one_send_in_order() -> None:
    inner = Recording()
    transport = _OneSendPerStep(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(memoryview(b"ok"))
    assert inner.sends == []
    assert transport.get_write_buffer_size() == 40
    await asyncio.sleep(0)
    assert inner.sends == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    transport.write(b"later")
    await asyncio.sleep(0)
    assert inner.sends[1:] == [b"later"]


async def test_close_sends_what_is_held_first_and_nothing_goes_after() -> None:
    inner = Recording()
    transport = _OneSendPerStep(inner, asyncio.get_running_loop())
    transport.write(b"431 answer")
    transport.close()
    assert inner.sends == [b"431 answer"]
    assert inner.closed
    transport.write(b"too late")
    await asyncio.sleep(0)
    assert inner.sends == [b"431 answer"]


async def test_held_bytes_past_the_bound_leave_at_once_so_the_writer_can_be_paused() -> None:
    """A body sent in many chunks within one step reaches the socket's transport as it goes, which pauses
    uvicorn's writer when its buffer fills, instead of piling up here."""
    inner = Recording()
    transport = _OneSendPerStep(inner, asyncio.get_running_loop())
    chunk = b"x" * (_OneSendPerStep.HOLD_BYTES // 2 + 1)
    transport.write(chunk)
    assert inner.sends == []
    transport.write(chunk)
    assert inner.sends == [chunk + chunk]
    assert transport.get_write_buffer_size() == 0
    transport.write(b"tail")
    await asyncio.sleep(0)
    assert inner.sends == [chunk + chunk, b"tail"]


async def test_after_a_hand_off_writes_go_straight_through() -> None:
    inner = Recording()
    transport = _OneSendPerStep(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.direct()
    transport.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    assert inner.sends == [b"HTTP/1.1 200 OK\r\n\r\n", b"HTTP/1.1 101 Switching Protocols\r\n\r\n"]
