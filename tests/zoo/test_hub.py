"""Downloads against a real local HTTP server: verify, cache, resume, retry, refuse, mirror,
offline, and two processes fetching one file once. Our machines cannot reach the zoos, so
every network path is exercised here."""

import hashlib
import multiprocessing
import os

import pytest
from zoo_support import ZooServer, serve_entry

from videozoo.errors import DownloadError
from videozoo.zoo import hub, table

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
MM_TAG = "tsm_r50_1x1x8_k400.mmaction2"  # sha256 prefix in its published name
UNVERIFIED_TAG = "tsm_r50_1x1x8_k400.mit"  # MIT publishes no checksum


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOZOO_HOME", str(tmp_path / "home"))
    for name in ("VIDEOZOO_MIRROR", "VIDEOZOO_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIDEOZOO_TIMEOUT", "2")
    monkeypatch.setattr(hub, "BACKOFF_S", 0.01)
    return tmp_path / "home" / "files"


@pytest.fixture
def server():
    with ZooServer() as s:
        yield s


def _gets(server, entry):
    return server.gets[f"/zoo/{entry.file}"]


def test_download_verifies_and_later_uses_the_cache(cache, server, monkeypatch):
    entry = serve_entry(monkeypatch, server, MM_TAG, DATA, sha256=SHA)
    path = hub.fetch_file(MM_TAG)
    assert path == cache / entry.file and path.read_bytes() == DATA
    assert not list(cache.glob("*.part"))
    assert hub.fetch_file(MM_TAG) == path
    assert len(_gets(server, entry)) == 1  # the second call read the cache


def test_resume_after_the_server_drops_the_connection(cache, server, monkeypatch):
    entry = serve_entry(monkeypatch, server, MM_TAG, DATA, sha256=SHA)
    server.faults[f"/zoo/{entry.file}"] = ["drop"]
    assert hub.fetch_file(MM_TAG).read_bytes() == DATA
    first, second = _gets(server, entry)
    assert first is None and second == f"bytes={len(DATA) // 2}-"  # resumed, not restarted


def test_hub_style_prefix_in_the_file_name_is_verified(cache, server, monkeypatch):
    good = table.Weight(
        "fixture.test", None, "torchvision", (server.url(f"/zoo/fixture-{SHA[:8]}.pth"),), "auxiliary"
    )
    bad = table.Weight(
        "fixture_bad.test", None, "torchvision", (server.url("/zoo/fixture-00000000.pth"),), "auxiliary"
    )
    server.files[f"/zoo/fixture-{SHA[:8]}.pth"] = DATA
    server.files["/zoo/fixture-00000000.pth"] = DATA
    assert good.checksum_prefix == SHA[:8]
    assert hub.fetch_file(good).read_bytes() == DATA
    with pytest.raises(DownloadError, match="does not match its checksum.*VIDEOZOO_MIRROR"):
        hub.fetch_file(bad)
    assert not (cache / "fixture-00000000.pth").exists()
    assert not list(cache.glob("*.part"))  # the bad download was removed


def test_unverified_file_records_its_sha256_and_truncation_is_caught(cache, server, monkeypatch):
    entry = serve_entry(monkeypatch, server, UNVERIFIED_TAG, DATA)
    path = hub.fetch_file(UNVERIFIED_TAG)
    assert (cache / (entry.file + ".sha256")).read_text().strip() == SHA
    path.write_bytes(DATA[:1000])  # a damaged cache
    assert hub.fetch_file(UNVERIFIED_TAG).read_bytes() == DATA
    assert len(_gets(server, entry)) == 2
    server.files[f"/zoo/{entry.file}"] = DATA[::-1]  # the zoo's file changed
    path.unlink()
    with pytest.raises(DownloadError, match="checksum"):
        hub.fetch_file(UNVERIFIED_TAG)


