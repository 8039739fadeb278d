"""``musicvae studio``: a local web page to make music with the models (Magenta Studio's tools, in any browser).

Place in the flow: ``studio.session`` + ``studio.app`` (Starlette) -> uvicorn on 127.0.0.1 ->
the page at the printed URL. Ctrl-C stops the server cleanly (uvicorn's own signal handling).
The web stack (starlette, uvicorn) is the ``studio`` extra: ``pip install 'musicvae[studio]'``.
"""

from __future__ import annotations

from typing import Optional

import typer

from .common import app, console, fail


@app.command()
def studio(
    model: Optional[list[str]] = typer.Option(
        None, "--model", "-m", help="Also offer this exported model dir, training run or composer folder "
                                    "(repeatable); the bundled models are always there."),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="TCP port (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this computer only)."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    threads: int = typer.Option(1, "--threads", min=1, max=256, help="Torch threads per model call (1: the "
                                "fastest on a busy machine; 16-bar decoding with 2 threads under load measured 5-50x "
                                "slower)."),
) -> None:
    """Start the studio: a web page with Generate, Interpolate, Similar, Attribute, Continue and a Key control."""
    try:
        import uvicorn

        from ..studio.app import create_app
        from ..studio.session import Studio, StudioError
    except ImportError as exc:
        fail(f"the studio needs its web stack ({exc.name} is missing): pip install 'musicvae[studio]'")
    import torch

    torch.set_num_threads(threads)  # model calls run one at a time; a batch-1 decode gains little from more
    try:
        session = Studio(model or [])
    except StudioError as exc:
        fail(str(exc))
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog until uvicorn is up: the printed URL works at once
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another --port (0: any free one)")
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    console.print(f"[green]musicvae studio[/] at [bold]{url}[/] (models: {', '.join(session.sources)}; "
                  f"composers: {', '.join(session.composer_sources) or 'none'}); Ctrl-C stops it", highlight=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]notice:[/] listening on {host}: other computers can reach the studio", highlight=False)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(create_app(session), log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])  # uvicorn handles Ctrl-C / SIGTERM: stops accepting, finishes requests
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    console.print("studio stopped")
