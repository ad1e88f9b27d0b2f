"""A live test stream: MPEG-TS over TCP on 127.0.0.1 (FFmpeg's listen mode: waits for one
client), 64x48 at 25 fps, paced in real time. Usage: stream_sender.py PORT SECONDS."""

import sys
import time

import av
import numpy as np

port, seconds, fps = int(sys.argv[1]), float(sys.argv[2]), 25
with av.open(f"tcp://127.0.0.1:{port}?listen=1&listen_timeout=90000", "w", format="mpegts") as out:
    stream = out.add_stream(
        "libx264", rate=fps, options={"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
    )
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    start = time.monotonic()
    for i in range(int(seconds * fps)):
        image = np.full((48, 64, 3), (i // (2 * fps)) * 60 % 256, np.uint8)
        image[:, (i * 3) % 64] = 255
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            out.mux(packet)
        delay = start + (i + 1) / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    for packet in stream.encode():
        out.mux(packet)