def test_pinned_sha256_is_enforced(cache, server, monkeypatch):
    serve_entry(monkeypatch, server, UNVERIFIED_TAG, DATA)
    hub.pin_sha256(UNVERIFIED_TAG, "a" * 64)
    with pytest.raises(DownloadError, match="expected aaaa"):
        hub.fetch_file(UNVERIFIED_TAG)


@pytest.mark.parametrize(
    "fault,message", [("404", "HTTP 404"), ("html", "HTML page"), ("redirect", "redirect loop")]
)
def test_permanent_failures_are_one_line_with_the_url_and_options(cache, server, monkeypatch, fault, message):
    entry = serve_entry(monkeypatch, server, MM_TAG, DATA, sha256=SHA)
    server.faults[f"/zoo/{entry.file}"] = [fault] * 20
    with pytest.raises(DownloadError) as err:
        hub.fetch_file(MM_TAG)
    text = str(err.value)
    assert message in text and entry.urls[0] in text and "\n" not in text
    assert "VIDEOZOO_MIRROR" in text and "VIDEOZOO_OFFLINE" in text
    assert not (cache / entry.file).exists()


def test_server_errors_are_retried_then_reported(cache, server, monkeypatch):
    entry = serve_entry(monkeypatch, server, MM_TAG, DATA, sha256=SHA)
    server.faults[f"/zoo/{entry.file}"] = ["500", "500"]
    assert hub.fetch_file(MM_TAG).read_bytes() == DATA  # third attempt succeeds
    (cache / entry.file).unlink()
    server.faults[f"/zoo/{entry.file}"] = ["500"] * 10
    with pytest.raises(DownloadError, match=f"HTTP 500.*after {hub.RETRIES} attempts"):
        hub.fetch_file(MM_TAG)


def test_a_stalled_server_times_out(cache, server, monkeypatch):
    monkeypatch.setenv("VIDEOZOO_TIMEOUT", "0.2")
    monkeypatch.setattr(hub, "RETRIES", 2)
    server.stall_s = 1.0
    entry = serve_entry(monkeypatch, server, MM_TAG, DATA, sha256=SHA)
    server.faults[f"/zoo/{entry.file}"] = ["stall"] * 5
    with pytest.raises(DownloadError, match="(?i)timeout|timed out"):
        hub.fetch_file(MM_TAG)


def test_offline_mode_names_the_file_and_where_to_put_it(cache, server, monkeypatch):
    entry = serve_entry(monkeypatch, server, MM_TAG, DATA, sha256=SHA)
    monkeypatch.setenv("VIDEOZOO_OFFLINE", "1")
    with pytest.raises(DownloadError, match=f"{entry.file} is not in {cache}.*OFFLINE"):
        hub.fetch_file(MM_TAG)
    assert not _gets(server, entry)  # never touched the network
    cache.mkdir(parents=True, exist_ok=True)
    (cache / entry.file).write_bytes(DATA)  # copied by hand
    assert hub.fetch_file(MM_TAG).read_bytes() == DATA


def test_mirror_folder_and_mirror_url_come_before_the_published_url(cache, server, tmp_path, monkeypatch):
    entry = serve_entry(monkeypatch, server, MM_TAG, DATA, sha256=SHA)
    server.faults[f"/zoo/{entry.file}"] = ["404"] * 10  # the published URL is dead
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / entry.file).write_bytes(DATA)
    monkeypatch.setenv("VIDEOZOO_MIRROR", str(folder))
    assert hub.fetch_file(MM_TAG).read_bytes() == DATA
    (cache / entry.file).unlink()
    server.files[f"/mirror/{entry.file}"] = DATA
    monkeypatch.setenv("VIDEOZOO_MIRROR", server.url("/mirror/"))
    assert hub.fetch_file(MM_TAG).read_bytes() == DATA
    assert len(server.gets[f"/mirror/{entry.file}"]) == 1
    assert not _gets(server, entry)


