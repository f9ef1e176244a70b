"""Data: sources (where images come from), splits (train/val/test) and on-device batching."""
