"""Cross-camera search benchmark (see README.md)."""
