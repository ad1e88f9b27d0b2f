"""`videozoo serve`: a video model behind HTTP (FastAPI on uvicorn), with a page for people.

Why FastAPI/Starlette + uvicorn: the established ASGI stack in Python, streaming request
bodies (uploads are size-checked as they arrive, never read whole into memory), graceful
shutdown on SIGTERM built in (stop accepting, finish in-flight requests, then the app's
shutdown), and a small dependency set (the ``serve`` extra).

Endpoints:

* ``POST /v1/predict``: multipart field ``file`` (a video, content sniffed: mp4/mov,
  matroska/webm, avi, flv, mpeg-ts/ps, ogg), or JSON ``{"url": "http(s)://..."}`` when the
  server runs with ``--allow-urls``. -> ``{"id", "model", "class_ids", "class_names",
  "scores"}``; ``?timeline=1`` (``&window=S&stride=S``) -> ``{"id", "model", "duration",
  "windows", "segments"}`` (rows of ``videozoo.timeline``).
  Errors: 400 empty upload / bad request, 403 URL without ``--allow-urls``, 408 an upload
  slower than ``--timeout``, 413 over
  ``--max-upload-mb``, 415 not a video container, 422 a video that does not decode,
  503 + Retry-After when the queue is full, 504 past ``--timeout``.
* ``GET /v1/models``, ``GET /healthz``, ``GET /metrics`` (Prometheus text), ``GET /`` (the page:
  ``videozoo/static/index.html``, plain HTML/JS, no build step, no CDN).

Inside: an admitted request's upload is copied into a private temporary folder under a name
the server makes (nothing from the request reaches a path) and deleted after use. ``workers``
threads decode; every model call goes through one `Batcher` thread that stacks the clips of
concurrent requests into one forward pass (up to the model's evaluation batch size, waiting
at most ``batch_wait_ms`` for company). At most ``workers + queue_size`` requests are admitted at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import os
import queue
import shutil
import tempfile
import threading
import time
import urllib.request
from importlib import resources
from pathlib import Path

import torch
from fastapi import FastAPI, Request  # the `serve` extra; `videozoo serve` says so when it is missing
from fastapi.responses import HTMLResponse, JSONResponse, Response

from videozoo.data.stream import sniff_container
from videozoo.data.video import VideoReadError
from videozoo.errors import ConfigError, DataError

log = logging.getLogger("videozoo")

URL_SCHEMES = ("http://", "https://")
JSON_BODY_LIMIT = 64 * 1024
MULTIPART_SLACK = 64 * 1024  # multipart headers and boundaries around the file


class Batcher:
    """One thread that runs `score_fn` on batches gathered from many callers.

    `score(videos [N, ...]) -> [N, C]` blocks the calling thread until its rows are scored;
    inputs of the same shape that arrive within `max_wait` seconds share a forward pass.
    """

    def __init__(self, score_fn, max_batch: int, max_wait: float = 0.01, on_batch=None):
        self.score_fn, self.max_batch, self.max_wait = score_fn, max(1, max_batch), max_wait
        self.on_batch = on_batch
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="videozoo-batcher", daemon=True)
        self._thread.start()

    def score(self, videos: torch.Tensor) -> torch.Tensor:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((videos, future))
        return future.result()

    def stop(self):
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _gather(self, first) -> list:
        items, rows = [first], len(first[0])
        deadline = time.monotonic() + self.max_wait
        while rows < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            items.append(item)
            rows += len(item[0])
        return items

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            items = self._gather(first)
            by_shape: dict[tuple, list] = {}
            for item in items:
                by_shape.setdefault(tuple(item[0].shape[1:]), []).append(item)
            for group in by_shape.values():
                try:
                    scores = self.score_fn(torch.cat([videos for videos, _ in group]))
                except Exception as err:  # the callers report it
                    for _, future in group:
                        future.set_exception(err)
                    continue
                if self.on_batch:
                    self.on_batch(len(scores))
                start = 0
                for videos, future in group:
                    future.set_result(scores[start : start + len(videos)])
                    start += len(videos)


class Metrics:
    """The Prometheus series of one server (its own registry: several apps in one process
    do not collide)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "videozoo_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "videozoo_request_latency_seconds",
            "predict latency",
            ["endpoint"],
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.queue_depth = Gauge(
            "videozoo_queue_depth", "admitted requests waiting for a worker", registry=self.registry
        )
        self.in_flight = Gauge(
            "videozoo_in_flight", "admitted requests not yet answered", registry=self.registry
        )
        self.errors = Counter(
            "videozoo_errors", "refused or failed requests by reason", ["reason"], registry=self.registry
        )
        self.batch_size = Histogram(
            "videozoo_batch_size",
            "rows per model forward pass",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64),
        )


