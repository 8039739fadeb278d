"""Shared studio fixtures: a Studio over the bundled models and a real server on a free port."""

import socket
import threading
import time

import pytest

WEB_STACK = "the studio's web stack is not installed (pip install 'musicvae[studio]')"


@pytest.fixture(scope="session")
def studio_session():
    pytest.importorskip("starlette", reason=WEB_STACK)
    from musicvae.studio.session import Studio

    return Studio()


@pytest.fixture(scope="session")
def studio_url(studio_session):
    """``http://127.0.0.1:PORT/`` of a uvicorn server (in a thread) over :func:`studio_session`."""
    uvicorn = pytest.importorskip("uvicorn", reason=WEB_STACK)
    from musicvae.studio.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(studio_session), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the studio server did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server.should_exit = True
    thread.join(10)
    sock.close()
