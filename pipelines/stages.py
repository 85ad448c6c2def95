"""The one ordered list of stages that curate, dedup, `--dry_run`, the settings checks and
the report read.

Adding a stage is its module (a `transforms.stage.Stage` beside a Beam-free
`DocumentStep`, see the README's "How to add a stage") and one line in `REGISTRY` below,
at the place in the pipeline where it should run. Document stages run in this order,
cheapest first; a stage's report section, if it has one, appears in the same order after
the run-level sections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from pipelines.report import Section
from pipelines.report.sections import languages, near_dedup, pii, source_mix, toxicity
from transforms.balance import BALANCE
from transforms.exact_dedup import EXACT_DEDUP
from transforms.near_dedup.transform import NEAR_DEDUP
from transforms.normalize import NORMALIZE
from transforms.pii.stage import PII
from transforms.quality.langid import LANGUAGE
from transforms.quality.stage import QUALITY
from transforms.readers import READ
from transforms.stage import DOCUMENTS, FILES, TOKENS, Stage
from transforms.toxicity.stage import TOXICITY


class Registered(NamedTuple):
    """A stage in the registry, with its section of report.html (None: none)."""

    stage: Stage
    report: Section | None = None


@dataclass(frozen=True)
class Registry:
    """Stages in pipeline order: first the FILES stage, then DOCUMENTS stages, then TOKENS
    stages (after tokenization)."""

    entries: tuple[Registered, ...]

    def __post_init__(self):
        names = [e.stage.name for e in self.entries]
        if len(set(names)) != len(names):
            raise ValueError(f"a stage name is registered twice: {names}")
        places = [_PLACES.index(e.stage.runs_on) for e in self.entries]
        if places != sorted(places):
            raise ValueError(f"stages must run on {' -> '.join(_PLACES)} in that order: {names}")

    @property
    def stages(self) -> tuple[Stage, ...]:
        return tuple(e.stage for e in self.entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.stage.name for e in self.entries)

    def running(self, place: str, configs: Mapping[str, Any]) -> tuple[Stage, ...]:
        """The stages that run on FILES, DOCUMENTS or TOKENS with these configs (`configs`
        as `Registry.configs` builds them; inactive stages left out), in order."""
        return tuple(s for s in self.stages if s.runs_on == place and s.active(configs.get(s.name)))

    def report_sections(self) -> tuple[Section, ...]:
        return tuple(e.report for e in self.entries if e.report is not None)

    def with_stage(self, stage: Stage, *, after: str, report: Section | None = None):
        """A registry with `stage` inserted after the stage named `after`."""
        at = self.names.index(after) + 1
        entry = Registered(stage, report)
        return Registry((*self.entries[:at], entry, *self.entries[at:]))

    def without(self, names: Iterable[str]) -> Registry:
        """The registry less the stages named (`--skip_stage`); names not in it are ignored.
        ValueError for the read stage, which every graph starts with."""
        names = set(names)
        if READ.name in names:
            raise ValueError(f"the {READ.name} stage cannot be skipped")
        return Registry(tuple(e for e in self.entries if e.stage.name not in names))

    def configs(
        self,
        stages: Mapping[str, Any] | None,
        code_sources: Iterable[str],
        used: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Stage name -> its frozen config, from the `stages:` mapping of a run, for every
        stage with settings (of `used` only, when given: a pipeline that runs some stages).
        Raises ValueError, before anything runs, for a stage name that is not registered or
        not used, and for a bad setting (naming the key)."""
        stages = dict(stages or {})
        used = self.names if used is None else tuple(used)
        with_settings = [s for s in self.stages if s.settings is not None and s.name in used]
        unknown = sorted(set(stages) - {s.name for s in with_settings})
        if unknown:
            raise ValueError(
                f"unknown stage(s) under stages: {', '.join(unknown)} (stages with settings"
                f"{' here' if len(used) < len(self.names) else ''}: "
                f"{', '.join(s.name for s in with_settings)})"
            )
        configs = {}
        for stage in with_settings:
            settings = dict(stages.get(stage.name) or {})
            if stage.code_aware:
                if "code_sources" in settings:
                    raise ValueError(
                        f"stages.{stage.name}.code_sources: set --code_sources instead"
                    )
                settings["code_sources"] = tuple(code_sources)
            configs[stage.name] = stage.settings(settings)
        return configs


_PLACES = (FILES, DOCUMENTS, TOKENS)

REGISTRY = Registry(
    (
        Registered(READ),
        Registered(NORMALIZE),
        Registered(LANGUAGE, report=languages.SECTION),
        Registered(QUALITY),
        Registered(EXACT_DEDUP),
        Registered(NEAR_DEDUP, report=near_dedup.SECTION),
        Registered(TOXICITY, report=toxicity.SECTION),
        Registered(PII, report=pii.SECTION),
        Registered(BALANCE, report=source_mix.SECTION),
    )
)
