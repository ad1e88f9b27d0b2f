"""Make the pictures of docs/timelines_and_serving.md and README: a timeline plot and the
`videozoo serve` page, from a tiny TSM trained on synthetic motion clips (their classes are
directions of motion, which TSM's temporal shift sees and TSN cannot) and a "story" video
whose motion direction changes every few seconds.

    python tools/timeline_pictures.py [--work /tmp/timeline_pictures] [--out docs/img]

Needs the `serve` and `test` extras and Debian's chromium + chromium-driver.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

STORY = [0, 0, 2, 1, 1, 3, 0]  # class per 4-second stretch
FPS, SECONDS_EACH, SIZE = 8, 4, 96


def train_tiny_tsm(work: Path) -> Path:
    from support import kinetics_overrides

    import videozoo
    from videozoo.data.synth_kinetics import synth_kinetics

    data = work / "data"
    if not (data / "classes.txt").exists():
        synth_kinetics(data, videos=96, eval_videos=16, classes=4, size=48, frames=32, seed=0)
    run = work / "run"
    if not (run / "best.pt").exists():
        videozoo.train(
            "tsm",
            data=data,
            output=run,
            epochs=6,
            overwrite=True,
            set=kinetics_overrides("tsm", ["train.optimizer.lr=0.005", "data.flip=false"]),
        )
    return run / "best.pt"


def story_video(path: Path) -> Path:
    from videozoo.data.synth_kinetics import encode_video, motion_video

    rng = np.random.default_rng(3)
    parts = [motion_video(rng, 90 * label, SIZE, FPS * SECONDS_EACH) for label in STORY]
    return encode_video(path, np.concatenate(parts), fps=FPS)


def screenshot_page(ckpt: Path, video: Path, png: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from stream_support import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "videozoo", "serve", str(ckpt), "--port", str(port)])
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        options = webdriver.ChromeOptions()
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--window-size=820,900",
        ):
            options.add_argument(flag)
        browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            browser.get(f"http://127.0.0.1:{port}/")
            browser.find_element(By.ID, "window").send_keys("2")
            browser.find_element(By.ID, "file").send_keys(str(video))
            WebDriverWait(browser, 120).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#timeline .band"))
            browser.execute_script(
                "const p = document.getElementById('player'); p.pause(); p.currentTime = 14;"
            )
            time.sleep(1)
            browser.save_screenshot(str(png))
        finally:
            browser.quit()
    finally:
        server.terminate()
        server.wait(timeout=60)


def shrink_png(path: Path, colours: int = 64) -> None:
    from PIL import Image

    Image.open(path).convert("RGB").quantize(colours).save(path, optimize=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/timeline_pictures")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args()
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = train_tiny_tsm(work)
    video = story_video(work / "story.mp4")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "videozoo",
            "predict",
            "tsm",
            "--weights",
            str(ckpt),
            str(video),
            "--timeline",
            "--window",
            "2",
            "--stride",
            "1",
            "--smooth",
            "3",
            "--output",
            str(work / "story.jsonl"),
            "--plot",
            str(out / "timeline_plot.png"),
        ],
        check=True,
    )
    shrink_png(out / "timeline_plot.png")
    screenshot_page(ckpt, video, out / "serve_page.png")
    shrink_png(out / "serve_page.png")
    for name in ("timeline_plot.png", "serve_page.png"):
        print(f"{out / name}: {(out / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
