"""Data: datasets on disk (DAVIS layout) and the embedded synthetic default dataset."""
