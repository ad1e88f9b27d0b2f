"""The installed videozoo version (a module of its own so low layers can name it without
importing the package's public API)."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("videozoo")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.2.0"
