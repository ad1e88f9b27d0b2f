"""videozoo: video classification on YouTube-8M features and Kinetics videos."""

__version__ = "0.1.0"
