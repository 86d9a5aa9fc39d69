"""The intake format upstream systems send acts in, and its validation."""