class HTTPFailure(Exception):
    def __init__(self, status: int, message: str, reason: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.reason, self.headers = status, message, reason, headers


class VideoService:
    """The model side of the server: admission, uploads, decoding, batching."""

    def __init__(
        self,
        predictor,
        *,
        model_name: str,
        weights: str,
        workers: int = 2,
        queue_size: int = 16,
        max_upload_mb: float = 200,
        timeout: float = 120,
        allow_urls: bool = False,
        batch_wait_ms: float = 10,
    ):
        if predictor.config["data"]["format"] != "video":
            raise ConfigError(
                f"serve takes video models; {model_name} reads {predictor.config['data']['format']} features"
            )
        self.predictor, self.model_name, self.weights = predictor, model_name, weights
        self.workers, self.capacity = max(1, workers), max(1, workers) + max(0, queue_size)
        self.max_upload = int(max_upload_mb * 1024 * 1024)
        self.timeout, self.allow_urls = timeout, allow_urls
        self.metrics = Metrics()
        self.admitted = 0
        self.upload_dir = Path(tempfile.mkdtemp(prefix="videozoo-serve-"))
        self.batcher = Batcher(
            predictor.score_batch,
            predictor.batch_size,
            batch_wait_ms / 1000,
            on_batch=self.metrics.batch_size.observe,
        )
        self.pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="videozoo-decode")

    def close(self):
        self.pool.shutdown(wait=True)
        self.batcher.stop()
        shutil.rmtree(self.upload_dir, ignore_errors=True)

    def describe(self) -> dict:
        from videozoo.registry import dataset_module

        data_cfg = self.predictor.config["data"]
        return {
            "name": self.model_name,
            "weights": Path(self.weights).name,
            "num_classes": len(self.predictor.class_names),
            "class_names": self.predictor.class_names,
            "preprocessing": dataset_module("video").preprocessing(data_cfg),
        }

    # -- the work, on a decode thread ------------------------------------------------------------
    def analyse(self, path: Path, timeline: bool, window, stride) -> dict:
        self.metrics.queue_depth.dec()
        try:
            if timeline:
                return self._timeline(path, window, stride)
            return self._clip(path)
        finally:
            path.unlink(missing_ok=True)

    def _clip(self, path: Path) -> dict:
        from videozoo.data.layouts.common import VideoRecord
        from videozoo.data.video_format import VideoClips
        from videozoo.engine.predict import top_classes

        clips = VideoClips(
            [VideoRecord(str(path), -1, "upload")], self.predictor.config["data"], training=False, seed=0
        )
        item = clips[(0, 0)]
        if item["error"]:
            raise VideoReadError("upload", item["error"])
        scores = self.batcher.score(item["video"][None])[0]
        return {
            "id": "upload",
            "model": self.model_name,
            **top_classes(scores, self.predictor.class_names, self.predictor.task.default_top_k),
        }

    def _timeline(self, path: Path, window, stride) -> dict:
        from videozoo import timeline as tl

        result = tl.video_timeline(
            str(path),
            self.predictor.config["data"],
            self.batcher.score,
            window=window,
            stride=stride,
            batch_size=self.predictor.batch_size,
            show_progress=False,
        )
        if not result.windows:
            raise VideoReadError("upload", "no window could be decoded")
        rows = tl.timeline_rows(result, self.predictor.class_names, self.predictor.task.default_top_k)
        for row in rows:
            row["id"] = "upload"
        return {
            "id": "upload",
            "model": self.model_name,
            "duration": result.duration,
            "windows": rows,
            "segments": tl.segments(rows),
        }

    # -- admission and files, on the event loop ------------------------------------------------
    def new_upload_path(self) -> Path:
        fd, name = tempfile.mkstemp(dir=self.upload_dir, suffix=".video")
        os.close(fd)
        return Path(name)

    def check_video(self, path: Path) -> None:
        size = path.stat().st_size
        if size == 0:
            raise HTTPFailure(400, "empty upload: the file has 0 bytes", "empty")
        if size > self.max_upload:
            raise HTTPFailure(413, f"upload over the limit of {self.max_upload // 2**20} MB", "too_large")
        with open(path, "rb") as f:
            if sniff_container(f.read(400)) is None:
                raise HTTPFailure(
                    415, "not a video container (mp4/mov, webm/mkv, avi, flv, mpeg-ts/ps, ogg)", "not_video"
                )

    def download(self, url: str, path: Path) -> None:
        """An http(s) URL's body into `path`, at most `max_upload` bytes."""
        request = urllib.request.Request(url, headers={"User-Agent": "videozoo-serve"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response, open(path, "wb") as out:
                copied = 0
                while chunk := response.read(1 << 20):
                    copied += len(chunk)
                    if copied > self.max_upload:
                        raise HTTPFailure(413, "the URL's video is over the upload limit", "too_large")
                    out.write(chunk)
        except OSError as err:
            raise HTTPFailure(422, f"cannot fetch the URL: {err}", "url_failed") from None


def _window_param(request, name: str) -> float | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise HTTPFailure(400, f"{name} must be seconds, got {value!r}", "bad_request") from None
    if not 0.1 <= seconds <= 3600:
        raise HTTPFailure(400, f"{name} must be between 0.1 and 3600 seconds", "bad_request")
    return seconds


async def _limited(stream, limit: int):
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise HTTPFailure(413, f"upload over the limit of {limit // 2**20} MB", "too_large")
        yield chunk


async def _receive_video(service: VideoService, request, path: Path) -> None:
    """The request's video (multipart `file` or JSON url) into `path`."""
    from starlette.concurrency import run_in_threadpool
    from starlette.formparsers import MultiPartException, MultiPartParser

    kind = request.headers.get("content-type", "")
    length = request.headers.get("content-length")
    if kind.startswith("application/json"):
        if not service.allow_urls:
            raise HTTPFailure(403, "URL inputs are off: start the server with --allow-urls", "url_refused")
        body = b"".join([c async for c in _limited(request.stream(), JSON_BODY_LIMIT)])
        try:
            url = json.loads(body)["url"]
        except (ValueError, KeyError, TypeError):
            raise HTTPFailure(400, 'expected JSON {"url": "http(s)://..."}', "bad_request") from None
        if not isinstance(url, str) or not url.startswith(URL_SCHEMES):
            raise HTTPFailure(400, "the url must start with http:// or https://", "bad_request")
        await run_in_threadpool(service.download, url, path)
        return
    if not kind.startswith("multipart/form-data"):
        raise HTTPFailure(415, "send the video as multipart/form-data field 'file'", "bad_request")
    limit = service.max_upload + MULTIPART_SLACK
    if length and length.isdigit() and int(length) > limit:
        raise HTTPFailure(413, f"upload over the limit of {service.max_upload // 2**20} MB", "too_large")
    parser = MultiPartParser(request.headers, _limited(request.stream(), limit), max_files=1, max_fields=8)
    try:
        form = await parser.parse()
    except MultiPartException as err:
        raise HTTPFailure(400, f"bad multipart body: {err.message}", "bad_request") from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPFailure(400, "no multipart field 'file' with a video", "bad_request")
        await run_in_threadpool(_copy_file, upload.file, path)
    finally:
        await form.close()


def _copy_file(source, path: Path) -> None:
    source.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


class _Routes:
    """The HTTP handlers over one `VideoService`; each answer is counted in its metrics."""

    def __init__(self, service: VideoService):
        self.service = service
        self.metrics = service.metrics
        self.page = resources.files("videozoo").joinpath("static/index.html").read_text(encoding="utf-8")

    def failure(self, err: HTTPFailure, endpoint: str) -> JSONResponse:
        self.metrics.errors.labels(err.reason).inc()
        self.metrics.requests.labels(endpoint, str(err.status)).inc()
        return JSONResponse({"error": err.message}, status_code=err.status, headers=err.headers)

    async def predict(self, request: Request) -> JSONResponse:
        service, metrics = self.service, self.metrics
        started = time.monotonic()
        if service.admitted >= service.capacity:
            busy = HTTPFailure(
                503, "busy: the queue is full, retry shortly", "queue_full", {"Retry-After": "2"}
            )
            return self.failure(busy, "predict")
        service.admitted += 1
        metrics.in_flight.inc()
        path = service.new_upload_path()
        try:
            result = await self._analyse(request, path)
            metrics.requests.labels("predict", "200").inc()
            return JSONResponse(result)
        except HTTPFailure as err:
            return self.failure(err, "predict")
        except Exception:
            log.exception("predict failed")
            return self.failure(
                HTTPFailure(500, "internal error (logged by the server)", "internal"), "predict"
            )
        finally:
            path.unlink(missing_ok=True)  # also when the worker never ran (refused, timed out)
            service.admitted -= 1
            metrics.in_flight.dec()
            metrics.latency.labels("predict").observe(time.monotonic() - started)

    async def _analyse(self, request: Request, path: Path) -> dict:
        """Receives the video into `path` and runs it through a worker; HTTPFailure on any refusal."""
        service = self.service
        timeline = request.query_params.get("timeline", "0") not in ("", "0", "false")
        window, stride = _window_param(request, "window"), _window_param(request, "stride")
        try:
            await asyncio.wait_for(_receive_video(service, request, path), service.timeout)
        except asyncio.TimeoutError:
            raise HTTPFailure(408, f"the upload took over {service.timeout:g} s", "timeout") from None
        service.check_video(path)
        self.metrics.queue_depth.inc()
        future = service.pool.submit(service.analyse, path, timeline, window, stride)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), service.timeout)
        except asyncio.TimeoutError:
            if future.cancel():
                self.metrics.queue_depth.dec()
            raise HTTPFailure(504, f"no answer within {service.timeout:g} s", "timeout") from None
        except (VideoReadError, DataError) as err:
            reason = getattr(err, "reason", None) or err
            raise HTTPFailure(422, f"the video cannot be decoded: {reason}", "undecodable") from None

    async def models(self) -> JSONResponse:
        self.metrics.requests.labels("models", "200").inc()
        return JSONResponse({"models": [self.service.describe()]})

    async def healthz(self) -> JSONResponse:
        self.metrics.requests.labels("healthz", "200").inc()
        service = self.service
        return JSONResponse({"status": "ok", "model": service.model_name, "in_flight": service.admitted})

    async def prometheus(self) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def index(self) -> HTMLResponse:
        return HTMLResponse(self.page)


