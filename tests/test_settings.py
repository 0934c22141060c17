"""Settings are data: every setting is documented in the README, and the environment wins."""

from referrals.config import ROOT, SETTINGS, Settings


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]
    assert missing == []


def test_environment_overrides_the_default():
    settings = Settings.from_env({"DATABASE_URL": "sqlite:////tmp/x.db", "AREA_MEDIAN_INCOME": "120000"})
    assert settings.database_url == "sqlite:////tmp/x.db"
    assert settings.area_median_income == 120000
    assert settings["CITY_NAME"] == "City of Riverbend"
