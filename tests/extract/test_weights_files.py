"""The YouTube-8M extractor's files come by path, by weights-table tag, or from the cache."""

from videozoo.extract.weights_files import TAGS, resolve_file
from videozoo.zoo import hub, table


def test_every_option_tag_is_in_the_weights_table():
    for tags in TAGS.values():
        assert set(tags) <= set(table.tags())


def test_a_tag_is_fetched_through_the_mirror_and_then_found_in_the_cache(tmp_path, monkeypatch):
    mirror, home = tmp_path / "mirror", tmp_path / "home"
    mirror.mkdir()
    published = table.get("yt8m_pca.google").file
    (mirror / published).write_bytes(b"not really a tgz, but a file of that name")
    monkeypatch.setenv("VIDEOZOO_HOME", str(home))
    monkeypatch.setenv("VIDEOZOO_MIRROR", str(mirror))
    assert resolve_file("pca", None) is None  # nothing cached yet, nothing downloaded
    fetched = resolve_file("pca", "yt8m_pca.google")
    assert fetched == hub.cached_file("yt8m_pca.google")
    assert fetched.read_bytes() == (mirror / published).read_bytes()
    assert resolve_file("pca", None) == fetched  # later runs find it without the tag


def test_a_path_is_taken_as_given(tmp_path):
    assert resolve_file("inception", str(tmp_path / "x.pb")) == tmp_path / "x.pb"
