"""Turn your own videos into YouTube-8M-format frame-level TFRecords (``videozoo extract``).

**These features are NOT interchangeable with the official YouTube-8M features.** Google used
Inception-v3 and its own PCA; this extractor uses a ResNet trunk and a PCA fitted on your
videos. A model trained on the official shards gives meaningless scores on these features:
train (or fine-tune) and predict on features from the same extractor, same weights and same
``pca.npz``. Likewise, NeXtVLAD's ``pca_scale_rgb`` undoes Google's whitening with Google's
eigenvalues; set ``model.pca_scale_rgb=false`` for features made here.

One video becomes one record of T "frames" (one per second, at most ``max_seconds``):

* ``frames.py``: uint8 RGB ``[T, S, S, 3]`` (one centre-cropped frame per second) -> ResNet
  trunk -> float32 ``[T, D]`` (D = 2048 for depth 50, 512 for 18/34);
* ``pca.py``: ``[T, D]`` -> whitened PCA ``[T, K]`` (fitted on your videos, ``pca.npz``);
* ``records.py``: ``[T, K]`` -> zero-padded to ``[T, 1024]`` -> quantised uint8, as YouTube-8M;
* ``audio.py``: the first audio stream -> 128 log-mel bands per second -> uint8 ``[T, 128]``
  (``has_audio = 0`` and a constant when there is none);
* ``inputs.py``: which files are videos, their ids, the labels CSV;
* ``run.py``: ``run_extract``, which runs the above over every video and writes shards
  (``videozoo.data.tfrecord.ShardedTFRecordWriter``) of records encoded by
  ``videozoo.data.youtube8m_records.encode_frame_example``, plus ``manifest.csv``.

The details of each step are in its module's docstring.
"""
from videozoo.extract.audio import log_mel_per_second, mel_filterbank
from videozoo.extract.frames import FrameFeatureExtractor
from videozoo.extract.inputs import find_videos, read_labels_csv
from videozoo.extract.pca import PCA, CovarianceAccumulator
from videozoo.extract.records import quantize_features
from videozoo.extract.run import run_extract

__all__ = ["run_extract", "find_videos", "read_labels_csv", "FrameFeatureExtractor", "PCA",
           "CovarianceAccumulator", "log_mel_per_second", "mel_filterbank", "quantize_features"]
