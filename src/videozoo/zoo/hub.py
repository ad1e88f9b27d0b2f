"""Downloading published files into the cache, verified, once, resumable, or never (offline).

``fetch_file(tag) -> Path`` returns the published file of a table entry (``table.py``) from
the cache, downloading it first when needed:

* cache: ``$VIDEOZOO_HOME/files/<published file name>`` (default ``~/.cache/videozoo``);
  a download goes to ``<name>.part`` and is renamed into place only once complete and
  verified, so the cache never holds half a file under the real name; a file lock
  (``<name>.lock``) makes concurrent processes (torchrun ranks) fetch it once;
* verification: the entry's sha256 or hub-style sha256 prefix; unverified entries record the
  sha256 of their first download in ``<name>.sha256`` and are held to it (writing that file
  first, e.g. ``videozoo download TAG --sha256 HEX``, pins one). A cached file that no longer
  verifies (truncated, damaged) is fetched again; a mismatching download is removed and
  refused;
* where from: ``VIDEOZOO_MIRROR`` (a folder holding the files under their published names, or
  a URL prefix) first, then the published URLs; ``VIDEOZOO_OFFLINE=1`` never touches the
  network and says which file to put where;
* HTTP: ``Range`` requests resume a partial download, transient failures (timeouts, resets,
  5xx, short reads) are retried with exponential backoff, permanent ones (404, an HTML page
  instead of the file, a redirect loop) move on to the next URL. Every failure ends as one
  ``DownloadError`` line naming the URL and the two options above.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from videozoo.errors import DownloadError
from videozoo.fileio import sha256_of
from videozoo.zoo import table
from videozoo.zoo.table import Weight

__all__ = [
    "home",
    "files_dir",
    "fetch_file",
    "cached_file",
    "is_cached",
    "pin_sha256",
    "RETRIES",
    "BACKOFF_S",
]

log = logging.getLogger("videozoo")

RETRIES = 4  # attempts per URL for transient failures
BACKOFF_S = 1.0  # first wait; doubles after each failed attempt
CHUNK = 1 << 20
USER_AGENT = "videozoo (https://github.com/videozoo)"


class _Transient(Exception):
    """A failure worth retrying (the partial file is kept for a Range resume)."""


class _Permanent(Exception):
    """A failure retrying the same URL cannot fix."""


# ----------------------------------------------------------------------------- places
def home() -> Path:
    """``$VIDEOZOO_HOME`` or ``~/.cache/videozoo``."""
    return Path(os.environ.get("VIDEOZOO_HOME") or Path.home() / ".cache" / "videozoo")


def files_dir() -> Path:
    return home() / "files"


def timeout_s() -> float:
    return float(os.environ.get("VIDEOZOO_TIMEOUT", "30"))


def _offline() -> bool:
    return os.environ.get("VIDEOZOO_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _entry(tag_or_entry: str | Weight) -> Weight:
    if isinstance(tag_or_entry, Weight):
        return tag_or_entry
    entry = table.get(tag_or_entry)
    if entry is None:
        import difflib

        close = difflib.get_close_matches(str(tag_or_entry), table.tags(), n=1)
        raise DownloadError(
            f"no published file has the tag '{tag_or_entry}'"
            + (f"; did you mean '{close[0]}'?" if close else "")
            + " (list them: videozoo models)"
        )
    return entry


# ----------------------------------------------------------------------------- checksums
def _record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _expected(entry: Weight, dest: Path) -> str | None:
    """The sha256 (or prefix) ``dest`` must have: the table's, else a recorded / pinned one."""
    if entry.checksum_prefix:
        return entry.checksum_prefix
    record = _record_path(dest)
    return record.read_text().strip().lower() if record.is_file() else None


def pin_sha256(tag: str, sha256: str, to: str | Path | None = None) -> Path:
    """Pin the sha256 an unverified entry's file must have (the file need not exist yet)."""
    entry = _entry(tag)
    sha256 = sha256.strip().lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise DownloadError(f"--sha256 {sha256}: not a sha256 (64 hex digits)")
    dest = Path(to or files_dir()) / entry.file
    dest.parent.mkdir(parents=True, exist_ok=True)
    from videozoo.fileio import atomic_write_text

    return atomic_write_text(_record_path(dest), sha256 + "\n")


def _verifies(entry: Weight, path: Path, dest: Path) -> tuple[bool, str]:
    """(ok, actual sha256) of ``path`` against what ``dest`` must hold."""
    if entry.size is not None and path.stat().st_size != entry.size:
        return False, f"{path.stat().st_size} bytes, expected {entry.size}"
    actual = sha256_of(path)
    expected = _expected(entry, dest)
    return (expected is None or actual.startswith(expected)), actual


# ----------------------------------------------------------------------------- cache
def cached_file(tag: str | Weight, to: str | Path | None = None) -> Path:
    return Path(to or files_dir()) / _entry(tag).file


def is_cached(tag: str | Weight) -> bool:
    return cached_file(tag).is_file()


def _lock(path: Path):
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path))


def _hint(entry: Weight, dest: Path) -> str:
    return (
        f"set VIDEOZOO_MIRROR to a folder or URL prefix holding {entry.file}, or download "
        f"it on a connected machine (`videozoo download {entry.tag}`) and put it in "
        f"{dest.parent} (VIDEOZOO_OFFLINE=1 then never touches the network)"
    )


