# Executes a notebook with nbclient in the lmprobe kernel and writes it back with each code cell's wall time in
# seconds under metadata.lmprobe_seconds (tslab's messages carry no dates, so nbclient's own timing stays empty).
# usage: /usr/bin/python3 timed-execute.py <in.ipynb> <out.ipynb>
import sys
import time

import nbformat
from nbclient import NotebookClient

source, target = sys.argv[1], sys.argv[2]
nb = nbformat.read(source, as_version=4)
started = {}


def on_start(cell, cell_index, **_):
    started[cell_index] = time.monotonic()


def on_done(cell, cell_index, **_):
    cell.metadata["lmprobe_seconds"] = time.monotonic() - started[cell_index]


client = NotebookClient(
    nb, kernel_name="lmprobe", timeout=240, resources={"metadata": {"path": sys.argv[3] if len(sys.argv) > 3 else "."}},
    on_cell_execute=on_start, on_cell_executed=on_done,
)
client.execute()
nbformat.write(nb, target)
