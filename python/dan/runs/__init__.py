"""What a run leaves on disk: the run folder and its lock (``folder``), checkpoints (``checkpoint``),
files written atomically (``atomic``), the epoch log (``log``), tables and figures
(``output_files``), and several seeds or settings run one after the other (``grid``)."""
