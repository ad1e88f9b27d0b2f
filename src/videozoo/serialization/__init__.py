"""Serialization: the files videozoo writes and reads, and nothing that runs a model loop.

Modules, lower ones first (each imports only those above it in this list):

* ``plain``: the plain-data check and conversion (what ``torch.load(weights_only=True)`` reads)
* ``rng``: capturing and restoring the global random-number states as plain data
* ``format``: the checkpoint format (``FORMAT``, the keys, the dicts train and convert write)
* ``upgrade``: what changed since videozoo 0.1 (the in-memory and on-disk upgrade)
* ``bundle``: the bundle folder format and its reader (safetensors + config.json)
* ``checkpoint``: checkpoint files: save, copy, read (file or bundle folder), upgrade a file
* ``runs``: a run folder's step checkpoints: names, listing, pruning, the resume point
* ``loading``: a model from a checkpoint (inference) and fine-tuning weights into a model
* ``bundle_writer``: writing a bundle folder and its model card from a checkpoint
* ``graph_export``: ONNX / TorchScript graphs of a model, their parity check and input spec
"""
