"""`videozoo serve`: a real server in a subprocess on 127.0.0.1, real encoded videos uploaded,
concurrent clients, bad input, the page in a headless browser, SIGTERM."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from stream_support import encode_levels, free_port, tiny_tsn_checkpoint

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytestmark = pytest.mark.slow  # a server process end to end

CLIENTS = 16


class Server:
    def __init__(self, port, proc, tmp):
        self.port, self.proc, self.tmp = port, proc, tmp

    def request(self, method, path, body=b"", headers=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def json(self, method, path, body=b"", headers=None):
        status, headers, data = self.request(method, path, body, headers)
        return status, headers, json.loads(data)


def multipart(data: bytes, name="clip.mp4", field="file"):
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve")
    return {
        "ckpt": tiny_tsn_checkpoint(out / "tsn.pt"),
        "clip": encode_levels(out / "clip.mp4", 12),
        "dir": out,
    }


@pytest.fixture(scope="module")
def server(files):
    port, tmp = free_port(), files["dir"] / "server_tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "videozoo",
            "serve",
            "tsn",
            "--weights",
            str(files["ckpt"]),
            "--port",
            str(port),
            "--max-upload-mb",
            "1",
            "--workers",
            "4",
            "--queue-size",
            str(CLIENTS - 4),
            "--batch-wait-ms",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    srv = Server(port, proc, tmp)
    deadline = time.monotonic() + 90
    while True:
        try:
            if srv.request("GET", "/healthz", timeout=2)[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"server did not start: {proc.communicate()[1][-2000:]}")
        time.sleep(0.3)
    yield srv
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def leftover_uploads(server):
    return [p for p in server.tmp.rglob("*") if p.is_file()]


def test_sixteen_concurrent_clients_are_batched_and_a_full_queue_says_503(server, files):
    import videozoo

    data = files["clip"].read_bytes()
    body, headers = multipart(data)
    half = len(body) // 2
    ready, go = threading.Barrier(CLIENTS + 1), threading.Event()

    def client(i):
        path = "/v1/predict" + ("?timeline=1" if i % 2 else "")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.putrequest("POST", path)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(key, value)
        conn.endheaders()
        conn.send(body[:half])  # admitted, still uploading
        ready.wait(timeout=30)
        go.wait(timeout=30)
        conn.send(body[half:])
        response = conn.getresponse()
        return i, response.status, json.loads(response.read())

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, i) for i in range(CLIENTS)]
        ready.wait(timeout=30)
        deadline = time.monotonic() + 20
        while server.json("GET", "/healthz")[2]["in_flight"] < CLIENTS and time.monotonic() < deadline:
            time.sleep(0.1)
        status, extra_headers, refused = server.json("POST", "/v1/predict", *multipart(data))
        go.set()
        results = [f.result() for f in futures]
    assert status == 503 and extra_headers["retry-after"] == "2" and "queue is full" in refused["error"]
    assert [s for _, s, _ in results] == [200] * CLIENTS, results
    expected = videozoo.Predictor(files["ckpt"], device="cpu").predict(str(files["clip"]))[0]
    for i, _, answer in results:
        if i % 2 == 0:
            assert answer["class_names"] == expected["class_names"]
            assert answer["scores"] == pytest.approx(expected["scores"], abs=1e-4)
        else:
            assert [w["start"] for w in answer["windows"]] == [0.0, 5.0] and answer["segments"]
    metrics = server.request("GET", "/metrics")[2].decode()
    batches = float(metrics.split("videozoo_batch_size_count ")[1].split()[0])
    rows = float(metrics.split("videozoo_batch_size_sum ")[1].split()[0])
    assert rows == CLIENTS // 2 + 2 * (CLIENTS // 2)  # one clip each, two windows each
    assert batches < rows  # clips of different clients shared forward passes
    assert 'videozoo_requests_total{endpoint="predict",status="503"} 1.0' in metrics
    assert not leftover_uploads(server)


def test_bad_uploads_are_refused_cleanly(server, files):
    data = files["clip"].read_bytes()
    cases = {
        "oversized": (b"\x00\x00\x00\x18ftypisom" + os.urandom(1_200_000), 413, "limit"),
        "empty": (b"", 400, "empty"),
        "not a video": (b"#!/bin/sh\nrm -rf /\n" * 50, 415, "not a video"),
        "truncated": (data[: len(data) * 2 // 3], 422, "cannot be decoded"),
    }
    for what, (payload, status, message) in cases.items():
        got, _, answer = server.json("POST", "/v1/predict", *multipart(payload, name="../../etc/x.mp4"))
        assert (got, message in answer["error"]) == (status, True), (what, answer)
    got, _, answer = server.json(
        "POST",
        "/v1/predict",
        json.dumps({"url": "http://127.0.0.1/x.mp4"}),
        {"Content-Type": "application/json"},
    )
    assert got == 403 and "--allow-urls" in answer["error"]
    got, _, answer = server.json("POST", "/v1/predict", *multipart(data, field="video"))
    assert got == 400 and "'file'" in answer["error"]
    assert server.json("GET", "/v1/models")[2]["models"][0]["name"] == "tsn"
    metrics = server.request("GET", "/metrics")[2].decode()
    for reason in ("too_large", "empty", "not_video", "undecodable", "url_refused"):
        assert f'videozoo_errors_total{{reason="{reason}"}} 1.0' in metrics
    assert not leftover_uploads(server) and not Path("/etc/x.mp4").exists()


def _chromium():
    if not (shutil.which("chromium") and Path("/usr/bin/chromedriver").exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=900,800",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def test_the_page_in_a_headless_browser(server, files, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = server.json("POST", "/v1/predict", *multipart(files["clip"].read_bytes()))[2]
    browser = _chromium()
    try:
        browser.get(f"http://127.0.0.1:{server.port}/")
        browser.find_element(By.ID, "file").send_keys(str(files["clip"]))
        WebDriverWait(browser, 60).until(
            lambda b: (
                b.find_elements(By.CSS_SELECTOR, "#timeline .band")
                or "error" in b.find_element(By.ID, "status").get_attribute("class")
            )
        )
        rows = browser.find_elements(By.CSS_SELECTOR, "#top tr")
        bands = browser.find_elements(By.CSS_SELECTOR, "#timeline .band")
        status = browser.find_element(By.ID, "status").text
        shot = tmp_path / "page.png"
        browser.save_screenshot(str(shot))
        assert bands and bands[0].get_attribute("title").startswith("0:00-"), status
        assert len(rows) == 4 and rows[0].text.startswith(expected["class_names"][0])  # 4 classes
        assert expected["class_names"][0] in status
        player = "document.getElementById('player')"
        browser.execute_script(f"{player}.pause(); {player}.currentTime = 6;")
        WebDriverWait(browser, 10).until(lambda b: b.execute_script(f"return {player}.currentTime") > 5)
        bands[0].click()  # a band seeks the video to its start
        assert browser.execute_script(f"return {player}.currentTime") < 2
        assert shot.read_bytes()[:4] == b"\x89PNG"
        print(f"screenshot: {shot}")
    finally:
        browser.quit()


def test_sigterm_finishes_the_request_in_flight(server, files):
    body, headers = multipart(files["clip"].read_bytes())
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.putrequest("POST", "/v1/predict?timeline=1")
    for key, value in {**headers, "Content-Length": str(len(body))}.items():
        conn.putheader(key, value)
    conn.endheaders()
    conn.send(body[:1000])
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    conn.send(body[1000:])
    response = conn.getresponse()
    answer = json.loads(response.read())
    assert response.status == 200 and answer["windows"]
    out, err = server.proc.communicate(timeout=30)
    assert server.proc.returncode == 0, err[-2000:]
    assert "stopped" in out
    with pytest.raises(OSError):
        server.request("GET", "/healthz", timeout=2)
    assert not leftover_uploads(server)


def test_url_fetch_is_bounded_by_the_upload_limit(files, tmp_path):
    """What --allow-urls does with a URL: fetch it over http into the upload file, refusing
    bodies over the limit (tested on the method, without a second server)."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    from types import SimpleNamespace

    from videozoo.serve import HTTPFailure, VideoService

    handler = partial(SimpleHTTPRequestHandler, directory=str(files["clip"].parent))
    handler.log_message = lambda *a: None
    web = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{web.server_address[1]}/{files['clip'].name}"
    try:
        size = files["clip"].stat().st_size
        VideoService.download(SimpleNamespace(max_upload=size), url, tmp_path / "got")
        assert (tmp_path / "got").read_bytes() == files["clip"].read_bytes()
        with pytest.raises(HTTPFailure) as refused:
            VideoService.download(SimpleNamespace(max_upload=size - 1), url, tmp_path / "big")
        assert refused.value.status == 413
        with pytest.raises(HTTPFailure) as missing:
            VideoService.download(SimpleNamespace(max_upload=size), url + ".nope", tmp_path / "x")
        assert missing.value.status == 422
    finally:
        web.shutdown()
