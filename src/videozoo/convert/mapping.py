"""How published tensors become a videozoo state_dict, with a record of every tensor.

A converter for one (source format, model) pair is a ``Mapping`` registered with
``register_mapping``: the config overrides that make our model compute what the source
computes (architecture options, preprocessing), the source tensor names that identify the
model in that format (``signature``, used to say "this file looks like X"), and a function
``convert(mapper, cfg)`` that fills the target state_dict through a ``TensorMapper``:

    def convert(m: TensorMapper, cfg: dict) -> None:
        m.copy("conv1_weights", "backbone.conv1.weight")
        m.put("classifier.weight", m.get("fc_0.w_0").T, src="fc_0.w_0", how="transposed")
        m.ignore_rest_matching(r"^batch_norm_\\d+\\.w_[12]$", "...")

``TensorMapper.finish()`` fails with one line when a model tensor was never filled (naming
it) and records every source tensor as mapped, transformed or ignored; source tensors left
over that are not optimizer state make the conversion fail too (the file is another variant).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from videozoo.errors import ConvertError
from videozoo.registry import import_submodules


@dataclass
class TensorRecord:
    action: str  # mapped | transformed | ignored
    source: str  # source tensor name(s)
    target: str = ""  # model tensor name ("" for ignored)
    shape: tuple = ()
    how: str = ""  # what was done (transposed, gate-reordered, dropout-folded x0.5, ...)


@dataclass
class ConversionReport:
    records: list[TensorRecord] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(r.action == action for r in self.records)

    def lines(self) -> list[str]:
        out = []
        for r in self.records:
            shape = "x".join(map(str, r.shape)) if r.shape else "-"
            if r.action == "ignored":
                out.append(f"  ignored      {r.source} [{shape}]: {r.how}")
            else:
                how = f" ({r.how})" if r.how else ""
                out.append(f"  {r.action:<12} {r.source} -> {r.target} [{shape}]{how}")
        return out

    def summary(self) -> str:
        return (
            f"{self.count('mapped')} mapped, {self.count('transformed')} transformed, "
            f"{self.count('ignored')} ignored, 0 missing"
        )


class TensorMapper:
    """Fills a target state_dict from source arrays; checks shapes; records what it did.

    ``source``: name -> numpy array (the published file); ``target``: the model's
    state_dict (shapes and dtypes to fill). ``hints``: extra text for shape errors, e.g.
    ``{"classifier.weight": "--set model.num_classes=N"}`` (N filled in from the file).
    """

    def __init__(
        self,
        source: dict[str, np.ndarray],
        target: dict[str, torch.Tensor],
        label: str,
        ignored: dict[str, tuple] | None = None,
    ):
        self.source = source
        self.target = target
        self.label = label
        self.state: dict[str, torch.Tensor] = {}
        self.report = ConversionReport()
        self._used: set[str] = set()
        for name, shape in (ignored or {}).items():
            self.report.records.append(
                TensorRecord("ignored", name, shape=tuple(shape), how="optimizer state")
            )

    # -- reading the source
    def has(self, name: str) -> bool:
        return name in self.source

    def get(self, name: str) -> np.ndarray:
        if name not in self.source:
            raise ConvertError(
                f"{self.label}: tensor '{name}' is missing from the file; it is "
                "not a complete checkpoint of this model (or another variant: "
                "see --set)"
            )
        self._used.add(name)
        return self.source[name]

    def names(self, pattern: str) -> list[str]:
        """Source names matching the regular expression ``pattern``, sorted."""
        regex = re.compile(pattern)
        return sorted(n for n in self.source if regex.search(n))

    def matches(self, pattern: str) -> list[re.Match[str]]:
        """The ``re.search`` matches of ``pattern`` in the source names, in name order."""
        regex = re.compile(pattern)
        return [match for name in sorted(self.source) if (match := regex.search(name))]

    # -- filling the target
    def put(
        self, target: str, array: np.ndarray, *, src: str | list[str], how: str = "", hint: str = ""
    ) -> None:
        sources = [src] if isinstance(src, str) else list(src)
        for name in sources:
            self._used.add(name)
        if target not in self.target:
            raise ConvertError(
                f"{self.label}: the model has no tensor '{target}' (from "
                f"{', '.join(sources)}); the model options do not match the "
                "file (see --set)"
            )
        if target in self.state:
            raise ConvertError(f"{self.label}: '{target}' is filled twice (internal mapping error)")
        want = self.target[target]
        array = np.asarray(array)
        if tuple(array.shape) != tuple(want.shape):
            raise ConvertError(
                f"{self.label}: tensor '{sources[0]}' has shape {list(array.shape)} in the file, "
                f"the model's '{target}' is {list(want.shape)}"
                + (f"; likely fix: {hint}" if hint else self._default_hint(target, array.shape))
            )
        self.state[target] = torch.from_numpy(np.ascontiguousarray(array)).to(want.dtype)
        self.report.records.append(
            TensorRecord(
                "transformed" if how else "mapped", " + ".join(sources), target, tuple(array.shape), how
            )
        )

    def copy(self, src: str, target: str, *, hint: str = "") -> None:
        self.put(target, self.get(src), src=src, hint=hint)

    def ignore(self, names, why: str) -> None:
        for name in [names] if isinstance(names, str) else names:
            if name in self.source and name not in self._used:
                self._used.add(name)
                self.report.records.append(
                    TensorRecord("ignored", name, shape=tuple(self.source[name].shape), how=why)
                )

    def fill_unchanged(self, targets, how: str) -> None:
        """Keep the model's own value for ``targets`` that the source format does not store
        (e.g. BatchNorm ``num_batches_tracked``), recorded as transformed."""
        for target in targets:
            if target in self.target and target not in self.state:
                self.state[target] = self.target[target].clone()
                self.report.records.append(
                    TensorRecord("transformed", "(none)", target, tuple(self.target[target].shape), how)
                )

    @staticmethod
    def _default_hint(target: str, shape) -> str:
        if target.startswith("classifier"):
            count = shape[0]  # our layout: [num_classes, features] and [num_classes]
            return f"; likely fix: --set model.num_classes={count} (the file's class count)"
        return "; likely fix: a --set of the depth / sizes / frame count the file was trained with"

    def finish(self) -> tuple[dict[str, torch.Tensor], ConversionReport]:
        for name in self.target:
            if name.endswith("num_batches_tracked") and name not in self.state:
                self.fill_unchanged([name], "not stored by the source; kept at 0")
        missing = [n for n in self.target if n not in self.state]
        if missing:
            raise ConvertError(
                f"{self.label}: {len(missing)} model tensor(s) found no source "
                f"tensor, e.g. '{missing[0]}'; the file is incomplete or another "
                "variant (see --set)"
            )
        unused = [n for n in self.source if n not in self._used]
        if unused:
            raise ConvertError(
                f"{self.label}: {len(unused)} tensor(s) of the file are not used by "
                f"this model, e.g. '{unused[0]}' {list(self.source[unused[0]].shape)}"
                "; the file is another model or variant (see --set / --model)"
            )
        return self.state, self.report


@dataclass(frozen=True)
class Mapping:
    """A converter from one source format to one videozoo model (see the module docstring)."""

    source: str
    model: str
    signature: tuple[str, ...]  # source tensor names identifying the model
    convert: Callable[[TensorMapper, dict], None]
    config: dict = field(default_factory=dict)  # nested config overrides (model/data/...)
    classes: str = "kinetics400"  # "kinetics400" or "file" (--classes needed)
    description: str = ""
    absent: tuple[str, ...] = ()  # source names that rule the model out (regexes)
    ndim: dict = field(default_factory=dict)  # name regex -> the tensor's number of dims

    def matches(self, tensors) -> bool:
        """Whether the file (``{name: array}``, or just the names) is this model's."""
        names = set(tensors)
        shaped = isinstance(tensors, dict)
        return (
            all(any(re.fullmatch(sig, n) for n in names) for sig in self.signature)
            and not any(re.fullmatch(pattern, n) for pattern in self.absent for n in names)
            and not (
                shaped
                and any(
                    re.fullmatch(pattern, n) and tensors[n].ndim != dims
                    for pattern, dims in self.ndim.items()
                    for n in names
                )
            )
        )


_MAPPINGS: dict[tuple[str, str], Mapping] = {}


def register_mapping(mapping: Mapping) -> Mapping:
    key = (mapping.source, mapping.model)
    if key in _MAPPINGS:
        raise ValueError(f"mapping {key} registered twice")
    _MAPPINGS[key] = mapping
    return mapping


def mappings() -> dict[tuple[str, str], Mapping]:
    import_submodules("videozoo.convert")
    return dict(_MAPPINGS)