def test_every_table_entry_resolves_through_a_mirror(cache, tmp_path, monkeypatch):
    folder = tmp_path / "mirror"
    folder.mkdir()
    for entry in table.TABLE:
        data = entry.tag.encode() * 3
        (folder / entry.file).write_bytes(data)
        monkeypatch.setitem(
            table._BY_TAG,
            entry.tag,
            table.Weight(**{**entry.__dict__, "sha256": hashlib.sha256(data).hexdigest()}),
        )
    monkeypatch.setenv("VIDEOZOO_MIRROR", str(folder))
    monkeypatch.setenv("VIDEOZOO_TIMEOUT", "0.01")  # a network attempt would fail the test
    for entry in table.TABLE:
        assert hub.fetch_file(entry.tag).read_bytes() == entry.tag.encode() * 3


def _fetch_in_process(home, url_tag_data, results):
    os.environ["VIDEOZOO_HOME"] = home
    tag, patched = url_tag_data
    table._BY_TAG[tag] = patched
    results.put(hashlib.sha256(hub.fetch_file(tag).read_bytes()).hexdigest())


def test_two_processes_download_once(cache, server, monkeypatch):
    entry = serve_entry(monkeypatch, server, MM_TAG, DATA, sha256=SHA)
    server.chunk, server.delay_s = 1 << 14, 0.01  # ~0.2 s per download: they overlap
    context = multiprocessing.get_context("fork")  # separate processes, fast to start
    results = context.Queue()
    procs = [
        context.Process(
            target=_fetch_in_process, args=(os.environ["VIDEOZOO_HOME"], (MM_TAG, entry), results)
        )
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [results.get(timeout=5) for _ in procs] == [SHA, SHA]
    assert len(_gets(server, entry)) == 1


def test_unknown_tag_suggests_a_close_one():
    with pytest.raises(DownloadError, match="did you mean 'tsm_r50_1x1x8_k400.mmaction2'"):
        hub.fetch_file("tsm_r50_1x1x8_k40.mmaction2")


def test_cli_download_to_a_folder_then_offline_use_as_mirror(cache, server, tmp_path, monkeypatch, capsys):
    from videozoo.cli import main

    entry = serve_entry(monkeypatch, server, UNVERIFIED_TAG, DATA)
    out = tmp_path / "carry"
    assert main(["download", UNVERIFIED_TAG, "--to", str(out), "--sha256", SHA]) == 0
    assert (out / entry.file).read_bytes() == DATA and str(out) in capsys.readouterr().out
    monkeypatch.setenv("VIDEOZOO_MIRROR", str(out))  # the air-gapped side
    server.faults[f"/zoo/{entry.file}"] = ["404"] * 5
    assert hub.fetch_file(UNVERIFIED_TAG).read_bytes() == DATA
    assert (
        main(["download", UNVERIFIED_TAG, "--sha256", "0" * 64, "--to", str(tmp_path / "other")]) == 2
    )  # a wrong pin: refused, one line
    assert "does not match its checksum" in capsys.readouterr().err


def test_offline_mode_still_reads_a_mirror_folder(cache, server, tmp_path, monkeypatch):
    entry = serve_entry(monkeypatch, server, MM_TAG, DATA, sha256=SHA)
    folder = tmp_path / "usb"
    folder.mkdir()
    (folder / entry.file).write_bytes(DATA)
    monkeypatch.setenv("VIDEOZOO_OFFLINE", "1")
    monkeypatch.setenv("VIDEOZOO_MIRROR", str(folder))
    assert hub.fetch_file(MM_TAG).read_bytes() == DATA
    assert not _gets(server, entry)


def test_an_html_page_served_as_the_file_is_refused(cache, server, monkeypatch):
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    serve_entry(monkeypatch, server, MM_TAG, page, sha256=hashlib.sha256(page).hexdigest())
    with pytest.raises(DownloadError, match="HTML page"):
        hub.fetch_file(MM_TAG)