def create_app(service: VideoService):
    """The FastAPI app over `service` (closed on shutdown)."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        yield
        await asyncio.get_running_loop().run_in_executor(None, service.close)

    app = FastAPI(title="videozoo", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    routes = _Routes(service)
    app.post("/v1/predict")(routes.predict)
    app.get("/v1/models")(routes.models)
    app.get("/healthz")(routes.healthz)
    app.get("/metrics")(routes.prometheus)
    app.get("/")(routes.index)
    return app


def _server_class():
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that SIGTERM / SIGINT end the process with exit code 0
        once the in-flight requests are answered (uvicorn re-raises the signal)."""

        @contextlib.contextmanager
        def capture_signals(self):
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def run_server(
    predictor, *, model_name: str, weights: str, host: str = "127.0.0.1", port: int = 8000, **options
) -> None:
    """Serve until SIGTERM / Ctrl-C; in-flight requests are finished first."""
    import uvicorn

    service = VideoService(predictor, model_name=model_name, weights=weights, **options)
    config = uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=math.ceil(service.timeout) + 5,
        access_log=False,
    )
    server = _server_class()(config)
    print(
        f"videozoo serve: {model_name} ({Path(weights).name}) on http://{host}:{port}/ "
        f"({service.workers} workers, queue {service.capacity - service.workers}, "
        f"upload limit {service.max_upload // 2**20} MB)",
        flush=True,
    )
    server.run()
    print("videozoo serve: stopped", flush=True)
