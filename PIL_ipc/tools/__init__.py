"""What is built on the codec: the ``ipc`` command line, batch conversion, comparison with
other codecs (peers, transcoding, the comparison sheet), progress and atomic file writes."""
