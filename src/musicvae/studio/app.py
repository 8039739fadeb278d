"""The studio's web server: one page and a JSON API over :class:`~.session.Studio`.

Place in the flow: ``studio.session`` (the tools) -> this module (Starlette routes) ->
``cli/studio.py`` (``musicvae studio``: uvicorn on 127.0.0.1) -> the page in
``studio/static/`` (plain HTML/CSS/JS, no build step, nothing from the network).

API (every error is ``{"error": "one line"}`` with status 400, 404, 413 or 500; the server
keeps running whatever a request holds):

* ``GET  /api/models`` - models, composers, key modes and limits;
* ``POST /api/generate`` ``{model, n, temperature, seed, label, key}``;
* ``POST /api/interpolate`` ``{model, a, b, position}`` or ``{model, corners: [4 ids], x, y}``;
* ``POST /api/similar`` ``{model, clip, n, similarity}``;
* ``POST /api/attribute`` ``{model, clip, amounts: {name: amount}}``;
* ``POST /api/continue`` ``{clip, bars, prime_bars, mixture_temperature}``;
* ``POST /api/upload?name=FILE.mid`` with the MIDI bytes as the body;
* ``GET  /api/clips/{id}`` (notes as JSON), ``/api/clips/{id}.mid``, ``/api/clips/{id}.wav``.

Tools also take ``temperature``, ``seed``, ``key`` (e.g. ``"D minor"``) and, for melody models,
``rhythm_temperature`` (absent or null: the model's own; 0: one temperature for every token); each returns
``{"clips": [...]}`` with the new clips' notes and their MIDI/WAV addresses.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .session import MAX_UPLOAD_BYTES, Studio, StudioError

STATIC = Path(__file__).resolve().parent / "static"
MAX_JSON_BYTES = 64 * 1024
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
_CLIP_RE = re.compile(r"^[0-9a-f]{12}$")
log = logging.getLogger("musicvae.studio")


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused past ``limit`` bytes without reading the rest into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise StudioError(f"request too large ({int(declared):,} bytes > {limit:,})")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise StudioError(f"request too large (more than {limit:,} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(studio: Studio | None = None) -> Starlette:
    """The Starlette app over ``studio`` (a new :class:`Studio` of the bundled models by default)."""
    studio = studio or Studio()

    def guarded(handler):
        """``handler`` with every error as ``{"error": "one line"}``: the server survives any request."""
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except StudioError as exc:
                status = 413 if "too large" in str(exc) else 404 if str(exc).startswith("no clip") else 400
                return _error(str(exc), status)
            except Exception as exc:  # never let a request take the server down
                log.exception("studio request failed: %s %s", request.method, request.url.path)
                first = str(exc).splitlines()[0][:200] if str(exc) else ""
                return _error(f"internal error ({type(exc).__name__}: {first})", 500)
        return endpoint

    def tool(fn):
        @guarded
        async def endpoint(request: Request) -> Response:
            raw = await _body(request, MAX_JSON_BYTES)
            try:
                req = json.loads(raw or b"{}")
            except (ValueError, UnicodeDecodeError):
                raise StudioError("the request body must be JSON") from None
            if not isinstance(req, dict):
                raise StudioError("the request body must be a JSON object")
            return JSONResponse(await run_in_threadpool(fn, req))
        return endpoint

    @guarded
    async def models(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(studio.models))

    @guarded
    async def upload(request: Request) -> Response:
        data = await _body(request, MAX_UPLOAD_BYTES)
        name = request.query_params.get("name") or request.headers.get("x-filename") or "upload.mid"
        return JSONResponse({"clips": await run_in_threadpool(studio.upload, data, name)})

    @guarded
    async def clip(request: Request) -> Response:
        ident, ext = request.path_params["ident"], request.path_params.get("ext", "")
        if not _CLIP_RE.match(ident):
            raise StudioError(f"no clip {ident[:40]!r}")
        if ext == "":
            return JSONResponse(studio.clip(ident).to_json())
        c = studio.clip(ident)
        filename = re.sub(r"[^A-Za-z0-9_.-]+", "_", c.name).strip("_") or "clip"
        if ext == "mid":
            return Response(await run_in_threadpool(studio.midi, ident), media_type="audio/midi",
                            headers={"Content-Disposition": f'attachment; filename="{filename}.mid"'})
        if ext == "wav":  # streamed as it renders: the <audio> element starts after the first bars
            size, chunks = studio.wav_stream(ident)
            return StreamingResponse(iterate_in_threadpool(chunks), media_type="audio/wav",
                                     headers={"Content-Length": str(size), "Cache-Control": "max-age=3600"})
        raise StudioError(f"unknown clip format {ext[:10]!r} (json, mid or wav)")

    async def static(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        path = STATIC / name
        if "/" in name or name.startswith(".") or path.suffix not in _STATIC_TYPES or not path.is_file():
            return _error(f"not found: {name[:60]}", 404)
        return FileResponse(path, media_type=_STATIC_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})

    async def not_found(request: Request, exc) -> Response:
        return _error(f"not found: {request.url.path[:80]}", getattr(exc, "status_code", 404))

    routes = [
        Route("/", static),
        Route("/static/{name}", static),
        Route("/api/models", models),
        Route("/api/generate", tool(studio.generate), methods=["POST"]),
        Route("/api/interpolate", tool(studio.interpolate), methods=["POST"]),
        Route("/api/similar", tool(studio.similar), methods=["POST"]),
        Route("/api/attribute", tool(studio.attribute), methods=["POST"]),
        Route("/api/continue", tool(studio.continue_), methods=["POST"]),
        Route("/api/upload", upload, methods=["POST"]),
        Route("/api/clips/{ident}.{ext}", clip),
        Route("/api/clips/{ident}", clip),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.studio = studio
    return app