def fetch_file(tag: str | Weight, to: str | Path | None = None, *, progress: bool = True) -> Path:
    """The verified published file of ``tag``, in the cache (or in ``to``)."""
    entry = _entry(tag)
    dest = Path(to or files_dir()) / entry.file
    with _lock(dest.with_name(dest.name + ".lock")):
        if dest.is_file():
            ok, actual = _verifies(entry, dest, dest)
            if ok:
                return dest
            log.warning("%s in the cache does not verify (%s): fetching it again", dest, actual[:16])
            dest.unlink()
        sources = _candidates(entry)
        if _offline():
            sources = [s for s in sources if "://" not in s]  # a mirror folder at most
            if not sources or not Path(sources[0]).is_file():
                raise DownloadError(
                    f"{entry.tag}: {entry.file} is not in {dest.parent} and "
                    f"VIDEOZOO_OFFLINE=1 forbids downloading it; copy the file "
                    f"(from {entry.urls[0]}) to {dest}, or set "
                    "VIDEOZOO_MIRROR to a folder holding it"
                )
        _download_any(entry, dest, sources, progress)
        return dest


def _candidates(entry: Weight) -> list[str]:
    """Where to look, in order: the mirror (a URL or a local folder), then the published URLs."""
    mirror = os.environ.get("VIDEOZOO_MIRROR", "").strip()
    urls = []
    if mirror:
        if "://" in mirror and not mirror.startswith("file://"):
            urls.append(mirror.rstrip("/") + "/" + entry.file)
        else:
            urls.append(str(Path(mirror.removeprefix("file://")).expanduser() / entry.file))
    return urls + list(entry.urls)


def _download_any(entry: Weight, dest: Path, sources: list[str], progress: bool) -> None:
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in sources:
        try:
            if "://" in url:
                _download_url(url, part, progress)
            else:
                _copy_local(url, part)
        except (_Permanent, _Transient) as err:
            failures.append((url, str(err)))
            log.warning("%s: %s", url, err)
            continue
        ok, actual = _verifies(entry, part, dest)
        if not ok:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{entry.file} from {url} does not match its checksum (sha256 "
                f"{actual[:16]}..., expected {_expected(entry, dest)}); the "
                "download was removed. " + _hint(entry, dest)
            )
        if _expected(entry, dest) is None:  # unverified: hold later downloads to this one
            from videozoo.fileio import atomic_write_text

            atomic_write_text(_record_path(dest), actual + "\n")
            log.info("%s: no published checksum; recorded sha256 %s", entry.file, actual)
        os.replace(part, dest)
        return
    url, reason = failures[-1] if failures else (entry.urls[0], "no URL")
    tried = "" if len(failures) < 2 else f" ({len(failures)} sources tried)"
    raise DownloadError(f"could not fetch {entry.file} from {url}: {reason}{tried}; " + _hint(entry, dest))


def _copy_local(path: str, part: Path) -> None:
    source = Path(path)
    if not source.is_file():
        raise _Permanent(f"not in the mirror folder ({source})")
    part.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, part)


# ----------------------------------------------------------------------------- HTTP
def _download_url(url: str, part: Path, progress: bool) -> None:
    wait = BACKOFF_S
    for attempt in range(1, RETRIES + 1):
        try:
            _request_once(url, part, progress)
            return
        except _Transient as err:
            if attempt == RETRIES:
                raise _Transient(f"{err} (after {RETRIES} attempts)") from None
            log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)", url, err, wait, attempt + 1, RETRIES)
            time.sleep(wait)
            wait *= 2


def _request_once(url: str, part: Path, progress: bool) -> None:
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s())
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to fetch: the part is whole
            return
        if 300 <= err.code < 400:
            raise _Permanent(f"redirect loop (HTTP {err.code})") from None
        if err.code in (408, 429) or err.code >= 500:
            raise _Transient(f"HTTP {err.code} {err.reason}") from None
        raise _Permanent(f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise _Transient(
            f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        ) from None
    with response:
        _receive(response, part, have, url, progress)


def _receive(response, part: Path, have: int, url: str, progress: bool) -> None:
    content_type = response.headers.get("Content-Type", "")
    if "text/html" in content_type.lower() and not url.lower().endswith((".html", ".htm")):
        raise _Permanent(
            "the server answered with an HTML page instead of the file (a login, error or moved-page notice)"
        )
    resumed = response.status == 206
    if not resumed:
        have = 0  # the server sends the whole file again
    length = response.headers.get("Content-Length")
    expected = have + int(length) if length and length.isdigit() else None
    part.parent.mkdir(parents=True, exist_ok=True)
    received = have
    bar = _progress_bar(part.name.removesuffix(".part"), expected, have, progress)
    try:
        with open(part, "ab" if resumed else "wb") as fh:
            while True:
                try:
                    block = response.read(CHUNK)
                except (TimeoutError, ConnectionError, HTTPException) as err:
                    raise _Transient(
                        f"connection lost after {received} bytes ({type(err).__name__})"
                    ) from None
                if not block:
                    break
                if received == 0 and _looks_like_html(block, url):
                    raise _Permanent("the server answered with an HTML page instead of the file")
                fh.write(block)
                received += len(block)
                if bar is not None:
                    bar.update(len(block))
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        if bar is not None:
            bar.close()
    if expected is not None and received < expected:
        raise _Transient(f"short read: {received} of {expected} bytes")


def _looks_like_html(head: bytes, url: str) -> bool:
    """An error / login page served as if it were the file (some CDNs answer 200)."""
    start = head[:256].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html")) and not url.lower().endswith((".html", ".htm"))


def _progress_bar(name: str, total: int | None, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=name[:40],
        leave=False,
        disable=None,
    )
