"""Turn your own videos into YouTube-8M-format frame-level TFRecords (``videozoo extract``).

Two feature modes (``run_extract(features=...)``):

* ``youtube8m``: Google's own features, what every published YouTube-8M model was trained on
  (Inception-v3 of the 2015 graph, Google's PCA and quantisation, VGGish or zero audio; the
  starter extractor's frames): ``yt8m_rgb.py``, ``inception.py``, ``graphdef.py``,
  ``vggish.py``, ``yt8m_run.py``; ``on_the_fly.py`` does it for ``predict`` on video files;
  ``weights_files.py`` says where the published files are found.
* ``resnet50`` (below): an ImageNet ResNet trunk and a PCA fitted on your videos. **These
  features are NOT interchangeable with the official ones**: a model trained on the official
  shards gives meaningless scores on them (``predict``/``eval`` warn); train and predict on
  features from the same extractor, same weights and same ``pca.npz``. NeXtVLAD's
  ``pca_scale_rgb`` undoes Google's whitening with Google's eigenvalues; set
  ``model.pca_scale_rgb=false`` for these.

Records of both modes name their extractor, weights and PCA in their context
(``feature_extractor``, ``rgb_weights``, ``rgb_pca``, ``audio_extractor``).

In resnet50 mode one video becomes one record of T "frames" (one per second, at most
``max_seconds``):

* ``frames.py``: uint8 RGB ``[T, S, S, 3]`` (one centre-cropped frame per second) -> ResNet
  trunk -> float32 ``[T, D]`` (D = 2048 for depth 50, 512 for 18/34);
* ``pca.py``: ``[T, D]`` -> whitened PCA ``[T, K]`` (fitted on your videos, ``pca.npz``);
* ``records.py``: ``[T, K]`` -> zero-padded to ``[T, 1024]`` -> quantised uint8, as YouTube-8M;
* ``audio.py``: the first audio stream -> 128 log-mel bands per second -> uint8 ``[T, 128]``
  (``has_audio = 0`` and a constant when there is none);
* ``inputs.py``: which files are videos, their ids, the labels CSV;
* ``run.py``: ``run_extract``, which runs the above over every video;
* ``outputs.py`` (both modes): records encoded by
  ``videozoo.data.youtube8m_records.encode_frame_example`` into shards
  (``videozoo.data.tfrecord.ShardedTFRecordWriter``), plus ``manifest.csv``.

The details of each step are in its module's docstring.
"""

from videozoo.extract.audio import log_mel_per_second, mel_filterbank
from videozoo.extract.frames import FrameFeatureExtractor
from videozoo.extract.inputs import find_videos, read_labels_csv
from videozoo.extract.pca import PCA, CovarianceAccumulator
from videozoo.extract.records import quantize_features
from videozoo.extract.run import run_extract

__all__ = [
    "run_extract",
    "find_videos",
    "read_labels_csv",
    "FrameFeatureExtractor",
    "PCA",
    "CovarianceAccumulator",
    "log_mel_per_second",
    "mel_filterbank",
    "quantize_features",
]
