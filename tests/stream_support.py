"""Helpers for the timeline and serve tests: a tiny video model, videos whose content changes
over time, and a live MPEG-TS stream served on 127.0.0.1."""

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from support import kinetics_overrides

SENDER = Path(__file__).with_name("stream_sender.py")


def tiny_tsn_checkpoint(path, classes=("a", "b", "c", "d")) -> Path:
    """An untrained tiny TSN (depth 18, 32 px crops, 3 segments) saved as a checkpoint."""
    from videozoo.config import build_config
    from videozoo.registry import build_model
    from videozoo.serialization.checkpoint import save_checkpoint
    from videozoo.serialization.format import model_checkpoint

    cfg = build_config("tsn", overrides=kinetics_overrides("tsn"))
    torch.manual_seed(0)
    model = build_model(cfg)
    return save_checkpoint(model_checkpoint("tsn", model.state_dict(), cfg, list(classes)), path)


def level_frames(seconds: float, fps: int = 10, size=(48, 64), period: float = 5.0) -> np.ndarray:
    """uint8 [T, H, W, 3]: grey level (t // period) * 60 % 256 with a bar moving across."""
    count = int(round(seconds * fps))
    frames = np.empty((count, *size, 3), np.uint8)
    for i in range(count):
        frames[i] = int(i / fps // period) * 60 % 256
        frames[i, :, (i * 3) % size[1]] = 255
    return frames


def encode_levels(path, seconds: float, fps: int = 10, gop: int = 20, **kwargs) -> Path:
    from videozoo.data.synth_kinetics import encode_video

    return encode_video(path, level_frames(seconds, fps, **kwargs), fps=fps, gop=gop)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sender(port: int, seconds: float) -> subprocess.Popen:
    """A live MPEG-TS stream on tcp://127.0.0.1:port (FFmpeg listen mode), real-time paced."""
    return subprocess.Popen(
        [sys.executable, str(SENDER), str(port), str(seconds)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
