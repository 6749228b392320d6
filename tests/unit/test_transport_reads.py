"""The ACE transport reads responses in 1 MiB socket reads (httpcore's default is 64 KiB):
if an httpcore upgrade renames the constant, this fails rather than the speed-up vanishing."""

from httpcore._sync.http11 import HTTP11Connection

from bv_ace.transport import SOCKET_READ_BYTES


def test_responses_are_read_in_large_pieces():
    assert HTTP11Connection.READ_NUM_BYTES >= SOCKET_READ_BYTES
