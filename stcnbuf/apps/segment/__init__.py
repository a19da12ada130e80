"""Segment real videos: video in, initial masks from a file, Mask R-CNN or clicks, RLE / PNG / overlay out."""
