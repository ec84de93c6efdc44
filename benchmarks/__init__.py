"""midimon's benchmarks: figures measured next to their floors in the same run."""
