"""One error family: every layer's error for a user to act on is an XsellError, keeping its other base and exit code."""

from __future__ import annotations

import pytest

from deploy.team.processes import ServiceError
from features.errors import FeatureError
from flows.compute import ComputeError
from flows.console import OptionError
from ingest.errors import ContractError, QualityGateError
from monitoring.errors import MonitoringError
from registry.access import AccessDenied
from registry.errors import RegistryError
from serving.adoption import AdoptionError
from serving.scoring import ScoringError
from serving.tiers import TierError
from synth.errors import GeneratorError
from training.errors import TrainingError
from xsell.errors import XsellError
from xsell.fileio import UnsafeOutputError
from xsell.homelock import HomeBusyError
from xsell.settings import SettingsError

FAMILY: list[tuple[type[XsellError], type[Exception], int]] = [
    (ContractError, ValueError, 2),
    (QualityGateError, RuntimeError, 2),
    (FeatureError, ValueError, 2),
    (TrainingError, ValueError, 2),
    (RegistryError, ValueError, 2),
    (AccessDenied, ValueError, 2),
    (MonitoringError, ValueError, 2),
    (ScoringError, ValueError, 2),
    (TierError, ValueError, 2),
    (AdoptionError, ValueError, 2),
    (GeneratorError, ValueError, 2),
    (ServiceError, RuntimeError, 2),
    (SettingsError, ValueError, 2),
    (UnsafeOutputError, ValueError, 2),
    (OptionError, ValueError, 2),
    (ComputeError, RuntimeError, 1),
    (HomeBusyError, RuntimeError, 1),
]


@pytest.mark.parametrize(("kind", "base", "code"), FAMILY, ids=[k.__name__ for k, _, _ in FAMILY])
def test_each_layer_error_is_one_of_the_family(kind: type[XsellError], base: type[Exception], code: int) -> None:
    # given a layer's error, then it is an XsellError, still its former base, with the CLI's exit code
    assert issubclass(kind, XsellError) and issubclass(kind, base)
    assert kind.exit_code == code


def test_the_family_keeps_each_message() -> None:
    # given errors raised as the layers raise them, then their text is exactly the message given
    assert str(FeatureError("--as-of: expected a date")) == "--as-of: expected a date"
    assert str(ContractError("crm/accounts/a.csv", "not a table")) == "crm/accounts/a.csv: not a table"
    with pytest.raises(XsellError, match="data-quality gate failed: too few rows"):
        raise QualityGateError(["too few rows"])


def test_a_plain_exception_is_not_of_the_family() -> None:
    assert not issubclass(ValueError, XsellError) and not issubclass(RuntimeError, XsellError)
