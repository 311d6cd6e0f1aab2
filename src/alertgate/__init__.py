"""alertgate: monitoring alerts in, deduplicated incident tickets out."""

__version__ = "0.1.0"
