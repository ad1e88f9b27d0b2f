"""The run loops: training (``train.py``), evaluation, prediction, embedding and the export
command, with what they share (tasks, optimizer, precision, distributed helpers, logs).

What they write and read (checkpoints, bundles, exported graphs) is ``videozoo.serialization``,
a layer below: nothing there imports the engine.
"""
