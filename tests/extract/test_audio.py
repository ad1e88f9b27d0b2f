"""Audio: log-mel per second, and the has_audio flag."""

import numpy as np
from extract_support import TONES

from videozoo.data.youtube8m_records import AUDIO_SIZE
from videozoo.extract import log_mel_per_second, mel_filterbank, quantize_features
from videozoo.extract.audio import AUDIO_LOG_MEL_SCALE, LOG_MEL_OFFSET, audio_record_features


def test_mel_filterbank_has_no_empty_band():
    bank = mel_filterbank()
    assert bank.shape == (513, 128) and (bank.max(0) > 0).all()
    silence = log_mel_per_second(np.zeros(100, np.float32), 2)  # shorter than 2 s: padded
    assert silence.shape == (2, 128) and np.allclose(silence, np.log(0.01))


def test_a_rising_tone_moves_up_the_mel_bands(videos):
    audio, has_audio = audio_record_features(videos / "tone.mp4", len(TONES) + 2)
    assert has_audio and audio.shape == (len(TONES) + 2, AUDIO_SIZE) and audio.dtype == np.uint8
    tone = audio[: len(TONES)]
    assert len(np.unique(tone, axis=0)) == len(TONES)
    assert np.all(np.diff(tone.argmax(1).astype(int)) > 0)
    # Past the end of the sound track: silence.
    silence = quantize_features(np.float32(np.log(LOG_MEL_OFFSET) / AUDIO_LOG_MEL_SCALE))
    assert (audio[-1] == silence).all()


def test_a_video_without_audio_gets_the_flag_and_a_constant(videos):
    audio, has_audio = audio_record_features(videos / "silent.mp4", 3)
    assert not has_audio and audio.shape == (3, AUDIO_SIZE)
    assert (audio == quantize_features(np.float32(0.0))).all()
