"""The media plane's tests start the same in-process servers as the rest."""

from tests.livecommerce.conftest import http, server, start_server

__all__ = ["http", "server", "start_server"]
