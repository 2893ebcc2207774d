"""One typed, frozen settings tree: defaults in code, optional YAML file, XSELL_* env vars, CLI options.

`Settings` is the tree (one instance per process, passed down explicitly) and `load_settings` builds it. Its
sections are defined beside the layer they configure:

- `generator`: the synthetic export (`synth/`);
- `ingest`: ingestion and the point-in-time features (`ingest/`, `features/`);
- `modelling`: training and the model registry (`training/`, `registry/`);
- `serving`: batch scoring, tiers, adoption path, shadow (`serving/`);
- `monitoring`: drift, realised performance, decision policy (`monitoring/`);
- `delivery`: the scoring API, compute backend, schedules, home lock, team services (`deploy/`, `flows/`);
- `root`: the tree and the state locations under home; `yaml_source` and `loading`: where values come from.
"""

from __future__ import annotations

from xsell.settings.base import CONFIG_ENV, ENV_PREFIX, SettingsError
from xsell.settings.delivery import ApiSettings, ComputeSettings, RuntimeSettings, ScheduleSettings, ServicesSettings
from xsell.settings.generator import DefectRates, FeatureSpec, GeneratorSettings, ProductSpec
from xsell.settings.ingest import FeatureSettings, IngestSettings, QualityGate
from xsell.settings.loading import NON_SETTING_ENV, check_environment, load_settings
from xsell.settings.modelling import AccessSettings, GateSettings, RegistrySettings, TrainingSettings
from xsell.settings.monitoring import (
    CategoricalDistance,
    DistanceMethod,
    DriftSettings,
    MonitoringSettings,
    PolicySettings,
)
from xsell.settings.root import REPORT_WRITERS, STATE_FOLDERS, Settings
from xsell.settings.serving import AdoptionSettings, ServingSettings, ShadowSettings, TierGates, TierSettings

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "NON_SETTING_ENV",
    "REPORT_WRITERS",
    "STATE_FOLDERS",
    "AccessSettings",
    "AdoptionSettings",
    "ApiSettings",
    "CategoricalDistance",
    "ComputeSettings",
    "DefectRates",
    "DistanceMethod",
    "DriftSettings",
    "FeatureSettings",
    "FeatureSpec",
    "GateSettings",
    "GeneratorSettings",
    "IngestSettings",
    "MonitoringSettings",
    "PolicySettings",
    "ProductSpec",
    "QualityGate",
    "RegistrySettings",
    "RuntimeSettings",
    "ScheduleSettings",
    "ServicesSettings",
    "ServingSettings",
    "Settings",
    "SettingsError",
    "ShadowSettings",
    "TierGates",
    "TierSettings",
    "TrainingSettings",
    "check_environment",
    "load_settings",
]
