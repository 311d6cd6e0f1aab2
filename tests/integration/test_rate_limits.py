"""Rate limiting per credential: the excess of one source answers 429, other sources go on."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.helpers import am_alert, am_body, client_for

pytestmark = pytest.mark.integration


def test_one_noisy_source_is_limited_without_starving_the_others(redis_url, tmp_path):
    config = tmp_path / "config"
    import shutil
    shutil.copytree(ROOT / "config", config)
    settings = yaml.safe_load((config / "alertgate.yaml").read_text())
    settings["rate_limits"] = {"bootstrap-source": {"rate": 5, "burst": 10}}   # the first source token
    (config / "alertgate.yaml").write_text(yaml.safe_dump(settings))
    tokens = "source:noisy,source:quiet"
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config), ALERTGATE_BOOTSTRAP_TOKENS=tokens) as client:
        url = "/api/v1/alerts/alertmanager"
        noisy = [client.post(url, json=am_body(am_alert(f"N{i}")), headers={"Authorization": "Bearer noisy"})
                 for i in range(100)]   # ten times the burst, at once
        codes = [r.status_code for r in noisy]
        assert codes.count(200) >= 10 and codes.count(429) >= 80
        limited = next(r for r in noisy if r.status_code == 429)
        assert int(limited.headers["retry-after"]) >= 1 and limited.json()["error"]
        quiet = [client.post(url, json=am_body(am_alert(f"Q{i}")), headers={"Authorization": "Bearer quiet"})
                 for i in range(20)]
        assert {r.status_code for r in quiet} == {200}
