"""The per-brand configuration model: normalised lists, bounded thresholds, unknown fields refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.accounts import AccountConfig


def test_lists_are_normalised_for_matching() -> None:
    config = AccountConfig(vips=["@Ana_Roasts", "ana_roasts", " "], topics=[" Coffee ", "coffee"])
    assert config.vips == ["ana_roasts"]
    assert config.topics == ["coffee"]


def test_defaults_cap_pushes_at_the_platforms_daily_follow_limit() -> None:
    assert AccountConfig().daily_push_budget == 400


@pytest.mark.parametrize("bad", [{"high_value_threshold": 101}, {"daily_push_budget": -1}, {"colour": "red"}])
def test_out_of_range_or_unknown_fields_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AccountConfig.model_validate(bad)
